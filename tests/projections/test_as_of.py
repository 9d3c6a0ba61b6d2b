"""As of a past business date, every report answered from the events equals what the live
projection showed on that date."""

from __future__ import annotations

from datetime import date, timedelta

from ledger.application import Ledger
from projections.projector import Projector
from projections.reports import Filters, as_of_store, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, inpatient, open_regions, outpatient, remit

REPORTS = [("balances", Filters(region=REGION)), ("personal", Filters(region=REGION)), ("trial-balance", Filters()),
           ("income", Filters(period="quarter")), ("expenditure", Filters()), ("final-accounts", Filters(region=REGION)),
           ("statement", Filters(person=A))]


def snapshot(store: ProjectionStore) -> dict[str, list]:
    return {name: [section.rows for section in run_report(name, store, filters).sections] for name, filters in REPORTS}


def test_as_of_equals_the_live_projection_on_that_date(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    days = {
        date(2024, 1, 15): lambda: remit(sqlite_ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000),
        date(2024, 2, 1): lambda: outpatient(sqlite_ledger, "OP1", A, date(2024, 2, 1), 3_000),
        date(2024, 2, 14): lambda: inpatient(sqlite_ledger, "IP1", B, date(2024, 2, 10), 100_000),
        date(2024, 2, 15): lambda: remit(sqlite_ledger, "2024-02", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000),
        date(2025, 1, 15): lambda: remit(sqlite_ledger, "2025-01", {A: WAGE_A_FEN}, 40_000),
        date(2025, 2, 1): lambda: outpatient(sqlite_ledger, "OP2", A, date(2025, 2, 1), 30_000),
    }
    projector = Projector(sqlite_ledger, store, batch_size=2)
    recorded = {}
    for day, use_case in days.items():
        projector.catch_up()
        recorded[day - timedelta(days=1)] = snapshot(store)  # the evening before
        use_case()
        projector.catch_up()
        recorded[day] = snapshot(store)  # the evening of the day
    for day, live in recorded.items():
        as_of = as_of_store(sqlite_ledger, day)
        try:
            assert snapshot(as_of) == live, day
        finally:
            as_of.close()
    assert recorded[date(2024, 1, 31)] == recorded[date(2024, 1, 15)]
    assert recorded[date(2024, 1, 14)]["balances"] == [[]]
