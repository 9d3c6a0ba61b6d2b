"""Death (DOMAIN "Moving and dying"; Liao 1999 §II(3)): the principal and interest of a personal
account belong to the person and are inherited. The balance is paid to the heirs from the
expenditure account, the account closes, and later postings to it are refused."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.commands import PayOutpatient, RecordDeath
from ledger.errors import AccountClosed, InsufficientBalance

from .scenario import SHENYANG, TO_ACCOUNT_FEN, balances, enrol, event_count, events_of, fund_expenditure_account, remit

DEATH = RecordDeath(SHENYANG, "P1", date(2024, 6, 1), "probate 2024-001")
HELD_FEN = 2 * TO_ACCOUNT_FEN  # two months' contributions: 56,000 fen


@pytest.fixture
def insured(bare_ledger: Ledger) -> Ledger:
    """P1 holds two months' contributions; no interest rates announced, so none accrues (the
    accrued-interest test at the end has them)."""
    ledger = bare_ledger
    enrol(ledger, "P1")
    remit(ledger, "R-2024-02", "P1", date(2024, 2, 1))
    remit(ledger, "R-2024-03", "P1", date(2024, 3, 1))
    return ledger


def test_at_death_the_balance_is_paid_to_the_heirs_from_the_expenditure_account(insured: Ledger) -> None:
    fund_expenditure_account(insured, HELD_FEN, date(2024, 5, 1))
    outcome = insured.record_death(DEATH)
    assert (outcome["paid_to_heirs_fen"], outcome["heirs_reference"], outcome["duplicate"]) == (HELD_FEN, "probate 2024-001", False)
    [inherited] = events_of(insured, PersonalAccount.Inherited)
    [debit] = [p for p in inherited.postings if p["account"] == acc.FUND_PERSONAL]
    assert (debit["amount_fen"], debit["item"], debit["person_id"]) == (HELD_FEN, acc.EXPENDITURE_INHERITANCE, "P1")
    assert insured.personal_account(SHENYANG, "P1").balance_fen == 0
    assert insured.bank_balances(SHENYANG)[acc.BANK_EXPENDITURE] == 0
    # 160,000 received; 56,000 moved on and paid out: 104,000 left in the income account; the pooled fund untouched.
    assert balances(insured, SHENYANG) == {acc.BANK_INCOME: 160_000 - HELD_FEN, acc.FUND_POOLED: -104_000}


def test_after_death_the_account_is_closed_and_refuses_later_postings(insured: Ledger) -> None:
    fund_expenditure_account(insured, HELD_FEN, date(2024, 5, 1))
    insured.record_death(DEATH)
    assert insured.personal_account(SHENYANG, "P1").is_closed
    recorded = event_count(insured)
    with pytest.raises(AccountClosed) as claim:
        insured.pay_outpatient(PayOutpatient(SHENYANG, "C-1", "P1", "outpatient", date(2024, 6, 2), 100))
    assert claim.value.field == "person_id"
    assert "deceased 2024-06-01" in claim.value.reason
    with pytest.raises(AccountClosed):
        remit(insured, "R-2024-06", "P1", date(2024, 6, 3))
    assert event_count(insured) == recorded


def test_the_heirs_cannot_be_paid_from_an_expenditure_account_that_does_not_hold_the_money(insured: Ledger) -> None:
    fund_expenditure_account(insured, HELD_FEN - 1, date(2024, 5, 1))
    recorded = event_count(insured)
    with pytest.raises(InsufficientBalance):
        insured.record_death(DEATH)
    assert event_count(insured) == recorded
    assert not insured.personal_account(SHENYANG, "P1").is_closed


def test_a_duplicate_death_message_pays_the_heirs_once(insured: Ledger) -> None:
    fund_expenditure_account(insured, HELD_FEN, date(2024, 5, 1))
    first = insured.record_death(DEATH)
    recorded = event_count(insured)
    assert insured.record_death(DEATH) == {**first, "duplicate": True}
    assert event_count(insured) == recorded


def test_at_death_the_heirs_also_receive_the_interest_accrued_this_year(ledger: Ledger) -> None:
    # Rates from 1 January 2024: demand 0.36% / 360 = 0.00001 a day (conftest).
    enrol(ledger, "P1")
    remit(ledger, "R-2024-02", "P1", date(2024, 2, 1))
    remit(ledger, "R-2024-03", "P1", date(2024, 3, 1))
    # Current-year money at the demand rate up to the day before death (1 June):
    # 28,000 x 29 days (Feb 2024) + 56,000 x 92 days (Mar 31 + Apr 30 + May 31) = 5,964,000 fen-days
    # x 0.00001 = 59.64 -> 60 fen, advanced by the pooled fund.
    accrued_fen = 60
    fund_expenditure_account(ledger, HELD_FEN + accrued_fen, date(2024, 5, 1))
    outcome = ledger.record_death(DEATH)
    assert outcome["paid_to_heirs_fen"] == HELD_FEN + accrued_fen
    [credited] = events_of(ledger, PersonalAccount.InterestCredited)
    assert (credited.interest_fen, credited.on) == (accrued_fen, date(2024, 6, 1))
    assert balances(ledger, SHENYANG)[acc.FUND_POOLED] == -(104_000 - accrued_fen)
