"""Reports that went wrong on books a little out of the ordinary: a movement recorded after a
later-dated one, a year without postings, a claim that does not exist."""

from __future__ import annotations

from datetime import date

from ledger.application import Ledger
from projections.projector import Projector
from projections.reports import Filters, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, outpatient, remit


def balances(store: ProjectionStore, **filters: object) -> list[tuple[str, int, int]]:
    report = run_report("statement", store, Filters(**filters))  # type: ignore[arg-type]
    return [(row["business_date"], row["change_fen"], row["balance_fen"]) for row in report.sections[0].rows]


def test_a_statement_of_a_year_runs_from_the_balance_before_the_year_in_date_order(
        sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """A December bill recorded after January's contribution: the full statement puts it in
    December; the statement of 2025 starts from the balance at the end of 2024 (9,000), not from
    the balance before the first movement recorded in 2025 (14,000, the bill not yet recorded)."""
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    remit(sqlite_ledger, "2024-12", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    remit(sqlite_ledger, "2025-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    outpatient(sqlite_ledger, "OP-LATE", A, date(2024, 12, 28), 5_000)
    Projector(sqlite_ledger, store).catch_up()
    full = balances(store, person=A)
    assert full == [("2024-12-15", 14_000, 14_000), ("2024-12-28", -5_000, 9_000), ("2025-01-15", 14_000, 23_000)]
    assert balances(store, person=A, year=2024) == full[:2]
    assert balances(store, person=A, year=2025) == full[2:]  # 28,000 before
    assert balances(store, region=REGION, person=A, year=2025) == full[2:]
    by_person = run_report("statement", store, Filters(region=REGION, year=2025)).sections[0].rows
    assert {row["person_id"]: row["balance_fen"] for row in by_person} == {A: 23_000, B: 2 * 12_000}
    assert balances(store, person=A, year=2026) == []
