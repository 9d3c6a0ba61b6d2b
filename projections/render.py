"""Rendering reports: a text table or CSV for people (yuan, two decimals), an Excel workbook
(yuan as numbers with a number format), JSON for programs (fen, integers; rates as strings).

- Text tables are padded by *display* width (``wcwidth``): a Chinese character takes two
  terminal cells, so ``str.ljust`` alone pushes every column after a Chinese cell out of line.
- CSV starts with a UTF-8 byte order mark: without it Excel reads the file as the local ANSI
  code page and garbles every Chinese header and name.
- The workbook's header row is in Chinese and English (``column_title_zh``), amounts are yuan
  with the format ``#,##0.00`` (exact decimals, never floats), rates ``0.00``.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from wcwidth import wcswidth

from ledger.money import FEN_PER_YUAN, yuan_text
from projections.reports import Column, Report, Section

CSV_BOM = "\ufeff"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

# Chinese column titles, by column key (the English title is the column's own).
COLUMN_TITLES_ZH = {
    "region": "统筹地区", "fund": "基金代码", "fund_name": "基金", "account": "科目", "description": "说明",
    "credit_fen": "贷方", "debit_fen": "借方", "balance_fen": "余额", "person_id": "个人编号",
    "carried_over_fen": "历年结转", "current_year_fen": "当年", "current_year": "当年年度",
    "credited_employee_share_fen": "个人缴费划入", "credited_employer_share_fen": "单位缴费划入",
    "credited_retiree_credit_fen": "退休人员划入", "credited_interest_fen": "利息", "credited_transfer_in_fen": "转入",
    "credited_other_fen": "其他划入", "last_movement_on": "最近发生日", "business_date": "业务日期",
    "recorded_at": "记账时间", "reference": "凭证号", "movement": "摘要", "event_type": "事件类型", "items": "项目",
    "position": "日志位置", "period": "期间", "item": "项目代码", "item_name": "项目", "amount_fen": "金额",
    "reversed_fen": "冲减", "net_fen": "净额", "in_fen": "划入", "out_fen": "划出", "year": "年度", "line": "收支",
    "approved_fen": "年初预算", "adjusted_fen": "调整预算", "budget_fen": "执行预算", "actual_fen": "实际执行数",
    "variance_fen": "差异", "execution_rate_pct": "执行率%", "opening_fen": "年初结余", "income_fen": "本年收入",
    "expenditure_fen": "本年支出", "transfer_in_fen": "转入", "transfer_out_fen": "转出", "closing_fen": "年末滚存结余",
    "months_of_payment_capacity": "可支付月数", "check": "校验", "other_region": "对方地区",
    "net_receivable_fen": "净应收(+)/应付(-)",
}


def column_title_zh(column: Column) -> str:
    """The column's Chinese title (its English one where none is known)."""
    return COLUMN_TITLES_ZH.get(column.key, column.title)


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes (wide East Asian characters count two)."""
    width = wcswidth(text)
    return width if width >= 0 else len(text)


def pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


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
        widths = [max([display_width(c.title), *(display_width(r[i]) for r in cells)]) for i, c in enumerate(section.columns)]
        right = [c.kind in ("fen", "int", "rate") for c in section.columns]

        def line(values: list[str], widths: list[int] = widths, right: list[bool] = right) -> str:
            return "  ".join(pad(v, w, r) for v, w, r in zip(values, widths, right, strict=True)).rstrip()

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


def partial_notes(report: Report, page: dict[str, Any] | None, next_page: str | None) -> dict[str, str]:
    """For a download that holds a page of a report with a row per person (``page``, as
    ``reports.page_of`` gives it), what each section cut short says in the file itself: which
    rows it holds of how many, and where the next page is (``next_page``: the API's address, the
    command line's ``--offset N``). Sections with every row, and a report that is not a page,
    have none: a finance officer opening the file in a spreadsheet sees it is part of the report."""
    if page is None:
        return {}
    notes = {}
    for section in report.sections:
        total = section.total_rows
        if total is None or (page["offset"] == 0 and len(section.rows) >= total):
            continue
        first, last = page["offset"] + 1, page["offset"] + len(section.rows)
        held = f"rows {first}-{last} of {total}" if section.rows else f"no row of {total} from row {first}"
        if next_page and page["next_offset"] is not None:
            following = f"next page: {next_page}"
        else:
            following = "the last page; the rows before it are on the pages before"
        notes[section.name] = f"PARTIAL DOWNLOAD (部分数据): {held}; {following}"
    return notes


def as_csv(report: Report, notes: dict[str, str] | None = None) -> str:
    """The report as CSV for a spreadsheet: a byte order mark, then each section's header and rows
    (amounts in yuan, two decimals, no thousands separator); a section cut to a page ends with
    a line saying so (``partial_notes``)."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, lineterminator="\n")
    for index, section in enumerate(report.sections):
        if len(report.sections) > 1:
            if index:
                writer.writerow([])
            writer.writerow([f"# {section.title}"])
        writer.writerow([c.title for c in section.columns])
        for row in section.rows:
            writer.writerow([_csv_safe(_cell(c, row.get(c.key), True)) for c in section.columns])
        if notes and section.name in notes:
            writer.writerow([notes[section.name]])
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) is
    quoted with an apostrophe; amounts (a minus sign and digits) are left as numbers."""
    if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def yuan(amount_fen: int) -> Decimal:
    """Fen as an exact number of yuan (for a spreadsheet cell)."""
    return Decimal(int(amount_fen)) / FEN_PER_YUAN


XLSX_FORMATS = {"fen": "#,##0.00", "int": "0", "rate": "0.00"}


def as_xlsx(report: Report, heading: str = "", notes: dict[str, str] | None = None) -> bytes:
    """The report as an Excel workbook: one sheet per section, the title and ``heading`` on the
    first row, a bilingual header (Chinese, then English) and numbers with their formats. A
    section cut to a page (``partial_notes``) says so on its first row and in a row after its
    rows, with the next page's address."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for index, section in enumerate(report.sections):
        sheet = workbook.create_sheet(_sheet_name(section, index))
        note = (notes or {}).get(section.name)
        sheet.append([f"{report.title}{heading}" + (f" [{note.split(';')[0]}]" if note else "")])
        sheet.cell(row=1, column=1).font = Font(bold=True, color="C00000" if note else None)
        sheet.append([f"{column_title_zh(c)}\n{c.title}" for c in section.columns])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in section.rows:
            sheet.append([_xlsx_value(c, row.get(c.key)) for c in section.columns])
        for position, column in enumerate(section.columns, start=1):
            letter = sheet.cell(row=2, column=position).column_letter
            sheet.column_dimensions[letter].width = max(10, min(40, display_width(column.title) + 2))
            number_format = XLSX_FORMATS.get(column.kind)
            if number_format:
                for (cell,) in sheet.iter_rows(min_row=3, min_col=position, max_col=position):
                    cell.number_format = number_format
        sheet.freeze_panes = "A3"
        if note:
            sheet.append([note])
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True, color="C00000")
        sheet.append([])
        sheet.append(["金额单位：元 Amounts in yuan"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_name(section: Section, index: int) -> str:
    name = "".join(ch for ch in section.title if ch not in "[]:*?/\\")[:28] or "Sheet"
    return f"{name}" if index == 0 else f"{name[:25]} {index + 1}"


def _xlsx_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "fen":
        return yuan(int(value))
    if column.kind == "int":
        return int(value)
    if column.kind == "rate":
        return Decimal(str(value))
    text = str(value)
    return "'" + text if text.startswith("=") else text  # openpyxl writes a text starting "=" as a formula


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def as_document(report: Report, meta: dict[str, Any]) -> dict[str, Any]:
    """The report as a JSON-ready mapping (fen, integers; rates as strings)."""
    return {
        "report": report.name, "title": report.title, **meta, "units": "fen",
        "sections": {
            section.name: [{key: _json_value(value) for key, value in row.items()} for row in section.rows]
            for section in report.sections
        },
    }


def as_json(report: Report, meta: dict[str, Any]) -> str:
    return json.dumps(as_document(report, meta), ensure_ascii=False, indent=2) + "\n"
