"""The projection tables and views, one DDL for PostgreSQL and SQLite.

Every table name starts with a prefix: ``proj_`` for the live projection, ``proj_replay_`` for
the copy that ``fund-ledger replay`` rebuilds from position 0. Amounts are integer fen
(``BIGINT``); business dates are ``DATE`` (PostgreSQL) or ISO text ``YYYY-MM-DD`` (SQLite). The
views derive from the tables only, so comparing the tables compares everything.
"""

from __future__ import annotations

from dataclasses import dataclass

LIVE_PREFIX = "proj_"
REPLAY_PREFIX = "proj_replay_"


@dataclass(frozen=True)
class Table:
    name: str  # without the prefix
    columns: tuple[tuple[str, str], ...]  # (name, SQL type)
    key: tuple[str, ...]
    # How the tables folded generically (FOLDED_TABLES) are written: "insert" keeps the first row
    # of a key (facts recorded once), "add" adds each batch's values to what is stored.
    write: str = ""

    def create_sql(self, prefix: str) -> str:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {prefix}{self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}))"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def value_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns if name not in self.key)


MONEY = "BIGINT NOT NULL DEFAULT 0"
COUNT = "INTEGER NOT NULL DEFAULT 0"

# Origins of personal-account credits, each with its own column (anything else: credited_other_fen).
ORIGIN_COLUMNS = {
    "employee_share": "credited_employee_share_fen",
    "employer_share": "credited_employer_share_fen",
    "retiree_credit": "credited_retiree_credit_fen",
    "interest": "credited_interest_fen",
    "transfer_in": "credited_transfer_in_fen",
}
OTHER_ORIGIN_COLUMN = "credited_other_fen"

