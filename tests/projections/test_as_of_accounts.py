"""Personal balances, statements and budgets as of a date, from the tables (``projections.as_of``,
the budget's history), equal the fold of the events with a business date on or before it, on a
history where order matters: a year closed with no movement after it, a movement recorded late
with an earlier date, a reversal, a budget approved then adjusted, a person enrolled after the
close, interest credited at the year end."""

from __future__ import annotations

from datetime import date

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import (
    AnnounceInterestRates,
    BudgetLine,
    CloseYear,
    Enrol,
    PostInterest,
    RecordIncome,
    ReverseClaim,
    SetBudget,
)
from projections.projector import Projector
from projections.reports import Filters, as_of_report, as_of_store, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, outpatient, remit

C = "C1"  # enrolled in 2025, after the close of 2024


def history(ledger: Ledger) -> None:
    open_regions(ledger)
    enrol_both(ledger)
    ledger.announce_interest_rates(AnnounceInterestRates("R-2023", date(2023, 6, 8), "0.0035", "0.0125", "0.0245"))
    ledger.set_budget(SetBudget(REGION, "B-APP", "pooled", 2024, "approved", (BudgetLine(acc.INCOME_CONTRIBUTION, 900_000),
                                                                           BudgetLine(acc.EXPENDITURE_INPATIENT, 500_000)), date(2024, 1, 20)))
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    outpatient(ledger, "OP1", A, date(2024, 3, 1), 3_000)
    ledger.record_income(RecordIncome(REGION, "SUB-1", "pooled", "fiscal_subsidy", 2_000_000, date(2024, 3, 5)))
    outpatient(ledger, "OP0", A, date(2024, 2, 10), 1_000)  # recorded after OP1, dated before it
    ledger.set_budget(SetBudget(REGION, "B-ADJ", "pooled", 2024, "adjusted", (BudgetLine(acc.EXPENDITURE_INPATIENT, 650_000),),
                                date(2024, 7, 1)))
    ledger.reverse_claim(ReverseClaim(REGION, "COR-OP1", "OP1", date(2024, 8, 1), "withdrawn", person_id=A))
    remit(ledger, "2024-09", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    ledger.post_interest(PostInterest(REGION, 2024))
    ledger.close_year(CloseYear(REGION, 2024))  # no movement after it for B until 2025-03
    ledger.enrol(Enrol(REGION, C, "employee", date(1985, 1, 1), "E1", date(2025, 1, 10)))
    remit(ledger, "2025-02", {A: WAGE_A_FEN, C: WAGE_A_FEN}, 80_000)
    outpatient(ledger, "OP2", A, date(2025, 2, 20), 30_000)
    outpatient(ledger, "OP3", B, date(2025, 3, 3), 500)


DAYS = [date(2023, 12, 31), date(2024, 1, 15), date(2024, 2, 10), date(2024, 3, 1), date(2024, 6, 30), date(2024, 7, 1),
        date(2024, 8, 1), date(2024, 12, 30), date(2024, 12, 31), date(2025, 1, 9), date(2025, 1, 10), date(2025, 2, 20),
        date(2025, 3, 3), date(2026, 1, 1)]
CASES = [("personal", Filters(region=REGION)), ("personal", Filters(person=A)), ("personal", Filters(region=REGION, person=B)),
         ("personal", Filters()), ("statement", Filters(person=A)), ("statement", Filters(region=REGION, person=C)),
         ("statement", Filters(person=B, year=2024)), ("budget", Filters(region=REGION)), ("budget", Filters(year=2024))]


def test_accounts_and_budgets_as_of_any_day_equal_the_fold_of_the_events(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    history(sqlite_ledger)
    Projector(sqlite_ledger, store, batch_size=4).catch_up()
    for day in DAYS:
        folded = as_of_store(sqlite_ledger, day)
        try:
            for name, filters in CASES:
                report, source = as_of_report(sqlite_ledger, store, name, day, filters)
                assert source == "tables", name
                assert report == run_report(name, folded, filters), (name, day, filters)
        finally:
            folded.close()


def test_right_after_the_close_the_closed_years_money_is_carried_over(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """B's balance on 31 December 2024 is all current-year money; the close (recorded on that
    date) makes it carried over the same day, with no later movement needed."""
    history(sqlite_ledger)
    Projector(sqlite_ledger, store).catch_up()
    report, _ = as_of_report(sqlite_ledger, store, "personal", date(2024, 12, 31), Filters(person=B))
    (b,) = report.sections[0].rows
    assert b["carried_over_fen"] == b["balance_fen"] > 0 and b["current_year_fen"] == 0 and b["current_year"] == 2025
