"""Rendering reports: a text table or CSV for people (yuan, two decimals), JSON for programs
(fen, integers; rates as strings)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from ledger.money import yuan_text
from projections.reports import Column, Report, Section


def _cell(column: Column, value: Any, for_csv: bool) -> str:
    if value is None:
        return ""
    if column.kind == "fen":
        text = yuan_text(int(value))
        return text.replace(",", "") if for_csv else text
    return str(value)


def _total_row(section: Section) -> dict[str, Any] | None:
    if not section.total_keys or not section.rows:
        return None
    total: dict[str, Any] = {column.key: None for column in section.columns}
    total[section.columns[0].key] = "Total"
    for key in section.total_keys:
        total[key] = sum(int(row.get(key) or 0) for row in section.rows)
    return total


def as_table(report: Report, heading: str = "") -> str:
    out = [f"{report.title}{heading}"]
    for section in report.sections:
        rows = list(section.rows)
        total = _total_row(section)
        cells = [[_cell(c, row.get(c.key), False) for c in section.columns] for row in rows]
        if total is not None:
            cells.append([_cell(c, total.get(c.key), False) for c in section.columns])
        widths = [max([len(c.title), *(len(r[i]) for r in cells)]) for i, c in enumerate(section.columns)]
        right = [c.kind in ("fen", "int", "rate") for c in section.columns]

        def line(values: list[str], widths: list[int] = widths, right: list[bool] = right) -> str:
            return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)).rstrip()

        out.append("")
        if len(report.sections) > 1:
            out.append(section.title)
        out.append(line([c.title for c in section.columns]))
        out.append(line(["-" * w for w in widths]))
        for index, row_cells in enumerate(cells):
            if total is not None and index == len(cells) - 1:
                out.append(line(["-" * w for w in widths]))
            out.append(line(row_cells))
        if not rows:
            out.append("(no rows)")
    out.append("Amounts in yuan (元).")
    return "\n".join(out) + "\n"


def as_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for index, section in enumerate(report.sections):
        if len(report.sections) > 1:
            if index:
                writer.writerow([])
            writer.writerow([f"# {section.title}"])
        writer.writerow([c.title for c in section.columns])
        for row in section.rows:
            writer.writerow([_cell(c, row.get(c.key), True) for c in section.columns])
    return buffer.getvalue()


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def as_json(report: Report, meta: dict[str, Any]) -> str:
    document = {
        "report": report.name, "title": report.title, **meta, "units": "fen",
        "sections": {
            section.name: [{key: _json_value(value) for key, value in row.items()} for row in section.rows]
            for section in report.sections
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
