"""Each report on a small scenario whose arithmetic is written out here.

Wages: A 5,000 yuan (under 35), B 3,000 yuan (45 and over). Per month:
  A: employee 2% = 100.00, employer 6% = 300.00 of which 0.8% = 40.00 to the account, 260.00 pooled
  B: employee 2% =  60.00, employer 6% = 180.00 of which 2%   = 60.00 to the account, 120.00 pooled
  remittance = 400.00 + 240.00 = 640.00; personal 140.00 + 120.00 = 260.00; pooled 380.00
2024-02-01 A outpatient 30.00 from the account.
2024-02-10 B inpatient 1,000.00 at level 3: deductible 700.00, 20% of the 300.00 above = 60.00,
  pooled 240.00; B's share 760.00: the account pays its 120.00, 640.00 out of pocket.
2024-02 remittance again (A +140.00, B +120.00). 2025-01 remittance for A only (400.00: A +140.00,
pooled +260.00). 2025-02-01 A outpatient 300.00: draws A's 250.00 carried over from 2024 first,
then 50.00 of the 140.00 of 2025.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import date

import pytest

from ledger.application import Ledger
from projections.projector import Projector
from projections.reports import Filters, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, inpatient, open_regions, outpatient, remit


def build(ledger: Ledger) -> None:
    open_regions(ledger)
    enrol_both(ledger)
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    outpatient(ledger, "OP1", A, date(2024, 2, 1), 3_000)
    inpatient(ledger, "IP1", B, date(2024, 2, 10), 100_000)
    remit(ledger, "2024-02", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    remit(ledger, "2025-01", {A: WAGE_A_FEN}, 40_000)
    outpatient(ledger, "OP2", A, date(2025, 2, 1), 30_000)


@pytest.fixture
def books(sqlite_ledger: Ledger, store: ProjectionStore, projector: Projector) -> ProjectionStore:
    build(sqlite_ledger)
    projector.catch_up()
    return store


def rows(store: ProjectionStore, name: str, section: str | None = None, **filters: object) -> list[dict]:
    report = run_report(name, store, Filters(**filters))  # type: ignore[arg-type]
    chosen = [s for s in report.sections if section is None or s.name == section]
    return chosen[0].rows


def test_fund_balances_are_income_less_expenditure(books: ProjectionStore) -> None:
    funds = {r["fund"]: r["balance_fen"] for r in rows(books, "balances", region=REGION)}
    assert funds["pooled"] == 38_000 + 38_000 + 26_000 - 24_000  # 780.00 yuan
    assert funds["personal"] == (26_000 - 3_000 - 12_000) + 26_000 + 14_000 - 30_000  # 210.00 yuan


def test_personal_balances_split_by_origin_and_carried_over_first(books: ProjectionStore) -> None:
    a = rows(books, "personal", person=A)[0]
    assert a["credited_employee_share_fen"] == 10_000 * 3
    assert a["credited_employer_share_fen"] == 4_000 * 3
    assert a["debited_fen"] == 3_000 + 30_000
    assert a["balance_fen"] == 14_000 * 3 - 33_000
    # End of 2024: 140 - 30 + 140 = 250.00 carried over; 2025: +140, then 300 paid: 250 carried first.
    assert (a["carried_over_fen"], a["current_year_fen"], a["current_year"]) == (0, 14_000 - (30_000 - 25_000), 2025)
    b = rows(books, "personal", person=B)[0]
    assert (b["balance_fen"], b["carried_over_fen"], b["current_year_fen"]) == (12_000 - 12_000 + 12_000, 0, 12_000)


def test_statement_has_every_movement_with_running_balance(books: ProjectionStore) -> None:
    lines = rows(books, "statement", person=A)
    assert [(line["business_date"], line["change_fen"], line["balance_fen"]) for line in lines] == [
        ("2024-01-15", 14_000, 14_000),
        ("2024-02-01", -3_000, 11_000),
        ("2024-02-15", 14_000, 25_000),
        ("2025-01-15", 14_000, 39_000),
        ("2025-02-01", -30_000, 9_000),
    ]
    assert (lines[3]["carried_over_fen"], lines[3]["current_year_fen"]) == (25_000, 14_000)
    assert lines[0]["reference"] == "E1-2024-01" and lines[1]["reference"] == "OP1"


def test_income_and_expenditure_are_separate_reports_by_month_quarter_and_year(books: ProjectionStore) -> None:
    monthly = {(r["period"], r["fund"], r["item"]): r["amount_fen"] for r in rows(books, "income", region=REGION)}
    assert monthly[("2024-01", "pooled", "income.contribution")] == 38_000
    assert monthly[("2024-02", "personal", "income.contribution")] == 26_000
    quarterly = {(r["period"], r["fund"]): r["amount_fen"] for r in rows(books, "income", region=REGION, period="quarter")}
    assert quarterly[("2024-Q1", "pooled")] == 38_000 * 2
    yearly = {(r["period"], r["fund"]): r["amount_fen"] for r in rows(books, "income", region=REGION, period="year")}
    assert yearly == {("2024", "personal"): 26_000 * 2, ("2024", "pooled"): 38_000 * 2,
                      ("2025", "personal"): 14_000, ("2025", "pooled"): 26_000}
    spent = {(r["period"], r["fund"], r["item"]): r["amount_fen"] for r in rows(books, "expenditure", period="year")}
    assert spent == {
        ("2024", "personal", "expenditure.benefit.outpatient"): 3_000,
        ("2024", "personal", "expenditure.benefit.inpatient_self_pay"): 12_000,
        ("2024", "pooled", "expenditure.benefit.inpatient"): 24_000,
        ("2025", "personal", "expenditure.benefit.outpatient"): 30_000,
    }
    # Never netted: no expenditure line appears in the income report and vice versa.
    assert all(r["item"].startswith("income.") for r in rows(books, "income"))


def test_final_accounts_opening_plus_income_less_expenditure_is_closing(books: ProjectionStore) -> None:
    funds = {(r["year"], r["fund"]): r for r in rows(books, "final-accounts", "funds", region=REGION)}
    pooled_2024 = funds[(2024, "pooled")]
    assert (pooled_2024["opening_fen"], pooled_2024["income_fen"], pooled_2024["expenditure_fen"], pooled_2024["closing_fen"]) == (
        0, 76_000, 24_000, 76_000 - 24_000)
    # Months of payment capacity: 520.00 closing / (240.00 spent over 2 months) = 4.3 months.
    assert str(pooled_2024["months_of_payment_capacity"]) == "4.3"
    pooled_2025 = funds[(2025, "pooled")]
    assert (pooled_2025["opening_fen"], pooled_2025["closing_fen"]) == (52_000, 52_000 + 26_000)
    personal_2025 = funds[(2025, "personal")]
    assert (personal_2025["opening_fen"], personal_2025["closing_fen"]) == (37_000, 37_000 + 14_000 - 30_000)
    assert all(r["check"] == "ok" for r in funds.values())
    deposits = {(r["year"], r["account"]): r["closing_fen"] for r in rows(books, "final-accounts", "deposits", region=REGION)}
    total_2025 = sum(amount for (year, _), amount in deposits.items() if year == 2025)
    assert total_2025 >= 0


def test_budget_versus_actual(sqlite_ledger: Ledger, books: ProjectionStore, projector: Projector) -> None:
    from ledger.commands import BudgetLine, SetBudget

    sqlite_ledger.set_budget(SetBudget(REGION, "B2024", "pooled", 2024, "approved",
                                       (BudgetLine("income.contribution", 100_000), BudgetLine("expenditure.benefit.inpatient", 50_000)),
                                       date(2024, 1, 5)))
    sqlite_ledger.set_budget(SetBudget(REGION, "B2024-adj", "pooled", 2024, "adjusted",
                                       (BudgetLine("expenditure.benefit.inpatient", 30_000),), date(2024, 6, 30)))
    projector.catch_up()
    lines = {r["item"]: r for r in rows(books, "budget", region=REGION, year=2024) if r["fund"] == "pooled"}
    income_line = lines["income.contribution"]
    assert (income_line["budget_fen"], income_line["actual_fen"], income_line["variance_fen"]) == (100_000, 76_000, 76_000 - 100_000)
    assert str(income_line["execution_rate_pct"]) == "76.00"
    spending = lines["expenditure.benefit.inpatient"]
    assert (spending["approved_fen"], spending["adjusted_fen"], spending["budget_fen"]) == (50_000, 30_000, 30_000)
    assert str(spending["execution_rate_pct"]) == "80.00"  # 240.00 of 300.00


def test_clearing_positions_between_regions(sqlite_ledger: Ledger, books: ProjectionStore, projector: Projector) -> None:
    from ledger.commands import SettleCrossRegion

    # A treated in 210200: same split as B's bill above, pooled share 240.00 owed by home to treating region.
    outcome = sqlite_ledger.settle_cross_region(SettleCrossRegion("210200", REGION, "X1", A, 3, date(2025, 3, 1), date(2025, 3, 5), 100_000))
    projector.catch_up()
    positions = {(r["region"], r["other_region"]): r["net_receivable_fen"] for r in rows(books, "clearing")}
    owed_fen = positions[("210200", REGION)]
    assert owed_fen > 0 and positions[(REGION, "210200")] == -owed_fen
    assert owed_fen == outcome["pooled_fen"] + outcome["account_fen"]


def test_cli_report_formats(sqlite_env: dict[str, str], books: ProjectionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import main

    monkeypatch.setenv("FUND_LEDGER_SQLITE", sqlite_env["SQLITE_DBNAME"])
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            code = main(["report", *argv])
        return code, out.getvalue()

    code, text = run("balances", "--region", REGION, "--format", "json")
    document = json.loads(text)
    assert code == 0 and document["units"] == "fen"
    assert {r["fund"]: r["balance_fen"] for r in document["sections"]["funds"]}["pooled"] == 78_000
    code, text = run("income", "--period", "year", "--format", "csv", "--region", REGION)
    assert "Income item (收入项目)" in text.splitlines()[0] and "760.00" in text
    code, text = run("balances", "--region", REGION, "--as-of", "2024-01-31")
    assert code == 0 and "380.00" in text  # the pooled fund after January only
    assert run("statement")[0] == 2  # --person missing: a user error, rendered by main
