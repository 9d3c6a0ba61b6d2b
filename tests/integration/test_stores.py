"""One scenario on the real stores: SQLite (a file) and PostgreSQL (the server that
deploy/postgres/start.sh runs). Balances, the statement's running balance and the trial balance
are checked, then the ledger is reopened from the store and must show the same books.

Hand-computed with the shipped policy (employee 2%, employer 6%, account share by age band,
retirees 4.8% of 58,333 from 70):
  January, employer E1: P1 (33) 800,000 -> account 16,000 + 0.8% 6,400 = 22,400, pooled 41,600;
    P2 (45) 500,000 -> account 10,000 + 2% 10,000 = 20,000, pooled 20,000; R1 (73) credited 2,800.
    Payable 64,000 + 40,000 = 104,000; pooled fund 41,600 + 20,000 - 2,800 = 58,800.
  A fiscal subsidy of 500,000 to the pooled fund (it never goes below zero): 558,800.
  P1 outpatient 10,000 -> P1 12,400.
  P2 inpatient 570,000 at level 3: deductible 70,000 + 20% of 500,000 = 170,000 patient, pooled 400,000;
    the account pays its 20,000, 150,000 out of pocket. Pooled fund 558,800 - 400,000 = 158,800.
  February (one batch): the same remittance (P1 12,400 + 22,400 = 34,800, P2 0 + 20,000, R1 5,600,
    pooled 158,800 + 58,800 = 217,600) and
    R1 pharmacy 600 -> R1 5,000.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.commands import Enrol, PayOutpatient, PostRemittance, RecordIncome, RemittanceLine, SettleInpatient
from ledger.policy import load_policy_file
from ledger.settings import ledger_env

REGION = "210100"
PEOPLE = ("P1", "P2", "R1")
EXPECTED_BALANCES = {"P1": 34_800, "P2": 20_000, "R1": 5_000, "pooled": 217_600}
EXPECTED_TRIAL_BALANCE = {
    "bank.income": 708_000,  # two remittances of 104,000 and the subsidy of 500,000
    "fund.personal": -59_800,  # 34,800 + 20,000 + 5,000
    "fund.pooled": -217_600,
    "payable.hospitals": -430_600,  # 10,000 + 20,000 + 400,000 + 600
    "memo.patient_out_of_pocket": 150_000,
    "memo.hospital_charges_outside_fund": -150_000,
}


def remittance(remittance_id: str, period: str, received_on: date) -> PostRemittance:
    lines = (RemittanceLine("P1", 800_000), RemittanceLine("P2", 500_000), RemittanceLine("R1", None))
    return PostRemittance(REGION, remittance_id, "employer", "E1", period, received_on, 104_000, lines)


def run_scenario(ledger: Ledger) -> None:
    ledger.open_region(load_policy_file())
    for person_id, category, born in (("P1", "employee", date(1990, 3, 15)), ("P2", "employee", date(1979, 1, 1)),
                                      ("R1", "retiree", date(1950, 6, 1))):
        ledger.enrol(Enrol(REGION, person_id, category, born, "E1", date(2010, 1, 1)))
    ledger.post_remittance(remittance("R-01", "2024-01", date(2024, 1, 15)))
    ledger.record_income(RecordIncome(REGION, "FISCAL-1", "pooled", "fiscal_subsidy", 500_000, date(2024, 1, 16)))
    ledger.pay_outpatient(PayOutpatient(REGION, "C1", "P1", "outpatient", date(2024, 1, 20), 10_000))
    inpatient = ledger.settle_inpatient(SettleInpatient(REGION, "H1", "P2", 3, date(2024, 1, 22), date(2024, 1, 29), 570_000))
    assert (inpatient["pooled_fen"], inpatient["account_fen"], inpatient["out_of_pocket_fen"]) == (400_000, 20_000, 150_000)
    with ledger.batch() as unit:
        ledger.post_remittance(remittance("R-02", "2024-02", date(2024, 2, 15)), unit=unit)
        ledger.pay_outpatient(PayOutpatient(REGION, "C2", "R1", "pharmacy", date(2024, 2, 16), 600), unit=unit)


def books(ledger: Ledger) -> dict[str, object]:
    balances: dict[str, int] = {person: ledger.personal_account(REGION, person).balance_fen for person in PEOPLE}
    balances["pooled"] = ledger.pooled_fund(REGION).balance_fen
    statement = [(line["reference"], line["change_fen"], line["balance_fen"]) for line in ledger.statement(REGION, "P1")]
    return {"balances": balances, "statement": statement, "trial_balance": ledger.trial_balance()}


def check_books(found: dict[str, object]) -> None:
    assert found["balances"] == EXPECTED_BALANCES
    assert found["statement"] == [("R-01", 22_400, 22_400), ("C1", -10_000, 12_400), ("R-02", 22_400, 34_800)]
    trial = found["trial_balance"]
    assert isinstance(trial, dict)
    assert sum(trial.values()) == 0
    assert {account: amount for account, amount in trial.items() if amount} == EXPECTED_TRIAL_BALANCE


def scenario_then_reopen(env: dict[str, str]) -> None:
    ledger = Ledger(env=env)
    try:
        run_scenario(ledger)
        first = books(ledger)
    finally:
        ledger.close()
    check_books(first)
    reopened = Ledger(env=env)
    try:
        assert books(reopened) == first
        # the same commands again change nothing on the reopened store
        again = reopened.post_remittance(remittance("R-01", "2024-01", date(2024, 1, 15)))
        assert again["duplicate"] is True
        assert books(reopened) == first
    finally:
        reopened.close()


def test_the_scenario_on_sqlite_and_after_reopening(tmp_path: Path) -> None:
    env = ledger_env({"FUND_LEDGER_SQLITE": str(tmp_path / "ledger.sqlite")})
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    scenario_then_reopen(env)
    assert (tmp_path / "ledger.sqlite").stat().st_size > 0


@pytest.mark.postgres
def test_the_scenario_on_postgresql_and_after_reopening(postgres_env: dict[str, str]) -> None:
    assert postgres_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    scenario_then_reopen(postgres_env)


def test_a_pooled_fund_rebuilt_from_its_snapshot_has_the_same_books(tmp_path: Path) -> None:
    # The pooled fund is snapshotted every 500 events (Ledger.snapshotting_intervals). 600 one-line
    # remittances for January, one for each of 600 people of 33 on a wage of 800,000 (a person's month
    # is paid once): each puts 41,600 in the pooled fund and 64,000 in the bank, so 600 x 41,600 =
    # 24,960,000 and 600 x 64,000 = 38,400,000 fen; each account gets 22,400, 13,440,000 in all.
    env = ledger_env({"FUND_LEDGER_SQLITE": str(tmp_path / "ledger.sqlite")})
    ledger = Ledger(env=env)
    try:
        ledger.open_region(load_policy_file())
        with ledger.batch() as unit:
            for number in range(600):
                ledger.enrol(Enrol(REGION, f"P{number:03d}", "employee", date(1990, 3, 15), "E1", date(2010, 1, 1)), unit=unit)
        for batch in range(6):
            with ledger.batch() as unit:
                for number in range(batch * 100, batch * 100 + 100):
                    ledger.post_remittance(PostRemittance(REGION, f"R{number}", "employer", "E1", "2024-01", date(2024, 1, 15),
                                                          64_000, (RemittanceLine(f"P{number:03d}", 800_000),)), unit=unit)
        assert ledger.snapshots is not None
        assert list(ledger.snapshots.get(ledger.pooled_fund(REGION).id)), "a snapshot was taken"
    finally:
        ledger.close()
    reopened = Ledger(env=env)
    try:
        fund = reopened.pooled_fund(REGION)
        assert fund.version == 601  # opened + 600 remittances
        assert fund.balance_fen == 24_960_000
        assert fund.bank_balances_fen == {"bank.income": 38_400_000}
        assert reopened.personal_account(REGION, "P599").balance_fen == 22_400
        trial = reopened.trial_balance()
        assert (sum(trial.values()), trial["fund.personal"]) == (0, -13_440_000)
    finally:
        reopened.close()
