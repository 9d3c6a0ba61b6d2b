"""A deficit of the pooled fund booked against a receivable from the fiscal budget (where the
region's policy allows it) is kept apart and shown in the final accounts until a fiscal subsidy
clears it (issue 10, error 4).

Scenario (policy of tests/projections/scenario.py with ``pooled_deficit = "fiscal_receivable"``):
2024-01 remittance: A 5,000 and B 3,000 yuan: pooled fund 260.00 + 120.00 = 380.00.
2024-02-10 B at a level-3 hospital, 10,000.00 yuan: deductible 700.00, 20% of 9,300.00 = 1,860.00,
pooled 7,440.00; the fund holds 380.00: a deficit of 7,060.00 is receivable from the fiscal budget.
2025-03-01 a fiscal subsidy of 10,000.00: 7,060.00 clears the receivable, 2,940.00 is income.
"""

from __future__ import annotations

from datetime import date

from ledger.application import Ledger
from ledger.commands import RecordIncome
from ledger.policy import load_policy_file
from projections.projector import Projector
from projections.reports import Filters, as_of_report, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, inpatient, remit


def build(ledger: Ledger) -> None:
    shipped = load_policy_file()
    ledger.open_region(shipped.model_copy(update={"versions": [shipped.versions[0].model_copy(update={"pooled_deficit": "fiscal_receivable"})]}))
    enrol_both(ledger)
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    assert inpatient(ledger, "IP1", B, date(2024, 2, 10), 1_000_000)["fiscal_receivable_fen"] == 706_000


def receivables(store: ProjectionStore | object, prefix: str = "proj_") -> list[tuple]:
    report = run_report("final-accounts", store, Filters(region=REGION), prefix)  # type: ignore[arg-type]
    [section] = [s for s in report.sections if s.name == "receivables"]
    return [(r["year"], r["opening_fen"], r["debit_fen"], r["credit_fen"], r["closing_fen"]) for r in section.rows]


def test_the_final_accounts_show_the_receivable_until_a_fiscal_subsidy_clears_it(sqlite_ledger: Ledger, store: ProjectionStore,
                                                                              projector: Projector) -> None:
    build(sqlite_ledger)
    projector.catch_up()
    assert receivables(store) == [(2024, 0, 706_000, 0, 706_000)]
    pooled = {r["year"]: r for r in run_report("final-accounts", store, Filters(region=REGION)).sections[0].rows if r["fund"] == "pooled"}
    # 380.00 contributions + 7,060.00 receivable income - 7,440.00 inpatient = 0: the fund never below zero.
    assert (pooled[2024]["income_fen"], pooled[2024]["expenditure_fen"], pooled[2024]["closing_fen"]) == (38_000 + 706_000, 744_000, 0)
    sqlite_ledger.record_income(RecordIncome(REGION, "FISCAL-2025", "pooled", "fiscal_subsidy", 1_000_000, date(2025, 3, 1)))
    projector.catch_up()
    assert receivables(store) == [(2024, 0, 706_000, 0, 706_000), (2025, 706_000, 0, 706_000, 0)]
    pooled = {r["year"]: r for r in run_report("final-accounts", store, Filters(region=REGION)).sections[0].rows if r["fund"] == "pooled"}
    assert (pooled[2025]["opening_fen"], pooled[2025]["income_fen"], pooled[2025]["closing_fen"]) == (0, 294_000, 294_000)
    as_of, _ = as_of_report(sqlite_ledger, store, "final-accounts", date(2024, 12, 31), Filters(region=REGION))
    assert [(r["year"], r["closing_fen"]) for r in as_of.sections[2].rows] == [(2024, 706_000)]
