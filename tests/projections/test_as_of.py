"""As of a past business date, every report answered from the events equals what the live
projection showed on that date."""

from __future__ import annotations

from datetime import date, timedelta

from ledger.application import Ledger
from projections.projector import Projector
from projections.reports import AS_OF_FROM_TABLES, Filters, as_of_report, as_of_store, run_report
from projections.reports import REPORTS as ALL_REPORTS
from projections.store import ProjectionStore
from tests.projections.scenario import (
    OTHER_REGION,
    REGION,
    WAGE_A_FEN,
    WAGE_B_FEN,
    A,
    B,
    enrol_both,
    inpatient,
    open_regions,
    outpatient,
    remit,
)
from tests.projections.test_reports import build

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


AS_OF_DAYS = [date(2023, 12, 31), date(2024, 1, 14), date(2024, 1, 15), date(2024, 2, 1), date(2024, 2, 10),
              date(2024, 2, 14), date(2024, 2, 15), date(2024, 6, 30), date(2024, 12, 31), date(2025, 1, 15),
              date(2025, 2, 1), date(2030, 1, 1)]
FILTERS = [Filters(), Filters(region=REGION), Filters(region=OTHER_REGION), Filters(period="quarter"),
           Filters(period="year", year=2024), Filters(region=REGION, year=2025)]


def test_as_of_from_the_tables_equals_the_fold_from_the_events(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    build(sqlite_ledger)
    Projector(sqlite_ledger, store, batch_size=3).catch_up()
    assert set(ALL_REPORTS) >= AS_OF_FROM_TABLES
    for day in AS_OF_DAYS:
        for filters in FILTERS:
            folded = as_of_store(sqlite_ledger, day, filters.region)
            try:
                for name in sorted(ALL_REPORTS):
                    report, source = as_of_report(sqlite_ledger, store, name, day, filters)
                    assert source == ("tables" if name in AS_OF_FROM_TABLES else "events")
                    expected = run_report(name, folded, filters)
                    assert report == expected, (name, day, filters)
            finally:
                folded.close()


def test_as_of_a_date_before_any_posting_is_empty(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    build(sqlite_ledger)
    Projector(sqlite_ledger, store).catch_up()
    for name in sorted(AS_OF_FROM_TABLES):
        report, _ = as_of_report(sqlite_ledger, store, name, date(2023, 12, 31), Filters())
        if name == "personal":  # the accounts opened by then, with nothing in them
            assert {(row["person_id"], row["balance_fen"]) for row in report.sections[0].rows} == {(A, 0), (B, 0)}
            continue
        assert all(section.rows == [] for section in report.sections), name
    live = run_report("balances", store, Filters())
    assert as_of_report(sqlite_ledger, store, "balances", date(9999, 12, 31), Filters())[0] == live
