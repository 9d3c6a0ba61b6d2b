"""Personal accounts and statements as of a business date, from the projection tables.

A balance as of a date depends on the order of the events, not only on sums: a credit is current-
year or carried-over money by when it came, a payment draws on carried-over money first, a year's
close turns the current year's money into carried-over money. So the balances are folded again,
with the live fold's own rule (``projections.fold.PersonalRow``), from what the tables keep in
log order: each movement of an account (``personal_statements``, with its credit by origin), the
account's opening (``personal_balances.opened_position``) and each year's close
(``year_closes``). Only the accounts asked for are read: one person's balance as of a date costs
the reads of that person's movements, however long the log (``docs/benchmarks.md``).

The result is what ``projections.reports.as_of_store`` gives by folding the events with a
business date on or before the day (the reference, and what the tests compare with): the same
movements, in the same order, through the same rule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from projections import schema
from projections.fold import PersonalRow, credits_by_column
from projections.schema import ORIGIN_COLUMNS, OTHER_ORIGIN_COLUMN
from projections.store import ProjectionStore, memory_store

CREDIT_COLUMNS = (*ORIGIN_COLUMNS.values(), OTHER_ORIGIN_COLUMN)
AS_OF_TABLES = (schema.PERSONAL_BALANCES, schema.PERSONAL_STATEMENTS)  # what the reports on the folded store read
# A column back to an origin that ``PersonalRow.move`` files under it again.
ORIGIN_OF_COLUMN = {column: origin for origin, column in ORIGIN_COLUMNS.items()} | {OTHER_ORIGIN_COLUMN: "other"}
STATEMENT_HEAD = ("region", "person_id", "position", "business_date", "event_type", "originator_id", "originator_version",
                  "reference", "items", "origins", "credit_fen", "debit_fen")


AccountKey = tuple[str, str]  # (region, person_id)


def accounts_page_as_of(store: Any, day: date, region: str | None, person: str | None, limit: int, offset: int,
                        prefix: str = schema.LIVE_PREFIX) -> tuple[list[AccountKey], int]:
    """The accounts of a page of the personal accounts as of the end of ``day`` (``limit`` after
    ``offset``, in the order of their key), and how many accounts there were then, from the
    tables: an account counts from its enrolment on or before ``day`` or its first movement
    dated on or before it (undated: always), as ``fold_as_of`` decides. A page then folds its own
    accounts only, not the region's (``personal_store_as_of(..., between=...)``)."""
    where, params = _filters(region, person, "b.")
    iso = day.isoformat()
    existing = (f"FROM {prefix}personal_balances b WHERE {where} AND ((b.enrolled_on IS NOT NULL AND b.enrolled_on <= ?) "
                f"OR EXISTS (SELECT 1 FROM {prefix}personal_statements s WHERE s.region = b.region AND s.person_id = b.person_id "
                "AND (s.business_date IS NULL OR s.business_date <= ?)))")
    rows = store.query(f"SELECT b.region, b.person_id {existing} ORDER BY b.region, b.person_id "
                       f"LIMIT {int(limit):d} OFFSET {int(offset):d}", (*params, iso, iso))
    keys = [(str(row["region"]), str(row["person_id"])) for row in rows]
    if offset == 0 and len(keys) < limit:
        return keys, len(keys)
    counted = store.query(f"SELECT COUNT(*) AS n {existing}", (*params, iso, iso))
    return keys, int(counted[0]["n"])


def personal_store_as_of(store: Any, day: date, region: str | None, person: str | None,
                         prefix: str = schema.LIVE_PREFIX, between: tuple[AccountKey, AccountKey] | None = None) -> ProjectionStore:
    """A private in-memory store whose ``personal_balances`` and ``personal_statements`` are the
    accounts of ``region`` (and ``person``) as they stood at the end of ``day``; with
    ``between``, only the accounts from the first key to the last (a page's)."""
    where, params = _filters(region, person)
    if between is not None:
        (first_region, first_person), (last_region, last_person) = between
        where += (" AND (region > ? OR (region = ? AND person_id >= ?)) AND (region < ? OR (region = ? AND person_id <= ?))")
        params += [first_region, first_region, first_person, last_region, last_region, last_person]
    iso = day.isoformat()
    accounts = store.query(f"SELECT region, person_id, enrolled_on, opened_position FROM {prefix}personal_balances WHERE {where}", params)
    movements = store.query(
        f"SELECT {', '.join((*STATEMENT_HEAD, *CREDIT_COLUMNS))} FROM {prefix}personal_statements "
        f"WHERE {where} AND (business_date IS NULL OR business_date <= ?) ORDER BY position", (*params, iso))
    closes = store.query(f"SELECT region, closed_year, position FROM {prefix}year_closes "
                         f"WHERE business_date IS NULL OR business_date <= ? ORDER BY position", (iso,))
    rows, statements = fold_as_of(accounts, movements, closes, iso)
    folded = memory_store()
    with folded.transaction() as cursor:
        # Only the two tables the personal reports read: creating every projection table and view
        # cost about 2 ms a call, half of one person's balance as of a date.
        for table in AS_OF_TABLES:
            cursor.execute(table.create_sql(schema.LIVE_PREFIX))
        folded.executemany(cursor, _insert(schema.PERSONAL_BALANCES), [row.as_values() for row in rows])
        folded.executemany(cursor, _insert(schema.PERSONAL_STATEMENTS), statements)
    return folded


