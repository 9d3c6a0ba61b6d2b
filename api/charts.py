"""Charts drawn on the server as SVG: no script, no font or library fetched from anywhere, so
the page works with no internet. Values are Decimals; an absent value draws no bar."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, BAR_HEIGHT, GAP, LABEL_WIDTH, VALUE_WIDTH, LABEL_CHARS = 820, 18, 6, 360, 90, 48
COLOURS = ("#2a6fb0", "#d9822b", "#3a9a5b", "#8e5ab5")


def horizontal_bars(title: str, bars: Sequence[tuple[str, Decimal | None]], unit: str, reference: Decimal | None = None,
                    reference_label: str = "") -> Markup:
    """One bar per label (e.g. execution rate by budget item), with an optional reference line (100%)."""
    values = [value for _, value in bars if value is not None]
    top = max([*values, reference or Decimal(0), Decimal(1)])
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = 30 + len(bars) * (BAR_HEIGHT + GAP) + 20
    parts = [_open(title, height), f'<text x="4" y="16" class="chart-title">{escape(title)}</text>']
    for index, (label, value) in enumerate(bars):
        y = 30 + index * (BAR_HEIGHT + GAP)
        shown = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end">{escape(shown)}</text>')
        if value is not None:
            length = max(0, int(plot * max(value, Decimal(0)) / top))
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{BAR_HEIGHT}" fill="{COLOURS[0]}">'
                         f'<title>{escape(label)}: {value} {escape(unit)}</title></rect>')
            parts.append(f'<text x="{LABEL_WIDTH + length + 4}" y="{y + 13}">{value}{escape(unit)}</text>')
    if reference is not None:
        x = LABEL_WIDTH + int(plot * reference / top)
        parts.append(f'<line x1="{x}" y1="24" x2="{x}" y2="{height - 16}" stroke="#b00" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x}" y="{height - 4}" text-anchor="middle" fill="#b00">{escape(reference_label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_columns(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal | None]]], unit: str) -> Markup:
    """Columns per label (e.g. per month), one colour per series (e.g. per fund), with a legend."""
    height, bottom, left = 300, 250, 60
    values = [value for _, row in series for value in row if value is not None]
    top = max([*values, Decimal(1)])
    slot = (WIDTH - left - 10) / max(1, len(labels))
    column = max(2.0, (slot - 6) / max(1, len(series)))
    parts = [_open(title, height), f'<text x="4" y="16" class="chart-title">{escape(title)}</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 10}" y2="{bottom}" stroke="#444"/>',
             f'<text x="{left - 4}" y="34" text-anchor="end">{top.quantize(Decimal("0.1"))}</text>',
             f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>']
    for index, label in enumerate(labels):
        x = left + index * slot
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(label)}</text>')
        for number, (name, row) in enumerate(series):
            value = row[index] if index < len(row) else None
            if value is None:
                continue
            length = int((bottom - 30) * max(value, Decimal(0)) / top)
            parts.append(f'<rect x="{x + 3 + number * column:.1f}" y="{bottom - length}" width="{column:.1f}" height="{length}" '
                         f'fill="{COLOURS[number % len(COLOURS)]}"><title>{escape(name)} {escape(label)}: {value} {escape(unit)}</title></rect>')
    for number, (name, _) in enumerate(series):
        x = left + number * 230
        parts.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{COLOURS[number % len(COLOURS)]}"/>'
                     f'<text x="{x + 16}" y="{height - 12}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(title: str, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(title)}" '
            f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">')
