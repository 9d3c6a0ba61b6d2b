"""The reports of issue 10: each person's contribution months, one claim's arithmetic, and the
memo funds by person; the tables behind them are rebuilt when a projection predates them.

Scenario (tests/projections/scenario.py, shipped policy; A under 35 on 5,000 yuan, B 45 and over
on 3,000 yuan):
- A arrives with 150 months contributed elsewhere; B with none. 2024-01 and 2024-02 are remitted
  for both: A 152 months (12 years 8 months), B 2 months. A January remittance line sent again by
  a second remittance would not count (it is refused).
- IP1: B at a level-3 hospital on 2024-02-10, 1,000.00 yuan: deductible 700.00 (1st admission),
  then 20% of 300.00 = 60.00 co-pay, pooled 240.00; B's part 760.00: the account pays what two
  months put in it, 2 × (60.00 + 2% of 3,000.00 = 60.00) = 240.00, and 520.00 is out of pocket. The ceiling (28,000.00) was unused: used after it 240.00.
- A civil servant's subsidy: A registered; 500.00 received, 200.00 paid to A.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import Enrol, RecordExpenditure, RecordIncome, RegisterMemoBeneficiary
from projections.projector import Projector
from projections.render import as_json, as_table
from projections.reports import Filters, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, inpatient, open_regions, remit


def build(ledger: Ledger) -> None:
    open_regions(ledger)
    ledger.enrol(Enrol(REGION, A, "employee", date(1990, 3, 15), "E1", date(2023, 12, 1), 0, 150, "JJJ-2023-88"))
    ledger.enrol(Enrol(REGION, B, "employee", date(1970, 6, 1), "E1", date(2023, 12, 1)))
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    remit(ledger, "2024-02", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    inpatient(ledger, "IP1", B, date(2024, 2, 10), 100_000)
    ledger.register_memo_beneficiary(RegisterMemoBeneficiary(REGION, "civil_servant_subsidy", A, date(2024, 1, 1), "HR 2024-1"))
    ledger.record_income(RecordIncome(REGION, "CS-1", "civil_servant_subsidy", "fiscal_subsidy", 50_000, date(2024, 3, 1)))
    ledger.record_expenditure(RecordExpenditure(REGION, "CS-PAY-1", "civil_servant_subsidy", "benefit", 20_000, date(2024, 3, 5), A))


@pytest.fixture
def books(sqlite_ledger: Ledger, store: ProjectionStore, projector: Projector) -> ProjectionStore:
    build(sqlite_ledger)
    projector.catch_up()
    return store


def section(store: ProjectionStore, name: str, part: str, **filters: object) -> list[dict]:
    report = run_report(name, store, Filters(**filters))  # type: ignore[arg-type]
    return next(s.rows for s in report.sections if s.name == part)


def test_each_persons_contribution_months_and_years(books: ProjectionStore) -> None:
    rows = {r["person_id"]: r for r in section(books, "contributions", "people", region=REGION)}
    assert (rows[A]["months_paid_here"], rows[A]["months_brought"], rows[A]["contribution_months"]) == (2, 150, 152)
    assert (rows[A]["first_period"], rows[A]["last_period"], rows[A]["contribution_years"]) == ("2024-01", "2024-02", "12 years 8 months")
    assert (rows[B]["contribution_months"], rows[B]["contribution_years"]) == (2, "0 years 2 months")


def test_one_claims_arithmetic(books: ProjectionStore) -> None:
    [claim] = section(books, "claim", "claim", claim="IP1")
    assert (claim["person_id"], claim["kind"], claim["admission_number"], claim["hospital_level"]) == (B, "inpatient", 1, 3)
    lines = [(r["line"], r["amount_fen"], r["patient_fen"], r["pooled_fen"]) for r in section(books, "claim", "arithmetic", claim="IP1")]
    assert lines == [("Items outside the fund's catalogue", 0, 0, 0), ("Deductible (起付标准)", 70_000, 70_000, 0),
                     ("Band above the deductible: 0.00 to 300.00 yuan", 30_000, 6_000, 24_000)]
    payers = {r["payer"]: r["amount_fen"] for r in section(books, "claim", "payers", claim="IP1")}
    assert payers["Pooled fund (统筹基金)"] == 24_000
    assert (payers["Personal account (个人账户)"], payers["Patient, out of pocket"]) == (24_000, 52_000)
    assert (payers["Ceiling used before this claim"], payers["Ceiling used after this claim"]) == (0, 24_000)
    report = run_report("claim", books, Filters(claim="IP1"))
    assert "0.20" in as_table(report)  # the band's rate, exact
    assert json.loads(as_json(report, {}))["sections"]["arithmetic"][2]["pooled_fen"] == 24_000


def test_the_memo_funds_by_person(books: ProjectionStore) -> None:
    [row] = section(books, "memo-persons", "persons", region=REGION)
    assert (row["fund"], row["person_id"], row["year"], row["paid_fen"]) == ("civil_servant_subsidy", A, 2024, 20_000)


def test_a_projection_built_before_these_tables_is_rebuilt_from_the_start(sqlite_ledger: Ledger, books: ProjectionStore) -> None:
    with books.transaction() as cursor:
        for name in ("contribution_months", "claims"):
            kind = "VIEW" if name == "contribution_months" else "TABLE"
            cursor.execute(f"DROP {kind} proj_{name}")
    Projector(sqlite_ledger, books).catch_up()
    assert [r["claim_id"] for r in section(books, "claim", "claim", claim="IP1")] == ["IP1"]


@pytest.mark.postgres
def test_the_same_reports_on_postgres(postgres_module_env: dict[str, str]) -> None:
    from projections import schema
    from projections.store import open_store

    ledger = Ledger(env=postgres_module_env)
    store = open_store(ledger)
    try:
        store.drop_tables(schema.LIVE_PREFIX)
        build(ledger)
        Projector(ledger, store, batch_size=4).catch_up()
        assert {r["person_id"]: r["contribution_months"] for r in section(store, "contributions", "people", region=REGION)} == {A: 152, B: 2}
        assert section(store, "claim", "arithmetic", claim="IP1")[1]["amount_fen"] == 70_000
        assert section(store, "memo-persons", "persons", region=REGION)[0]["paid_fen"] == 20_000
    finally:
        store.close()
        ledger.close()