def fold_as_of(accounts: list[dict[str, Any]], movements: list[dict[str, Any]], closes: list[dict[str, Any]],
               day: str) -> tuple[list[PersonalRow], list[tuple[Any, ...]]]:
    """Each account's row, and its statement lines, from its movements on or before ``day`` (in
    log order) and the year closes after it opened."""
    by_account: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for movement in movements:
        by_account[(movement["region"], movement["person_id"])].append(movement)
    closes_by_region: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for close in closes:
        closes_by_region[close["region"]].append((int(close["position"]), int(close["closed_year"])))
    rows, statements = [], []
    for account in accounts:
        key = (account["region"], account["person_id"])
        own = by_account.get(key, [])
        enrolled = account["enrolled_on"] is not None and str(account["enrolled_on"]) <= day
        if not enrolled and not own:
            continue  # the account did not exist yet
        opened = account["opened_position"] if enrolled else own[0]["position"]
        row = PersonalRow(key[0], key[1], str(account["enrolled_on"]) if enrolled else None, opened_position=opened)
        statements += _fold_account(row, own, [c for c in closes_by_region.get(key[0], []) if c[0] > (opened or 0)])
        rows.append(row)
    return rows, statements


def _fold_account(row: PersonalRow, movements: list[dict[str, Any]], closes: list[tuple[int, int]]) -> list[tuple[Any, ...]]:
    lines = []
    pending = iter(closes)
    close = next(pending, None)
    for movement in movements:
        position = int(movement["position"])
        while close is not None and close[0] < position:
            row.roll_into(close[1] + 1)
            close = next(pending, None)
        credits_fen = {ORIGIN_OF_COLUMN[column]: int(movement[column]) for column in CREDIT_COLUMNS if movement[column]}
        on = date.fromisoformat(str(movement["business_date"])) if movement["business_date"] is not None else None
        row.move(on, credits_fen, int(movement["debit_fen"]))
        row.last_position = position
        credit_fen, debit_fen = int(movement["credit_fen"]), int(movement["debit_fen"])
        lines.append((*(movement[name] for name in STATEMENT_HEAD), credit_fen - debit_fen, row.balance_fen, row.carried_over_fen,
                      row.current_year_fen, *credits_by_column(credits_fen)))
    for _, closed_year in ([close] if close is not None else []) + list(pending):
        row.roll_into(closed_year + 1)
    return lines


def _filters(region: str | None, person: str | None, alias: str = "") -> tuple[str, list[Any]]:
    clauses, params = ["1 = 1"], []
    if region:
        clauses.append(f"{alias}region = ?")
        params.append(region)
    if person:
        clauses.append(f"{alias}person_id = ?")
        params.append(person)
    return " AND ".join(clauses), params


def _insert(table: schema.Table) -> str:
    return (f"INSERT INTO {schema.LIVE_PREFIX}{table.name} ({', '.join(table.column_names)}) "
            f"VALUES ({', '.join('?' * len(table.columns))})")


def budgets_as_of(history: str, day: date) -> dict[str, str]:
    """The budget of each item as it stood at the end of ``day``, from its history (``history``,
    the ``budget_history`` table): the latest line on or before it by log order, and the latest
    approved and the latest adjusted amounts. As the live ``budgets`` table keeps them."""
    kept = f"SELECT * FROM {history} WHERE business_date IS NULL OR business_date <= '{day.isoformat()}'"
    key = "region, fund, year, item"
    return {
        "budget_ranked": f"SELECT h.*, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY position DESC) AS latest, "
                         f"ROW_NUMBER() OVER (PARTITION BY {key}, budget_kind ORDER BY position DESC) AS latest_of_kind "
                         f"FROM ({kept}) h",
        "budgets": "SELECT l.region, l.fund, l.year, l.item, "
                   "(SELECT k.amount_fen FROM {p}budget_ranked k WHERE k.region = l.region AND k.fund = l.fund AND k.year = l.year "
                   "AND k.item = l.item AND k.budget_kind = 'approved' AND k.latest_of_kind = 1) AS approved_fen, "
                   "(SELECT k.amount_fen FROM {p}budget_ranked k WHERE k.region = l.region AND k.fund = l.fund AND k.year = l.year "
                   "AND k.item = l.item AND k.budget_kind = 'adjusted' AND k.latest_of_kind = 1) AS adjusted_fen, "
                   "l.amount_fen AS budget_fen, l.budget_kind, l.business_date, l.position "
                   "FROM {p}budget_ranked l WHERE l.latest = 1",
    }
