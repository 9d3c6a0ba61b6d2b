"""A change of category (ChangeCategory: retirement, lay-off, a new employer) holds from its date,
whether it is recorded ahead of it (a retirement announced) or after it: each rule asks what the
person was on the date it is about (a contribution period's first day, a stay's first day)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import ChangeCategory, Enrol, PostRemittance, RecordIncome, RemittanceLine, SettleInpatient, TransferIn, TransferOut
from ledger.errors import InvalidInput

from .scenario import DALIAN, SHENYANG

RETIRES_ON = date(2024, 6, 1)


@pytest.fixture
def retiring(bare_ledger: Ledger) -> Ledger:
    """P1, born 1964, an employee of E1, whose retirement from 1 June 2024 is recorded in March."""
    bare_ledger.enrol(Enrol(SHENYANG, "P1", "employee", date(1964, 5, 1), "E1", date(2024, 1, 1)))
    bare_ledger.record_income(RecordIncome(SHENYANG, "SUBSIDY", "pooled", "fiscal_subsidy", 10_000_000, date(2024, 1, 2)))
    bare_ledger.change_category(ChangeCategory(SHENYANG, "P1", RETIRES_ON, "retiree", "E1", 300_000))
    return bare_ledger


def remittance(period: str, received_on: date, wage_fen: int | None, total_fen: int) -> PostRemittance:
    return PostRemittance(SHENYANG, f"R-{period}", "employer", "E1", period, received_on, total_fen, (RemittanceLine("P1", wage_fen),))


def test_the_months_before_a_retirement_recorded_ahead_are_still_an_employees(retiring: Ledger) -> None:
    # April: 2% + 6% of 1,000,000 = 80,000 fen, as for any employee (it was refused: "retirees pay no contribution").
    outcome = retiring.post_remittance(remittance("2024-04", date(2024, 5, 10), 1_000_000, 80_000))
    assert (outcome["total_fen"], outcome["employee_fen"]) == (80_000, 20_000)
    with pytest.raises(InvalidInput) as june:  # from June the same line is a retiree's, who pays nothing
        retiring.post_remittance(remittance("2024-06", date(2024, 7, 10), 1_000_000, 80_000))
    assert (june.value.field, "retirees pay no contribution" in june.value.reason) == ("lines[0].wage_base_fen", True)
    account = retiring.personal_account(SHENYANG, "P1")
    assert (account.category, account.category_on(date(2024, 5, 31)), account.category_on(RETIRES_ON)) == ("retiree", "employee", "retiree")


def test_a_stay_before_the_retirement_is_settled_as_an_employees(retiring: Ledger) -> None:
    # 1,070,000 fen at a level-3 hospital, 1 to 5 March: deductible 70,000; of the 1,000,000 above
    # it an employee pays 20% (200,000) and the pooled fund 800,000. Settled as a retiree's (the
    # category recorded, not the one in force in March), the pooled fund paid 900,000.
    march = retiring.settle_inpatient(SettleInpatient(SHENYANG, "C-1", "P1", 3, date(2024, 3, 1), date(2024, 3, 5), 1_070_000))
    assert (march["copay_fen"], march["pooled_fen"]) == (200_000, 800_000)



def test_a_person_who_moves_before_a_retirement_recorded_ahead_arrives_as_what_they_are_that_day(retiring: Ledger) -> None:
    # The transfer carried the latest category recorded: Dalian enrolled an employee moving on 1
    # April as a retiree, and refused their April contributions. (The retirement recorded in
    # Shenyang does not travel: Dalian records it when it is due there.)
    out = retiring.transfer_out(TransferOut(SHENYANG, "T-1", "P1", DALIAN, date(2024, 4, 1)))
    retiring.transfer_in(TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 4, 1), out["amount_fen"], out["contribution_months"]))
    assert retiring.personal_account(DALIAN, "P1").category == "employee"
