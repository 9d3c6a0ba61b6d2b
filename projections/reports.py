"""The reports, as queries on a projection store: the live tables; as of a date, the live
tables summed up to that date (``AsOfStore``, for ``AS_OF_FROM_TABLES``) or else an in-memory
store built from the events (``as_of_store``); ``as_of_report`` picks. Every amount is in fen here; rendering
turns it into yuan for people (``projections.render``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from uuid import UUID

from ledger import accounts as acc
from ledger.money import yuan_text
from projections import schema
from projections.as_of import accounts_page_as_of, budgets_as_of, personal_store_as_of
from projections.projector import Projector, on_or_before
from projections.store import ProjectionStore, memory_store

# Items as the fund's accounting rules name them (DOMAIN.md), where ledger.accounts has no label.
ITEM_LABELS = {
    "income.contribution": "Contribution income (基本医疗保险费收入)",
    "income.fiscal_subsidy": "Fiscal subsidy (财政补贴收入)",
    "income.interest": "Interest income (利息收入)",
    "income.transfer_in": "Transfer income (转移收入)",
    "income.upper_level_subsidy": "Subsidy from the upper level (上级补助收入)",
    "income.lower_level_remittance": "Remittance from lower levels (下级上解收入)",
    "income.other": "Other income (其他收入)",
    "expenditure.benefit.inpatient": "Benefit: inpatient (住院待遇支出)",
    "expenditure.benefit.outpatient": "Benefit: outpatient (门诊待遇支出)",
    "expenditure.benefit.pharmacy": "Benefit: pharmacy (药店购药支出)",
    "expenditure.benefit.inpatient_self_pay": "Benefit: inpatient self-pay (住院个人自付支出)",
    "expenditure.transfer_out": "Transfer out (转移支出)",
    "expenditure.subsidy_to_lower_levels": "Subsidy to lower levels (补助下级支出)",
    "expenditure.remittance_to_upper_level": "Remittance to the upper level (上解上级支出)",
    "expenditure.other": "Other expenditure (其他支出)",
    "transfer.retiree_credit": "Internal: employer share to retirees' accounts (划入退休人员个人账户)",
    "income.fiscal_subsidy_receivable": "Fiscal subsidy receivable: a deficit the budget covers (应收财政补贴)",
}


class Queryable(Protocol):
    """What a report reads: a ``ProjectionStore``, or an ``AsOfStore`` over one."""

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...


FUND_LABELS = {"pooled": "Pooled fund (统筹基金)", "personal": "Personal accounts (个人账户)"}


def item_label(item: str) -> str:
    return ITEM_LABELS.get(item) or acc.ITEMS.get(item) or item or "(no item)"


def fund_label(fund: str) -> str:
    if fund in FUND_LABELS:
        return FUND_LABELS[fund]
    if fund.startswith("memo."):
        return f"Memo fund: {fund[5:]}"
    return fund


def account_label(account: str) -> str:
    if account in acc.CHART_OF_ACCOUNTS:
        return acc.CHART_OF_ACCOUNTS[account].split(",")[0]
    if account.startswith("clearing.region."):
        return f"Clearing with region {account[16:]}"
    return account


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str = "text"  # text | int | fen | rate


@dataclass
class Section:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    total_keys: tuple[str, ...] = ()  # fen columns summed in a total line (for people)
    total_rows: int | None = None  # a page's section: the rows of every page (``Filters.limit``)


@dataclass
class Report:
    name: str
    title: str
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    region: str | None = None
    year: int | None = None
    person: str | None = None
    period: str = "month"  # month | quarter | year (income, expenditure, transfers)
    claim: str | None = None  # the claim report
    # A page of the reports with a row per person (``PAGED``), in their order: ``limit`` rows
    # from ``offset`` (``None``: every row).
    limit: int | None = None
    offset: int = 0


# The reports with a row per person (a region's thousands to millions of rows): answered a page
# at a time when a limit is asked for (the API always asks: ``DEFAULT_PAGE`` rows, at most
# ``MAX_PAGE``), in an order that is the rows' key, so pages neither repeat nor skip a row.
PAGED = frozenset({"personal", "contributions", "memo-persons"})
DEFAULT_PAGE = 1_000
MAX_PAGE = 10_000
MAX_OFFSET = 1_000_000_000


def _paged(store: Queryable, select: str, order: str, params: Sequence[Any], f: Filters) -> tuple[list[dict[str, Any]], int | None]:
    """The rows of ``select`` in ``order`` (the rows' key): all of them, or with ``f.limit`` the
    page from ``f.offset`` and how many rows all the pages hold."""
    if f.limit is None:
        return store.query(f"{select} ORDER BY {order}", params), None
    rows = store.query(f"{select} ORDER BY {order} LIMIT {int(f.limit):d} OFFSET {int(f.offset):d}", params)
    if f.offset == 0 and len(rows) < f.limit:
        return rows, len(rows)  # the only page
    counted = store.query(f"SELECT COUNT(*) AS n FROM ({select}) AS counted", params)
    return rows, int(counted[0]["n"])


def _page_section(section: Section, total_rows: int | None) -> Section:
    """A section cut to a page: its total line would sum that page only, so a part has none."""
    section.total_rows = total_rows
    if total_rows is not None and total_rows > len(section.rows):
        section.total_keys = ()
    return section


def page_of(report: Report, f: Filters) -> dict[str, Any] | None:
    """Where a paged report's page stands: its limit and offset, each section's rows in every
    page, and the next page's offset (``None`` on the last)."""
    totals = {section.name: section.total_rows for section in report.sections if section.total_rows is not None}
    if f.limit is None or not totals:
        return None
    following = f.offset + f.limit
    return {"limit": f.limit, "offset": f.offset, "total_rows": totals,
            "next_offset": following if any(total > following for total in totals.values()) else None}


def _where(filters: Filters, *, year: bool = True, person: bool = False, alias: str = "") -> tuple[str, list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if filters.region:
        clauses.append(f"{alias}region = ?")
        params.append(filters.region)
    if year and filters.year is not None:
        clauses.append(f"{alias}year = ?")
        params.append(filters.year)
    if person and filters.person:
        clauses.append(f"{alias}person_id = ?")
        params.append(filters.person)
    return " AND ".join(clauses), params


def percent(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------- the reports
def fund_balances(store: Queryable, p: str, f: Filters) -> Report:
    where, params = _where(f, year=False)
    rows = store.query(f"SELECT region, fund, account, credit_fen, debit_fen, balance_fen FROM {p}fund_balances "
                       f"WHERE {where} ORDER BY region, account", params)
    for row in rows:
        row["fund_name"] = fund_label(row["fund"])
    columns = [Column("region", "Region"), Column("fund", "Fund"), Column("fund_name", "Fund name"),
               Column("credit_fen", "Credits (income, transfers in)", "fen"), Column("debit_fen", "Debits (expenditure, transfers out)", "fen"),
               Column("balance_fen", "Balance", "fen")]
    return Report("balances", "Fund balances (基金余额)", [Section("funds", "Fund balances", columns, rows)])


def trial_balance(store: Queryable, p: str, f: Filters) -> Report:
    where, params = _where(f, year=False)
    rows = store.query(f"SELECT region, account, debit_fen, credit_fen, balance_fen FROM {p}account_balances "
                       f"WHERE {where} ORDER BY region, account", params)
    for row in rows:
        row["description"] = account_label(row["account"])
    columns = [Column("region", "Region"), Column("account", "Account"), Column("description", "Description"),
               Column("debit_fen", "Debit total", "fen"), Column("credit_fen", "Credit total", "fen"),
               Column("balance_fen", "Balance (debit +, credit -)", "fen")]
    return Report("trial-balance", "Trial balance (试算平衡表)",
                  [Section("accounts", "Accounts", columns, rows, ("debit_fen", "credit_fen", "balance_fen"))])


def personal_balances(store: Queryable, p: str, f: Filters) -> Report:
    where, params = _where(f, year=False, person=True)
    rows, total_rows = _paged(store, f"SELECT * FROM {p}personal_balances WHERE {where}", "region, person_id", params, f)
    columns = [Column("region", "Region"), Column("person_id", "Person"), Column("balance_fen", "Balance", "fen"),
               Column("carried_over_fen", "Carried over (历年结转)", "fen"), Column("current_year_fen", "Current year (当年)", "fen"),
               Column("current_year", "Current year is", "int"),
               Column("credited_employee_share_fen", "Employee share credited", "fen"),
               Column("credited_employer_share_fen", "Employer share credited", "fen"),
               Column("credited_retiree_credit_fen", "Retiree credit credited", "fen"),
               Column("credited_interest_fen", "Interest credited", "fen"),
               Column("credited_transfer_in_fen", "Transfers in credited", "fen"),
               Column("credited_other_fen", "Other credits", "fen"), Column("debited_fen", "Paid out", "fen"),
               Column("last_movement_on", "Last movement")]
    totals = ("balance_fen", "carried_over_fen", "current_year_fen", "debited_fen")
    return Report("personal", "Personal account balances (个人账户余额)",
                  [_page_section(Section("accounts", "Personal accounts", columns, rows, totals), total_rows)])


# The movements of a personal account statement, in words (``PersonalAccount`` events).
MOVEMENT_WORDS = {
    "ContributionCredited": "Contribution credited (缴费划入)",
    "ClaimPaid": "Claim paid from the account (个人账户支付)",
    "InpatientClaimRecorded": "Inpatient bill: the patient's part (住院个人负担)",
    "ClaimReversed": "Claim reversed (冲正)",
    "InterestCredited": "Interest credited (利息)",
    "TransferredOut": "Transferred out (转出)",
    "TransferredIn": "Transferred in (转入)",
    "Inherited": "Paid to the heirs (继承支付)",
}


def movement_words(event_type: str) -> str:
    """An event's class (``PersonalAccount.ContributionCredited``) as a person reads it."""
    name = event_type.rsplit(".", 1)[-1]
    if name in MOVEMENT_WORDS:
        return MOVEMENT_WORDS[name]
    words = "".join(f" {ch.lower()}" if ch.isupper() else ch for ch in name).strip()
    return words[:1].upper() + words[1:]


def statement(store: Queryable, p: str, f: Filters) -> Report:
    """One person's movements in the order of their business dates (the order of recording
    within a date), each with its movement in words and the balance after it in that order.
    ``recorded_at`` (when the ledger recorded it) is filled in by ``add_recording_times``."""
    where, params = _where(f, year=False, person=True)
    if f.year is not None:
        where += " AND business_date >= ? AND business_date <= ?"
        params += [f"{f.year}-01-01", f"{f.year}-12-31"]
    rows = store.query(f"SELECT * FROM {p}personal_statements WHERE {where} "
                       "ORDER BY region, person_id, business_date, position", params)
    running: dict[tuple[str, str], int] = {}  # per account: the balance before its first movement recorded
    for row in sorted(rows, key=lambda row: -int(row["position"])):
        running[(row["region"], row["person_id"])] = row["balance_fen"] - row["change_fen"]
    if f.year is not None and rows:
        running = _balances_before(store, p, f, date(f.year, 1, 1))
    for row in rows:
        key = (row["region"], row["person_id"])
        row["balance_fen"] = running[key] = running[key] + row["change_fen"]
        row["movement"] = movement_words(row["event_type"])
        row["recorded_at"] = None
    columns = [Column("region", "Region"), Column("person_id", "Person"), Column("business_date", "Date"),
               Column("recorded_at", "Recorded at"), Column("movement", "Movement"), Column("reference", "Reference"),
               Column("items", "Item"), Column("credit_fen", "Credit (in)", "fen"), Column("debit_fen", "Debit (out)", "fen"),
               Column("balance_fen", "Balance", "fen"), Column("position", "Event position", "int")]
    return Report("statement", "Personal account statement (个人账户对账单)",
                  [Section("lines", "Movements", columns, rows, ("credit_fen", "debit_fen"))])


def _balances_before(store: Queryable, p: str, f: Filters, day: date) -> dict[tuple[str, str], int]:
    """Each account's balance before the movements dated on or after ``day``, in business-date
    order: the balance before its first movement recorded and every change dated before ``day``,
    whenever recorded (a movement recorded after a later-dated one counts where its date puts
    it, as in the full statement)."""
    where, params = _where(f, year=False, person=True)
    table = f"{p}personal_statements"
    opening = {(row["region"], row["person_id"]): int(row["opening_fen"]) for row in store.query(
        f"SELECT s.region, s.person_id, s.balance_fen - s.change_fen AS opening_fen FROM {table} s "
        f"JOIN (SELECT region, person_id, MIN(position) AS first_position FROM {table} WHERE {where} "
        "GROUP BY region, person_id) f ON s.region = f.region AND s.person_id = f.person_id AND s.position = f.first_position",
        params)}
    for row in store.query(f"SELECT region, person_id, SUM(change_fen) AS change_fen FROM {table} "
                           f"WHERE {where} AND business_date < ? GROUP BY region, person_id", [*params, day.isoformat()]):
        key = (row["region"], row["person_id"])
        opening[key] = opening.get(key, 0) + int(row["change_fen"])
    return opening


def add_recording_times(ledger: Any, report: Report) -> Report:
    """Fill a statement's ``recorded_at``: when the ledger recorded each movement (its event's
    timestamp, UTC, to the second), read from the account's own events."""
    if report.name != "statement":
        return report
    times: dict[tuple[str, int], str] = {}
    for section in report.sections:
        for originator_id in sorted({row["originator_id"] for row in section.rows}):
            for stored in ledger.recorder.select_events(UUID(originator_id)):
                recorded = ledger.mapper.to_domain_event(stored).timestamp.astimezone(UTC)
                times[(originator_id, stored.originator_version)] = recorded.strftime("%Y-%m-%d %H:%M:%S UTC")
        for row in section.rows:
            row["recorded_at"] = times.get((row["originator_id"], int(row["originator_version"])))
    return report


def _period_expression(period: str) -> str:
    return {"month": "month", "quarter": "quarter", "year": "year"}[period]


def _period_label(period: str, year: int, part: int) -> str:
    if period == "month":
        return f"{year}-{part:02d}"
    if period == "quarter":
        return f"{year}-Q{part}"
    return str(year)


def _lines(store: Queryable, p: str, f: Filters, table: str, amount: str, reversed_: str) -> list[dict[str, Any]]:
    where, params = _where(f)
    part = _period_expression(f.period)
    rows = store.query(
        f"SELECT region, fund, item, year, {part} AS part, SUM({amount}) AS amount_fen, SUM({reversed_}) AS reversed_fen, "
        f"SUM(postings) AS postings FROM {p}{table} WHERE {where} GROUP BY region, fund, item, year, {part} "
        f"ORDER BY region, fund, year, {part}, item", params)
    for row in rows:
        row["period"] = _period_label(f.period, row.pop("year"), row.pop("part"))
        row["fund_name"] = fund_label(row["fund"])
        row["item_name"] = item_label(row["item"])
        row["net_fen"] = row["amount_fen"] - row["reversed_fen"]
    return rows


def income(store: Queryable, p: str, f: Filters) -> Report:
    rows = _lines(store, p, f, "income", "amount_fen", "reversed_fen")
    columns = [Column("region", "Region"), Column("period", "Period"), Column("fund_name", "Fund"), Column("item", "Income item code"),
               Column("item_name", "Income item (收入项目)"), Column("amount_fen", "Income", "fen"),
               Column("reversed_fen", "Reversals (冲减)", "fen"), Column("net_fen", "Net income", "fen")]
    return Report("income", f"Income report (基金收入表), by {f.period}",
                  [Section("income", "Income", columns, rows, ("amount_fen", "reversed_fen", "net_fen"))])


def expenditure(store: Queryable, p: str, f: Filters) -> Report:
    rows = _lines(store, p, f, "expenditure", "amount_fen", "reversed_fen")
    columns = [Column("region", "Region"), Column("period", "Period"), Column("fund_name", "Fund"),
               Column("item", "Expenditure item code"), Column("item_name", "Expenditure item (支出项目)"),
               Column("amount_fen", "Expenditure", "fen"), Column("reversed_fen", "Recoveries (冲减)", "fen"),
               Column("net_fen", "Net expenditure", "fen")]
    return Report("expenditure", f"Expenditure report (基金支出表), by {f.period}",
                  [Section("expenditure", "Expenditure", columns, rows, ("amount_fen", "reversed_fen", "net_fen"))])


def transfers(store: Queryable, p: str, f: Filters) -> Report:
    rows = _lines(store, p, f, "transfers", "in_fen", "out_fen")
    for row in rows:
        row["in_fen"], row["out_fen"] = row.pop("amount_fen"), row.pop("reversed_fen")
        row.pop("net_fen")
    columns = [Column("region", "Region"), Column("period", "Period"), Column("fund_name", "Fund"), Column("item", "Item code"),
               Column("item_name", "Internal transfer (内部划转)"), Column("in_fen", "Transferred in", "fen"),
               Column("out_fen", "Transferred out", "fen")]
    return Report("transfers", f"Internal transfers between the fund's parts (neither income nor expenditure), by {f.period}",
                  [Section("transfers", "Transfers", columns, rows, ("in_fen", "out_fen"))])


def budget(store: Queryable, p: str, f: Filters) -> Report:
    where, params = _where(f)
    rows = store.query(f"SELECT region, fund, year, item, line, approved_fen, adjusted_fen, budget_fen, actual_fen, variance_fen "
                       f"FROM {p}budget_execution WHERE {where} ORDER BY region, year, fund, line DESC, item", params)
    for row in rows:
        row["fund_name"] = fund_label(row["fund"])
        row["item_name"] = item_label(row["item"])
        row["execution_rate_pct"] = percent(row["actual_fen"], row["budget_fen"])
    columns = [Column("region", "Region"), Column("year", "Year", "int"), Column("fund_name", "Fund"), Column("line", "Line"),
               Column("item", "Item code"), Column("item_name", "Budget item (预算科目)"),
               Column("approved_fen", "Approved budget", "fen"), Column("adjusted_fen", "Adjusted budget", "fen"),
               Column("budget_fen", "Budget in force", "fen"), Column("actual_fen", "Actual to date", "fen"),
               Column("variance_fen", "Variance (actual - budget)", "fen"), Column("execution_rate_pct", "Execution rate %", "rate")]
    return Report("budget", "Budget versus actual (预算执行情况)", [Section("lines", "Budget lines", columns, rows)])


def final_accounts(store: Queryable, p: str, f: Filters) -> Report:
    where, params = _where(f)
    funds = store.query(f"SELECT * FROM {p}final_accounts WHERE {where} ORDER BY region, year, fund", params)
    for row in funds:
        row["fund_name"] = fund_label(row["fund"])
        row["months_of_payment_capacity"] = _months(row["closing_fen"], row["expenditure_fen"], row["months_elapsed"])
        row["check"] = "ok" if row["opening_fen"] + row["income_fen"] - row["expenditure_fen"] + row["transfer_in_fen"] \
            - row["transfer_out_fen"] == row["closing_fen"] else "DOES NOT ADD UP"
    banks = store.query(f"SELECT * FROM {p}bank_deposits WHERE {where} ORDER BY region, year, account", params)
    receivables = store.query(f"SELECT * FROM {p}fiscal_receivables WHERE {where} ORDER BY region, year, account", params)
    for row in (*banks, *receivables):
        row["description"] = account_label(row["account"])
    fund_columns = [Column("region", "Region"), Column("year", "Year", "int"), Column("fund_name", "Fund"),
                    Column("opening_fen", "Opening balance (年初结余)", "fen"), Column("income_fen", "Income (本年收入)", "fen"),
                    Column("expenditure_fen", "Expenditure (本年支出)", "fen"), Column("transfer_in_fen", "Transfers in", "fen"),
                    Column("transfer_out_fen", "Transfers out", "fen"), Column("closing_fen", "Closing balance (年末滚存结余)", "fen"),
                    Column("months_of_payment_capacity", "Months of payment capacity (可支付月数)", "rate"), Column("check", "Check")]
    bank_columns = [Column("region", "Region"), Column("year", "Year", "int"), Column("account", "Bank account"),
                    Column("description", "Description"), Column("opening_fen", "Opening deposits", "fen"),
                    Column("debit_fen", "Received", "fen"), Column("credit_fen", "Paid or moved out", "fen"),
                    Column("closing_fen", "Closing deposits (存款)", "fen")]
    receivable_columns = [Column("region", "Region"), Column("year", "Year", "int"), Column("account", "Account"),
                          Column("description", "Description"), Column("opening_fen", "Opening receivable", "fen"),
                          Column("debit_fen", "Deficits covered (raised)", "fen"), Column("credit_fen", "Cleared by fiscal subsidies", "fen"),
                          Column("closing_fen", "Closing receivable (应收财政补贴)", "fen")]
    return Report("final-accounts", "Final accounts (基金决算表): opening + income - expenditure ± transfers = closing", [
        Section("funds", "Funds", fund_columns, funds),
        Section("deposits", "Deposits by bank account (资产负债: 存款)", bank_columns, banks),
        Section("receivables", "Receivable from the fiscal budget for pooled-fund deficits (资产负债: 应收财政补贴)",
                receivable_columns, receivables),
    ])


def _months(closing_fen: int, expenditure_fen: int, months_elapsed: int | None) -> Decimal | None:
    """Months of payment capacity: accumulated balance ÷ average monthly expenditure, the average
    taken over the months of the year that have postings (January to the latest month)."""
    if not expenditure_fen or not months_elapsed:
        return None
    return (Decimal(closing_fen) * months_elapsed / Decimal(expenditure_fen)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def clearing(store: Queryable, p: str, f: Filters) -> Report:
    where, params = _where(f, year=False)
    rows = store.query(f"SELECT * FROM {p}clearing_positions WHERE {where} ORDER BY region, other_region", params)
    columns = [Column("region", "Region"), Column("other_region", "Other region"),
               Column("debit_fen", "Advanced for the other region / paid to it", "fen"),
               Column("credit_fen", "Advanced by the other region / received from it", "fen"),
               Column("net_receivable_fen", "Net: owed to us (+) / owed by us (-)", "fen")]
    return Report("clearing", "Clearing positions between regions (异地就医清算)", [Section("positions", "Positions", columns, rows)])


def contributions(store: Queryable, p: str, f: Filters) -> Report:
    """Each person's contribution months and years (Social Insurance Law art. 32: contribution
    years accumulate across regions): distinct months paid here, months brought from elsewhere
    (enrolment, transfers in), months that left with a transfer out."""
    where, params = _where(f, year=False, person=True)
    rows, total_rows = _paged(store, f"SELECT * FROM {p}contribution_months WHERE {where}", "region, person_id", params, f)
    for row in rows:
        years, months = divmod(int(row["contribution_months"]), 12)
        row["contribution_years"] = f"{years} years {months} months"
    columns = [Column("region", "Region"), Column("person_id", "Person"),
               Column("months_paid_here", "Months paid here", "int"), Column("first_period", "First month"),
               Column("last_period", "Last month"), Column("months_brought", "Months brought from elsewhere", "int"),
               Column("months_transferred_out", "Months transferred out", "int"),
               Column("contribution_months", "Contribution months (缴费月数)", "int"),
               Column("contribution_years", "Contribution years (缴费年限)")]
    return Report("contributions", "Contribution months and years (缴费年限)",
                  [_page_section(Section("people", "People", columns, rows), total_rows)])


def claim(store: Queryable, p: str, f: Filters) -> Report:
    """One claim's arithmetic (Liao 1999 §II(4)): the excluded items, the deductible, each co-pay
    band with its rate, what the pooled fund, the personal account and the patient pay, what is
    referred above the ceiling, the admission number and the ceiling used so far."""
    where, params = _where(f, year=False, alias="c.")
    rows = store.query(f"SELECT c.*, r.correction_id, r.business_date AS reversed_on FROM {p}claims c "
                       f"LEFT JOIN {p}claim_reversals r ON r.region = c.region AND r.claim_id = c.claim_id "
                       f"WHERE {where} AND c.claim_id = ? ORDER BY c.region", [*params, f.claim])
    sections = [Section("claim", "The claim", CLAIM_COLUMNS, rows)]
    for row in rows[:1]:
        sections += claim_sections(row)
    return Report("claim", f"One claim's arithmetic: {f.claim}", sections)


def claim_sections(claim_row: dict[str, Any]) -> list[Section]:
    """The arithmetic and the payers of one claim, from its ``proj_claims`` row or, with its
    bands as ``bands`` JSON text, from the claim's recorded outcome."""
    return [Section("arithmetic", "Arithmetic (how the bill divides)", ARITHMETIC_COLUMNS, _claim_lines(claim_row),
                    ("amount_fen", "patient_fen", "pooled_fen", "referred_fen")),
            Section("payers", "Who pays", PAYER_COLUMNS, _claim_payers(claim_row))]


CLAIM_COLUMNS = [Column("region", "Region"), Column("claim_id", "Claim"), Column("person_id", "Person"), Column("kind", "Kind"),
                 Column("business_date", "Date"), Column("policy_version", "Policy"), Column("institution_id", "Institution"),
                 Column("hospital_level", "Level", "int"), Column("condition_code", "Condition"),
                 Column("admission_number", "Admission of the year", "int"), Column("correction_id", "Reversed by"),
                 Column("reversed_on", "Reversed on")]
ARITHMETIC_COLUMNS = [Column("line", "Line"), Column("rate", "Patient's rate", "rate"), Column("amount_fen", "Amount", "fen"),
                      Column("patient_fen", "Patient's part", "fen"), Column("pooled_fen", "Pooled fund", "fen"),
                      Column("referred_fen", "Above the ceiling", "fen")]
PAYER_COLUMNS = [Column("payer", "Paid by"), Column("amount_fen", "Amount", "fen")]


def _claim_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The bill, line by line: excluded items, the deductible, each band above it."""
    lines = [{"line": "Items outside the fund's catalogue", "amount_fen": row["excluded_fen"], "patient_fen": row["excluded_fen"],
              "pooled_fen": 0, "referred_fen": 0},
             {"line": "Deductible (起付标准)", "amount_fen": row["deductible_fen"], "patient_fen": row["deductible_fen"],
              "pooled_fen": 0, "referred_fen": 0}]
    for band in json.loads(row["bands"] or "[]"):
        to = yuan_text(band["to_fen"]) if "to_fen" in band else "?"
        start = yuan_text(band["from_fen"]) if "from_fen" in band else "?"
        lines.append({"line": f"Band above the deductible: {start} to {to} yuan", "rate": band["patient_rate"],
                      "amount_fen": band["band_fen"], "patient_fen": band["patient_fen"], "pooled_fen": band["pooled_fen"],
                      "referred_fen": band["referred_fen"]})
    return lines


def _claim_payers(row: dict[str, Any]) -> list[dict[str, Any]]:
    ceiling_fen, left_fen = row["annual_ceiling_fen"], row["ceiling_remaining_before_fen"]
    used_before_fen = None if ceiling_fen is None or left_fen is None else ceiling_fen - left_fen
    referred = f"Referred above the ceiling (to {row['referred_to']})" if row["referred_to"] else "Referred above the ceiling"
    payers = [("Total cost", row["total_cost_fen"]), ("Pooled fund (统筹基金)", row["pooled_fen"]),
              ("Personal account (个人账户)", row["account_fen"]), ("Patient, out of pocket", row["out_of_pocket_fen"]),
              (referred, row["above_ceiling_fen"]), ("of the pooled part, covered against the fiscal budget", row["fiscal_receivable_fen"]),
              ("Annual ceiling", ceiling_fen), ("Ceiling used before this claim", used_before_fen),
              ("Ceiling used after this claim", None if used_before_fen is None else used_before_fen + row["pooled_fen"])]
    return [{"payer": payer, "amount_fen": amount_fen} for payer, amount_fen in payers]


def memo_persons(store: Queryable, p: str, f: Filters) -> Report:
    """Each memo fund's money per person and year (Liao 1999 §II(6): the special groups' funds are
    kept apart and traceable to a person), and the claims referred to a supplementary fund above
    the ceiling with what it paid on each."""
    where, params = _where(f, person=True)
    rows, person_rows = _paged(store, f"SELECT * FROM {p}memo_fund_persons WHERE {where}", "region, fund, year, person_id", params, f)
    where, params = _where(f, year=False, person=True)
    referrals, referral_rows = _paged(store, f"SELECT *, referred_fen - paid_fen AS left_fen FROM {p}memo_fund_referrals WHERE {where}",
                                      "region, fund, claim_id, person_id", params, f)
    for row in (*rows, *referrals):
        row["fund_name"] = fund_label("memo." + row["fund"])
    person_columns = [Column("region", "Region"), Column("fund_name", "Memo fund"), Column("year", "Year", "int"),
                      Column("person_id", "Person"), Column("paid_fen", "Paid to the person", "fen"),
                      Column("received_fen", "Received for the person", "fen"), Column("postings", "Postings", "int")]
    referral_columns = [Column("region", "Region"), Column("fund_name", "Memo fund"), Column("claim_id", "Claim"),
                        Column("person_id", "Person"), Column("referred_fen", "Referred above the ceiling", "fen"),
                        Column("paid_fen", "Paid by the fund", "fen"), Column("left_fen", "Left to pay", "fen")]
    return Report("memo-persons", "Memo funds by person (个人台账)", [
        _page_section(Section("persons", "Paid and received per person", person_columns, rows, ("paid_fen", "received_fen")), person_rows),
        _page_section(Section("referrals", "Claims referred above the ceiling", referral_columns, referrals,
                              ("referred_fen", "paid_fen", "left_fen")), referral_rows),
    ])


REPORTS: dict[str, Callable[[Queryable, str, Filters], Report]] = {
    "balances": fund_balances,
    "trial-balance": trial_balance,
    "personal": personal_balances,
    "statement": statement,
    "income": income,
    "expenditure": expenditure,
    "transfers": transfers,
    "budget": budget,
    "final-accounts": final_accounts,
    "clearing": clearing,
    "contributions": contributions,
    "claim": claim,
    "memo-persons": memo_persons,
}
# Reports of a point in time: ``--year`` means "at the end of that year".
POINT_IN_TIME = frozenset({"balances", "trial-balance", "personal", "clearing", "contributions"})


def as_of_store(ledger: Any, day: date, region: str | None = None) -> ProjectionStore:
    """The projections as the books stood at the end of ``day``, folded from the events (those
    with a business date on or before it) into a private in-memory database. Slow (it reads the
    whole log): the fallback for the reports not in ``AS_OF_FROM_TABLES``."""
    store = memory_store()
    Projector(ledger, store, event_filter=on_or_before(day, region), batch_size=5_000).catch_up()
    return store


def run_report(name: str, store: Queryable, filters: Filters, prefix: str = schema.LIVE_PREFIX) -> Report:
    return REPORTS[name](store, prefix, filters)


# ---------------------------------------------------------------------------- as of a date, from the tables
# Reports answered as of a date from the tables: sums of ``proj_account_daily`` and the budget's
# history (``AsOfStore``), or, for the personal accounts, their movements folded again in log
# order (``projections.as_of``). The others fall back to folding the events (``as_of_store``).
AS_OF_SUMMED = frozenset({"balances", "trial-balance", "clearing", "income", "expenditure", "transfers", "final-accounts",
                          "budget"})
AS_OF_FROM_ACCOUNTS = frozenset({"personal", "statement"})
AS_OF_FROM_TABLES = AS_OF_SUMMED | AS_OF_FROM_ACCOUNTS
AS_OF_PREFIX = "as_of_"
_AS_OF_VIEWS = ("fund_balances", "clearing_positions", "final_accounts", "bank_deposits", "fiscal_receivables", "budget_execution")


def business_day(day: date) -> int:
    """A date as ``proj_account_daily.business_day``: the integer yyyymmdd."""
    return day.year * 10_000 + day.month * 100 + day.day


def _as_of_tables(source: str, day: date) -> dict[str, str]:
    """The additive tables as of the end of ``day``: sums of the daily rows on or before it
    (undated rows, ``business_day = 0``, always count, as in ``on_or_before``)."""
    rows = f"SELECT * FROM {source} WHERE business_day <= {business_day(day):d}"
    fund = "SUBSTR(account, 1, 5) = 'fund.'"
    is_income, is_expenditure = "SUBSTR(item, 1, 7) = 'income.'", "SUBSTR(item, 1, 12) = 'expenditure.'"
    lines = ("SELECT region, SUBSTR(account, 6) AS fund, item, year, quarter, month, SUM({first}) AS {a}, "
             "SUM({second}) AS {b}, SUM(postings) AS postings FROM {d} WHERE {fund} AND {kind} "
             "GROUP BY region, account, item, year, quarter, month")
    d = AS_OF_PREFIX + "daily"
    return {
        "daily": rows,
        "account_balances": f"SELECT region, account, SUM(debit_fen) AS debit_fen, SUM(credit_fen) AS credit_fen, "
                            f"SUM(debit_fen) - SUM(credit_fen) AS balance_fen, SUM(postings) AS postings "
                            f"FROM {d} GROUP BY region, account",
        "account_flows": f"SELECT region, account, year, month, SUM(debit_fen) AS debit_fen, SUM(credit_fen) AS credit_fen, "
                         f"SUM(postings) AS postings FROM {d} GROUP BY region, account, year, month",
        "income": lines.format(first="credit_fen", second="debit_fen", a="amount_fen", b="reversed_fen", d=d, fund=fund,
                               kind=is_income),
        "expenditure": lines.format(first="debit_fen", second="credit_fen", a="amount_fen", b="reversed_fen", d=d,
                                    fund=fund, kind=is_expenditure),
        "transfers": lines.format(first="credit_fen", second="debit_fen", a="in_fen", b="out_fen", d=d, fund=fund,
                                  kind=f"NOT {is_income} AND NOT {is_expenditure}"),
    }


class AsOfStore:
    """The live store seen as of the end of a business date: every query on ``as_of_*`` relations
    runs with them defined (``WITH``) as sums over ``proj_account_daily``, then the same views as
    the live projection (``schema``). Read-only; closing it leaves the live store open."""

    def __init__(self, store: ProjectionStore, day: date, prefix: str = schema.LIVE_PREFIX) -> None:
        self.store = store
        self.day = day
        definitions = _as_of_tables(prefix + schema.ACCOUNT_DAILY.name, day)
        definitions.update({name: body.format(p=AS_OF_PREFIX)
                            for name, body in budgets_as_of(prefix + schema.BUDGET_HISTORY.name, day).items()})
        views = schema.view_definitions(AS_OF_PREFIX)
        definitions.update({name: views[name] for name in _AS_OF_VIEWS})
        self.with_clause = "WITH " + ", ".join(f"{AS_OF_PREFIX}{name} AS ({body})" for name, body in definitions.items())
        if store.dialect == "postgres":  # psycopg reads '%' as a placeholder (the views' LIKE 'fund.%')
            self.with_clause = self.with_clause.replace("%", "%%")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.store.query(f"{self.with_clause} {statement}", params)

    def close(self) -> None:
        pass


def _accounts_page_as_of(store: ProjectionStore, name: str, day: date, f: Filters) -> Report:
    """A page of the personal accounts as of ``day``: the page's accounts found in the tables
    first (``accounts_page_as_of``), then only they are folded, not every account of the region
    (4.1 s a page at 10,000 persons before)."""
    keys, total_rows = accounts_page_as_of(store, day, f.region, f.person, int(f.limit or 0), f.offset)
    between = (keys[0], keys[-1]) if keys else (("", ""), ("", ""))  # no account: a range that holds none
    accounts = personal_store_as_of(store, day, f.region, f.person, between=between)
    try:
        report = run_report(name, accounts, replace(f, limit=None, offset=0))
    finally:
        accounts.close()
    for section in report.sections:
        _page_section(section, total_rows)
    return report


def as_of_report(ledger: Any, store: ProjectionStore, name: str, day: date, filters: Filters) -> tuple[Report, str]:
    """A report as the books stood at the end of ``day``, and where it came from: the live tables
    (caught up by the caller) for the reports in ``AS_OF_FROM_TABLES``, else the events."""
    if name in AS_OF_SUMMED:
        return REPORTS[name](AsOfStore(store, day), AS_OF_PREFIX, filters), "tables"
    if name in AS_OF_FROM_ACCOUNTS:
        if name in PAGED and filters.limit is not None:
            return _accounts_page_as_of(store, name, day, filters), "tables"
        accounts = personal_store_as_of(store, day, filters.region, filters.person)
        try:
            return run_report(name, accounts, filters), "tables"
        finally:
            accounts.close()
    folded = as_of_store(ledger, day, filters.region)
    try:
        return run_report(name, folded, filters), "events"
    finally:
        folded.close()
