"""The year-end close in the projections: right after ``close_year``, with no later movement, the
personal balances show the closed year's money as carried over (DOMAIN "Interest": year end turns
the current year's balances into carried-over balances), live and as of a date.

Scenario (tests/projections/scenario.py): one January 2024 remittance.
  A (5,000 yuan, under 35): employee 2% = 100.00 + employer 0.8% = 40.00 -> account 140.00
  B (3,000 yuan, 45 and over): employee 2% = 60.00 + employer 2% = 60.00 -> account 120.00
Before the close both are 2024 money; after the close of 2024 both are carried over into 2025.
"""

from __future__ import annotations

from datetime import date

from ledger.application import Ledger
from ledger.commands import CloseYear
from projections.projector import Projector
from projections.reports import Filters, as_of_report, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, remit

SPLIT_KEYS = ("balance_fen", "carried_over_fen", "current_year_fen", "current_year")


def january(ledger: Ledger) -> None:
    open_regions(ledger)
    enrol_both(ledger)
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)


def split(rows: list[dict]) -> dict[str, tuple]:
    return {row["person_id"]: tuple(row[key] for key in SPLIT_KEYS) for row in rows}


def test_right_after_the_close_the_live_balances_are_carried_over(sqlite_ledger: Ledger, store: ProjectionStore,
                                                                    projector: Projector) -> None:
    january(sqlite_ledger)
    projector.catch_up()
    before = split(run_report("personal", store, Filters(region=REGION)).sections[0].rows)
    assert before == {A: (14_000, 0, 14_000, 2024), B: (12_000, 0, 12_000, 2024)}
    sqlite_ledger.close_year(CloseYear(REGION, 2024))
    projector.catch_up()
    after = split(run_report("personal", store, Filters(region=REGION)).sections[0].rows)
    assert after == {A: (14_000, 14_000, 0, 2025), B: (12_000, 12_000, 0, 2025)}


def test_the_close_is_folded_in_the_same_batch_as_the_years_movements(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    january(sqlite_ledger)
    sqlite_ledger.close_year(CloseYear(REGION, 2024))
    Projector(sqlite_ledger, store, batch_size=1000).catch_up()  # every event in one batch
    after = split(run_report("personal", store, Filters(region=REGION)).sections[0].rows)
    assert after == {A: (14_000, 14_000, 0, 2025), B: (12_000, 12_000, 0, 2025)}


def test_as_of_the_last_day_of_a_closed_year_the_money_is_carried_over(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    january(sqlite_ledger)
    sqlite_ledger.close_year(CloseYear(REGION, 2024))
    Projector(sqlite_ledger, store).catch_up()  # as the report command does before an as-of report
    on_the_eve, _ = as_of_report(sqlite_ledger, store, "personal", date(2024, 12, 30), Filters(region=REGION))
    assert split(on_the_eve.sections[0].rows) == {A: (14_000, 0, 14_000, 2024), B: (12_000, 0, 12_000, 2024)}
    closed, _ = as_of_report(sqlite_ledger, store, "personal", date(2024, 12, 31), Filters(region=REGION))
    assert split(closed.sections[0].rows) == {A: (14_000, 14_000, 0, 2025), B: (12_000, 12_000, 0, 2025)}


def test_closing_one_region_leaves_the_other_regions_accounts_alone(sqlite_ledger: Ledger, store: ProjectionStore,
                                                                    projector: Projector) -> None:
    january(sqlite_ledger)
    sqlite_ledger.close_year(CloseYear("210200", 2024))
    projector.catch_up()
    assert split(run_report("personal", store, Filters(region=REGION)).sections[0].rows) == {
        A: (14_000, 0, 14_000, 2024), B: (12_000, 0, 12_000, 2024)}