PERSONAL_BALANCES = Table(
    "personal_balances",
    (
        ("region", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"), ("enrolled_on", "DATE"),
        ("balance_fen", MONEY), ("carried_over_fen", MONEY), ("current_year_fen", MONEY), ("current_year", "INTEGER"),
        *((column, MONEY) for column in ORIGIN_COLUMNS.values()), (OTHER_ORIGIN_COLUMN, MONEY),
        ("debited_fen", MONEY), ("movements", COUNT), ("last_movement_on", "DATE"), ("last_position", "BIGINT"),
        ("opened_position", "BIGINT"),
    ),
    ("region", "person_id"),
)
PERSONAL_STATEMENTS = Table(
    "personal_statements",
    (
        ("region", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"), ("position", "BIGINT NOT NULL"),
        ("business_date", "DATE"), ("event_type", "TEXT NOT NULL"), ("originator_id", "TEXT NOT NULL"),
        ("originator_version", "INTEGER NOT NULL"), ("reference", "TEXT"), ("items", "TEXT"), ("origins", "TEXT"),
        ("credit_fen", MONEY), ("debit_fen", MONEY), ("change_fen", MONEY), ("balance_fen", MONEY),
        ("carried_over_fen", MONEY), ("current_year_fen", MONEY),
        # The credit by origin (the columns of personal_balances): what a balance as of a date is
        # folded from (``projections.as_of``).
        *((column, MONEY) for column in ORIGIN_COLUMNS.values()), (OTHER_ORIGIN_COLUMN, MONEY),
    ),
    ("region", "person_id", "position"),
)
ACCOUNT_BALANCES = Table(
    "account_balances",
    (("region", "TEXT NOT NULL"), ("account", "TEXT NOT NULL"), ("debit_fen", MONEY), ("credit_fen", MONEY),
     ("balance_fen", MONEY), ("postings", COUNT)),
    ("region", "account"),
)
ACCOUNT_FLOWS = Table(
    "account_flows",
    (("region", "TEXT NOT NULL"), ("account", "TEXT NOT NULL"), ("year", "INTEGER NOT NULL"), ("month", "INTEGER NOT NULL"),
     ("debit_fen", MONEY), ("credit_fen", MONEY), ("postings", COUNT)),
    ("region", "account", "year", "month"),
)
_LINE_KEY = (("region", "TEXT NOT NULL"), ("fund", "TEXT NOT NULL"), ("item", "TEXT NOT NULL"),
             ("year", "INTEGER NOT NULL"), ("quarter", "INTEGER NOT NULL"), ("month", "INTEGER NOT NULL"))
INCOME = Table("income", (*_LINE_KEY, ("amount_fen", MONEY), ("reversed_fen", MONEY), ("postings", COUNT)),
               ("region", "fund", "item", "year", "quarter", "month"))
EXPENDITURE = Table("expenditure", (*_LINE_KEY, ("amount_fen", MONEY), ("reversed_fen", MONEY), ("postings", COUNT)),
                    ("region", "fund", "item", "year", "quarter", "month"))
TRANSFERS = Table("transfers", (*_LINE_KEY, ("in_fen", MONEY), ("out_fen", MONEY), ("postings", COUNT)),
                  ("region", "fund", "item", "year", "quarter", "month"))
BUDGETS = Table(
    "budgets",
    (("region", "TEXT NOT NULL"), ("fund", "TEXT NOT NULL"), ("year", "INTEGER NOT NULL"), ("item", "TEXT NOT NULL"),
     ("approved_fen", "BIGINT"), ("adjusted_fen", "BIGINT"), ("budget_fen", MONEY), ("budget_kind", "TEXT NOT NULL"),
     ("business_date", "DATE"), ("position", "BIGINT NOT NULL")),
    ("region", "fund", "year", "item"),
)
# Every posting by business day, for the as-of reports (``projections.reports.as_of_sources``):
# ``business_day`` is the date as the integer yyyymmdd (0: an undated event, always included).
ACCOUNT_DAILY = Table(
    "account_daily",
    (("region", "TEXT NOT NULL"), ("account", "TEXT NOT NULL"), ("item", "TEXT NOT NULL"),
     ("business_day", "INTEGER NOT NULL"), ("year", "INTEGER NOT NULL"), ("quarter", "INTEGER NOT NULL"),
     ("month", "INTEGER NOT NULL"), ("debit_fen", MONEY), ("credit_fen", MONEY), ("postings", COUNT)),
    ("region", "business_day", "account", "item", "year", "quarter", "month"),
)

TEXT = "TEXT"
# One row per (person, period) contributed: a month counts once, by the first line that paid it.
CONTRIBUTION_PERIODS = Table(
    "contribution_periods",
    (("region", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"), ("period", "TEXT NOT NULL"), ("reference", TEXT),
     ("business_date", "DATE"), ("position", "BIGINT NOT NULL")),
    ("region", "person_id", "period"), "insert",
)
# Months contributed elsewhere, arriving (enrolment, transfer in: +) or leaving (transfer out: -).
CONTRIBUTION_MOVES = Table(
    "contribution_moves",
    (("region", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"), ("position", "BIGINT NOT NULL"), ("kind", "TEXT NOT NULL"),
     ("months", "INTEGER NOT NULL"), ("reference", TEXT), ("business_date", "DATE")),
    ("region", "person_id", "position"), "insert",
)
# One claim's arithmetic, as settled (the bands as JSON text).
CLAIMS = Table(
    "claims",
    (("region", "TEXT NOT NULL"), ("claim_id", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"), ("kind", "TEXT NOT NULL"),
     ("business_date", "DATE"), ("policy_version", TEXT), ("treating_region", TEXT), ("institution_id", TEXT),
     ("hospital_level", "INTEGER"), ("condition_code", TEXT), ("admission_number", "INTEGER"), ("total_cost_fen", MONEY),
     ("excluded_fen", MONEY), ("deductible_fen", MONEY), ("copay_fen", MONEY), ("pooled_fen", MONEY), ("account_fen", MONEY),
     ("out_of_pocket_fen", MONEY), ("above_ceiling_fen", MONEY), ("referred_to", TEXT), ("annual_ceiling_fen", "BIGINT"),
     ("ceiling_remaining_before_fen", "BIGINT"), ("fiscal_receivable_fen", MONEY), ("bands", TEXT), ("position", "BIGINT NOT NULL")),
    ("region", "claim_id"), "insert",
)
CLAIM_REVERSALS = Table(
    "claim_reversals",
    (("region", "TEXT NOT NULL"), ("claim_id", "TEXT NOT NULL"), ("correction_id", "TEXT NOT NULL"), ("business_date", "DATE"),
     ("account_refund_fen", MONEY), ("pooled_refund_fen", MONEY), ("reason", TEXT), ("position", "BIGINT NOT NULL")),
    ("region", "claim_id"), "insert",
)
# Each memo fund's money per person and year: paid to them (debit), received for them (credit).
MEMO_FUND_PERSONS = Table(
    "memo_fund_persons",
    (("region", "TEXT NOT NULL"), ("fund", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"), ("year", "INTEGER NOT NULL"),
     ("paid_fen", MONEY), ("received_fen", MONEY), ("postings", COUNT)),
    ("region", "fund", "person_id", "year"), "add",
)
# What each claim referred above the ceiling to a supplementary memo fund, and what it paid on it.
MEMO_FUND_REFERRALS = Table(
    "memo_fund_referrals",
    (("region", "TEXT NOT NULL"), ("fund", "TEXT NOT NULL"), ("claim_id", "TEXT NOT NULL"), ("person_id", "TEXT NOT NULL"),
     ("referred_fen", MONEY), ("paid_fen", MONEY)),
    ("region", "fund", "claim_id", "person_id"), "add",
)
# Each year's close, where it is in the log: it turns the region's current-year money into
# carried-over money (``projections.as_of`` folds balances as of a date with it).
YEAR_CLOSES = Table(
    "year_closes",
    (("region", "TEXT NOT NULL"), ("closed_year", "INTEGER NOT NULL"), ("position", "BIGINT NOT NULL"), ("business_date", "DATE")),
    ("region", "closed_year"), "insert",
)
# Every budget line as approved or adjusted, in log order: the budget as of a date is the latest
# of each item on or before it (``budgets`` keeps only the latest).
BUDGET_HISTORY = Table(
    "budget_history",
    (("region", "TEXT NOT NULL"), ("fund", "TEXT NOT NULL"), ("year", "INTEGER NOT NULL"), ("item", "TEXT NOT NULL"),
     ("position", "BIGINT NOT NULL"), ("budget_kind", "TEXT NOT NULL"), ("amount_fen", MONEY), ("business_date", "DATE")),
    ("region", "fund", "year", "item", "position"), "insert",
)
FOLDED_TABLES: tuple[Table, ...] = (CONTRIBUTION_PERIODS, CONTRIBUTION_MOVES, CLAIMS, CLAIM_REVERSALS, MEMO_FUND_PERSONS,
                                    MEMO_FUND_REFERRALS, YEAR_CLOSES, BUDGET_HISTORY)

TABLES: tuple[Table, ...] = (PERSONAL_BALANCES, PERSONAL_STATEMENTS, ACCOUNT_BALANCES, ACCOUNT_FLOWS,
                             INCOME, EXPENDITURE, TRANSFERS, BUDGETS, ACCOUNT_DAILY, *FOLDED_TABLES)
# Tables whose values add up across batches (upserted as ``value = value + delta``).
ADDITIVE = (ACCOUNT_BALANCES, ACCOUNT_FLOWS, INCOME, EXPENDITURE, TRANSFERS, ACCOUNT_DAILY)

INDEXES = (
    "CREATE INDEX IF NOT EXISTS {p}personal_statements_date_idx ON {p}personal_statements (region, business_date)",
    "CREATE INDEX IF NOT EXISTS {p}account_flows_year_idx ON {p}account_flows (region, year, account)",
    "CREATE INDEX IF NOT EXISTS {p}account_daily_day_idx ON {p}account_daily (business_day)",
)


def _views(p: str) -> dict[str, str]:
    """The derived views. Written in the SQL that PostgreSQL and SQLite (3.25+) both accept."""
    return {
        "fund_balances": f"""
            SELECT region, account, SUBSTR(account, 6) AS fund, credit_fen - debit_fen AS balance_fen,
                   credit_fen AS credit_fen, debit_fen AS debit_fen, postings
            FROM {p}account_balances WHERE account LIKE 'fund.%'""",
        "clearing_positions": f"""
            SELECT region, SUBSTR(account, 17) AS other_region, debit_fen, credit_fen,
                   debit_fen - credit_fen AS net_receivable_fen
            FROM {p}account_balances WHERE account LIKE 'clearing.region.%'""",
        "budget_execution": f"""
            WITH actual AS (
                SELECT region, fund, year, item, SUM(amount_fen - reversed_fen) AS actual_fen
                FROM {p}income GROUP BY region, fund, year, item
                UNION ALL
                SELECT region, fund, year, item, SUM(amount_fen - reversed_fen) AS actual_fen
                FROM {p}expenditure GROUP BY region, fund, year, item
            ), lines AS (
                SELECT region, fund, year, item FROM {p}budgets
                UNION SELECT region, fund, year, item FROM actual
            )
            SELECT l.region, l.fund, l.year, l.item,
                   CASE WHEN l.item LIKE 'income.%' THEN 'income' ELSE 'expenditure' END AS line,
                   b.approved_fen, b.adjusted_fen, COALESCE(b.budget_fen, 0) AS budget_fen,
                   COALESCE(a.actual_fen, 0) AS actual_fen,
                   COALESCE(a.actual_fen, 0) - COALESCE(b.budget_fen, 0) AS variance_fen,
                   CASE WHEN COALESCE(b.budget_fen, 0) <> 0
                        THEN ROUND(COALESCE(a.actual_fen, 0) * 100.0 / b.budget_fen, 2) END AS execution_rate_pct
            FROM lines l
            LEFT JOIN {p}budgets b ON b.region = l.region AND b.fund = l.fund AND b.year = l.year AND b.item = l.item
            LEFT JOIN actual a ON a.region = l.region AND a.fund = l.fund AND a.year = l.year AND a.item = l.item""",
        "final_accounts": f"""
            WITH flows AS (
                SELECT region, fund, year, SUM(amount_fen - reversed_fen) AS income_fen, 0 AS expenditure_fen,
                       0 AS transfer_in_fen, 0 AS transfer_out_fen FROM {p}income GROUP BY region, fund, year
                UNION ALL
                SELECT region, fund, year, 0, SUM(amount_fen - reversed_fen), 0, 0 FROM {p}expenditure GROUP BY region, fund, year
                UNION ALL
                SELECT region, fund, year, 0, 0, SUM(in_fen), SUM(out_fen) FROM {p}transfers GROUP BY region, fund, year
            ), years AS (
                SELECT region, fund, year, SUM(income_fen) AS income_fen, SUM(expenditure_fen) AS expenditure_fen,
                       SUM(transfer_in_fen) AS transfer_in_fen, SUM(transfer_out_fen) AS transfer_out_fen,
                       SUM(income_fen) - SUM(expenditure_fen) + SUM(transfer_in_fen) - SUM(transfer_out_fen) AS change_fen
                FROM flows GROUP BY region, fund, year
            ), months AS (
                SELECT region, year, MAX(month) AS months_elapsed FROM {p}account_flows GROUP BY region, year
            ), funds AS (
                SELECT region, fund, MIN(year) AS first_year FROM years GROUP BY region, fund
            ), every_year AS (
                -- every year of the region from the fund's first, a year without the fund's postings
                -- included: its balance carries (opening = closing)
                SELECT f.region, f.fund, m.year, COALESCE(y.income_fen, 0) AS income_fen,
                       COALESCE(y.expenditure_fen, 0) AS expenditure_fen, COALESCE(y.transfer_in_fen, 0) AS transfer_in_fen,
                       COALESCE(y.transfer_out_fen, 0) AS transfer_out_fen, COALESCE(y.change_fen, 0) AS change_fen
                FROM funds f JOIN months m ON m.region = f.region AND m.year >= f.first_year
                LEFT JOIN years y ON y.region = f.region AND y.fund = f.fund AND y.year = m.year
            )
            SELECT y.region, y.fund, y.year,
                   SUM(y.change_fen) OVER w - y.change_fen AS opening_fen,
                   y.income_fen, y.expenditure_fen, y.transfer_in_fen, y.transfer_out_fen,
                   SUM(y.change_fen) OVER w AS closing_fen,
                   m.months_elapsed,
                   CASE WHEN y.expenditure_fen > 0
                        THEN ROUND((SUM(y.change_fen) OVER w) * m.months_elapsed * 1.0 / y.expenditure_fen, 1) END
                        AS months_of_payment_capacity
            FROM every_year y JOIN months m ON m.region = y.region AND m.year = y.year
            WINDOW w AS (PARTITION BY y.region, y.fund ORDER BY y.year ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)""",
        "bank_deposits": _running_balances(p, "bank.%"),
        # What the fiscal budget owes for pooled-fund deficits it covers (应收财政补贴): raised =
        # debit_fen, cleared by a fiscal subsidy = credit_fen.
        "fiscal_receivables": _running_balances(p, "receivable.%"),
        # Each person's contribution months (Social Insurance Law art. 32: years accumulate).
        "contribution_months": f"""
            WITH paid AS (
                SELECT region, person_id, COUNT(*) AS months_paid_here, MIN(period) AS first_period, MAX(period) AS last_period
                FROM {p}contribution_periods GROUP BY region, person_id
            ), moved AS (
                SELECT region, person_id, SUM(CASE WHEN months > 0 THEN months ELSE 0 END) AS months_brought,
                       SUM(CASE WHEN months < 0 THEN -months ELSE 0 END) AS months_transferred_out
                FROM {p}contribution_moves GROUP BY region, person_id
            )
            SELECT b.region, b.person_id, COALESCE(paid.months_paid_here, 0) AS months_paid_here,
                   paid.first_period, paid.last_period, COALESCE(moved.months_brought, 0) AS months_brought,
                   COALESCE(moved.months_transferred_out, 0) AS months_transferred_out,
                   COALESCE(paid.months_paid_here, 0) + COALESCE(moved.months_brought, 0)
                       - COALESCE(moved.months_transferred_out, 0) AS contribution_months
            FROM {p}personal_balances b
            LEFT JOIN paid ON paid.region = b.region AND paid.person_id = b.person_id
            LEFT JOIN moved ON moved.region = b.region AND moved.person_id = b.person_id""",
    }


def conflict_sql(prefix: str, table: Table) -> str:
    """How a folded table's rows meet the stored ones (``Table.write``): the first row of a key
    kept, or each batch's values added to the stored ones."""
    name = prefix + table.name
    if table.write == "insert":
        return f"ON CONFLICT ({', '.join(table.key)}) DO NOTHING"
    assert table.write == "add", table
    updates = ", ".join(f"{column} = {name}.{column} + excluded.{column}" for column in table.value_names)
    return f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"


def _running_balances(p: str, accounts_like: str) -> str:
    """Per region, account and year of the debit-balance accounts ``accounts_like``: opening,
    debits, credits and closing balance; every year of the region with postings from the
    account's first, a year without the account's own included (its balance carries)."""
    return f"""
            WITH years AS (
                SELECT region, account, year, SUM(debit_fen) AS debit_fen, SUM(credit_fen) AS credit_fen
                FROM {p}account_flows WHERE account LIKE '{accounts_like}' GROUP BY region, account, year
            ), region_years AS (
                SELECT DISTINCT region, year FROM {p}account_flows
            ), accounts AS (
                SELECT region, account, MIN(year) AS first_year FROM years GROUP BY region, account
            ), every_year AS (
                SELECT a.region, a.account, r.year, COALESCE(y.debit_fen, 0) AS debit_fen, COALESCE(y.credit_fen, 0) AS credit_fen
                FROM accounts a JOIN region_years r ON r.region = a.region AND r.year >= a.first_year
                LEFT JOIN years y ON y.region = a.region AND y.account = a.account AND y.year = r.year
            )
            SELECT region, account, year,
                   SUM(debit_fen - credit_fen) OVER w - (debit_fen - credit_fen) AS opening_fen,
                   debit_fen, credit_fen, SUM(debit_fen - credit_fen) OVER w AS closing_fen
            FROM every_year
            WINDOW w AS (PARTITION BY region, account ORDER BY year ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def view_definitions(prefix: str) -> dict[str, str]:
    """The views' bodies, by name without the prefix, reading the tables of ``prefix``."""
    return _views(prefix)


def create_statements(prefix: str) -> list[str]:
    statements = [table.create_sql(prefix) for table in TABLES]
    statements += [index.format(p=prefix) for index in INDEXES]
    statements += [f"CREATE VIEW {prefix}{name} AS {body}" for name, body in _views(prefix).items()]
    return statements


def view_names(prefix: str) -> list[str]:
    return [prefix + name for name in _views(prefix)]


def drop_statements(prefix: str) -> list[str]:
    return ([f"DROP VIEW IF EXISTS {name}" for name in view_names(prefix)]
            + [f"DROP TABLE IF EXISTS {prefix}{table.name}" for table in TABLES])
