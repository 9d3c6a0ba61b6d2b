"""Moving between regions (DOMAIN "Moving and dying"; Social Insurance Law art. 32): the whole
personal-account balance leaves with the person, is visible in transit until it lands, lands
in the new region's account, and the contribution months accumulate. Transfer-out and transfer-in
are separate messages of two regions, linked by the transfer id, and may arrive twice or out of
order."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.commands import CloseYear, PayOutpatient, TransferIn, TransferOut
from ledger.errors import AccountClosed, InsufficientBalance, TransferMismatch, UnknownTransfer

from .scenario import (
    DALIAN,
    SHENYANG,
    TO_ACCOUNT_FEN,
    balances,
    enrol,
    event_count,
    events_of,
    fund_expenditure_account,
    remit,
)

MOVED_FEN = 3 * TO_ACCOUNT_FEN  # three months of 28,000 fen = 84,000 fen
OUT = TransferOut(SHENYANG, "T-1", "P1", DALIAN, date(2024, 5, 1))
IN = TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 5, 10), MOVED_FEN, 3, employer_id="E1")  # the new employer


@pytest.fixture
def moving(bare_ledger: Ledger) -> Ledger:
    """P1 has three months of contributions in Shenyang (84,000 fen); Shenyang's expenditure
    account holds 84,000 fen to pay the transfer when it lands. No interest rates are announced,
    so no interest accrues before the move (the accrued-interest test below has them)."""
    ledger = bare_ledger
    enrol(ledger, "P1")
    for month in (2, 3, 4):
        remit(ledger, f"R-2024-{month:02d}", "P1", date(2024, month, 1))
    fund_expenditure_account(ledger, MOVED_FEN, date(2024, 4, 2))
    return ledger


def test_transfer_out_takes_the_whole_balance_and_closes_the_account(moving: Ledger) -> None:
    outcome = moving.transfer_out(OUT)
    assert (outcome["amount_fen"], outcome["contribution_months"], outcome["duplicate"]) == (MOVED_FEN, 3, False)
    account = moving.personal_account(SHENYANG, "P1")
    assert account.balance_fen == 0
    assert account.is_closed
    [moved] = events_of(moving, PersonalAccount.TransferredOut)
    [debit] = [p for p in moved.postings if p["account"] == acc.FUND_PERSONAL]
    assert (debit["amount_fen"], debit["item"], debit["person_id"]) == (MOVED_FEN, acc.EXPENDITURE_TRANSFER_OUT, "P1")


def test_a_closed_account_refuses_later_postings(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    recorded = event_count(moving)
    with pytest.raises(AccountClosed) as claim:
        moving.pay_outpatient(PayOutpatient(SHENYANG, "C-1", "P1", "pharmacy", date(2024, 5, 2), 100))
    assert claim.value.field == "person_id"
    assert "transferred to 210200" in claim.value.reason
    with pytest.raises(AccountClosed):
        remit(moving, "R-2024-05", "P1", date(2024, 5, 2))
    assert event_count(moving) == recorded


def test_the_money_is_visible_in_transit_until_it_lands(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    shenyang = balances(moving, SHENYANG)
    assert shenyang[acc.TRANSIT_TRANSFERS_OUT] == -MOVED_FEN  # a credit balance: owed to the person, on its way
    assert shenyang[acc.BANK_EXPENDITURE] == MOVED_FEN  # the money has not left the bank yet
    moving.transfer_in(IN)
    assert acc.TRANSIT_TRANSFERS_OUT not in balances(moving, SHENYANG)


def test_transfer_in_credits_the_new_account_and_the_old_region_pays_from_its_expenditure_account(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    outcome = moving.transfer_in(IN)
    assert (outcome["amount_fen"], outcome["contribution_months_total"], outcome["duplicate"]) == (MOVED_FEN, 3, False)
    account = moving.personal_account(DALIAN, "P1")
    assert account.balance_fen == MOVED_FEN
    assert account.credited_by_origin_fen == {"transfer_in": MOVED_FEN}
    [landed] = events_of(moving, PersonalAccount.TransferredIn)
    [credit] = [p for p in landed.postings if p["account"] == acc.FUND_PERSONAL]
    assert (credit["amount_fen"], credit["item"], credit.get("origin")) == (-MOVED_FEN, acc.INCOME_TRANSFER_IN, "transfer_in")
    # Dalian's income account received the money; Shenyang's expenditure account paid it.
    assert moving.bank_balances(DALIAN) == {acc.BANK_INCOME: MOVED_FEN}
    assert moving.bank_balances(SHENYANG)[acc.BANK_EXPENDITURE] == 0


def test_contribution_months_accumulate_with_the_person(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    moving.transfer_in(IN)
    remit(moving, "D-2024-06", "P1", date(2024, 6, 1), region=DALIAN)
    account = moving.personal_account(DALIAN, "P1")
    assert account.contribution_months == 3 + 1
    assert account.balance_fen == MOVED_FEN + TO_ACCOUNT_FEN


def test_a_person_already_enrolled_in_the_new_region_keeps_the_months_of_both(moving: Ledger) -> None:
    enrol(moving, "P1", region=DALIAN, on=date(2024, 5, 1))
    remit(moving, "D-2024-05", "P1", date(2024, 5, 5), region=DALIAN)  # the new employer paid first
    moving.transfer_out(OUT)
    outcome = moving.transfer_in(IN)
    assert outcome["contribution_months_total"] == 1 + 3
    assert moving.personal_account(DALIAN, "P1").balance_fen == TO_ACCOUNT_FEN + MOVED_FEN


def test_the_old_region_must_hold_the_money_in_its_expenditure_account_when_the_transfer_lands(bare_ledger: Ledger) -> None:
    ledger = bare_ledger
    enrol(ledger, "P1")
    remit(ledger, "R-2024-02", "P1", date(2024, 2, 1))
    ledger.transfer_out(TransferOut(SHENYANG, "T-1", "P1", DALIAN, date(2024, 3, 1)))
    landing = TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 3, 10), TO_ACCOUNT_FEN, 1)
    recorded = event_count(ledger)
    with pytest.raises(InsufficientBalance) as error:
        ledger.transfer_in(landing)  # Shenyang's expenditure account is empty: all 80,000 is in the income account
    assert error.value.context["account"] == acc.BANK_EXPENDITURE
    assert event_count(ledger) == recorded
    fund_expenditure_account(ledger, TO_ACCOUNT_FEN, date(2024, 3, 9))
    assert ledger.transfer_in(landing)["duplicate"] is False
    assert ledger.personal_account(DALIAN, "P1").balance_fen == TO_ACCOUNT_FEN


def test_a_transfer_in_with_another_amount_is_refused_naming_both_amounts(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    recorded = event_count(moving)
    with pytest.raises(TransferMismatch) as error:
        moving.transfer_in(TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 5, 10), MOVED_FEN + 1, 3))
    assert error.value.field == "amount_fen"
    assert (error.value.context["expected"], error.value.context["got"]) == (84_000, 84_001)
    assert "84000" in error.value.reason and "84001" in error.value.reason
    assert event_count(moving) == recorded


def test_a_transfer_in_that_arrives_before_its_transfer_out_is_refused_then_accepted_once_it_is_recorded(moving: Ledger) -> None:
    recorded = event_count(moving)
    with pytest.raises(UnknownTransfer) as error:  # a refusal the consumers try again later
        moving.transfer_in(IN)
    assert error.value.field == "transfer_id"
    assert event_count(moving) == recorded
    moving.transfer_out(OUT)
    assert moving.transfer_in(IN)["duplicate"] is False
    assert moving.personal_account(DALIAN, "P1").balance_fen == MOVED_FEN


def test_a_duplicate_transfer_out_message_returns_the_first_outcome_and_moves_nothing(moving: Ledger) -> None:
    first = moving.transfer_out(OUT)
    recorded = event_count(moving)
    assert moving.transfer_out(OUT) == {**first, "duplicate": True}
    assert event_count(moving) == recorded
    assert balances(moving, SHENYANG)[acc.TRANSIT_TRANSFERS_OUT] == -MOVED_FEN


def test_a_duplicate_transfer_in_message_returns_the_first_outcome_and_credits_nothing(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    first = moving.transfer_in(IN)
    recorded = event_count(moving)
    assert moving.transfer_in(IN) == {**first, "duplicate": True}
    assert event_count(moving) == recorded
    assert moving.personal_account(DALIAN, "P1").balance_fen == MOVED_FEN


def test_a_transfer_landing_after_the_old_region_closed_its_year_does_not_change_the_closed_balances(moving: Ledger) -> None:
    moving.transfer_out(TransferOut(SHENYANG, "T-1", "P1", DALIAN, date(2024, 12, 20)))
    closed = moving.close_year(CloseYear(SHENYANG, 2024))["final_balances_fen"]
    moving.transfer_in(TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 12, 28), MOVED_FEN, 3))
    assert moving.personal_account(DALIAN, "P1").balance_fen == MOVED_FEN
    # An auditor re-adds Shenyang's 2024 postings and finds the balances the close recorded ...
    assert balances(moving, SHENYANG, through=date(2024, 12, 31)) == {k: v for k, v in closed.items() if v}
    # ... and the payout in Shenyang's first open day, which clears the money in transit.
    assert acc.TRANSIT_TRANSFERS_OUT not in balances(moving, SHENYANG)
    assert closed[acc.BANK_EXPENDITURE] == MOVED_FEN
    assert balances(moving, SHENYANG, through=date(2025, 1, 1)).get(acc.BANK_EXPENDITURE, 0) == 0


def move_back(moving: Ledger) -> dict[str, object]:
    """P1 goes to Dalian with 84,000 fen and 3 months, then comes back to Shenyang with them."""
    moving.transfer_out(OUT)
    moving.transfer_in(IN)
    fund_expenditure_account(moving, MOVED_FEN, date(2024, 6, 1), region=DALIAN, tag="-dalian")
    moving.transfer_out(TransferOut(DALIAN, "T-2", "P1", SHENYANG, date(2024, 7, 1)))
    return moving.transfer_in(TransferIn(SHENYANG, "T-2", "P1", DALIAN, date(2024, 7, 10), MOVED_FEN, 3))


def test_a_person_can_move_back_to_a_region_they_left(moving: Ledger) -> None:
    move_back(moving)
    account = moving.personal_account(SHENYANG, "P1")
    assert not account.is_closed
    assert account.balance_fen == MOVED_FEN
    assert moving.personal_account(DALIAN, "P1").is_closed


def test_a_person_who_moves_back_has_the_months_they_paid_counted_once(moving: Ledger) -> None:
    outcome = move_back(moving)
    # Three monthly contributions in Shenyang, none in Dalian: three months, wherever the person is.
    assert outcome["contribution_months_total"] == 3
    assert moving.personal_account(SHENYANG, "P1").contribution_months == 3


def test_the_interest_accrued_this_year_leaves_with_the_person(ledger: Ledger) -> None:
    # Rates from 1 January 2024: demand 0.36% / 360 = 0.00001 a day (conftest).
    enrol(ledger, "P1")
    for month in (2, 3, 4):
        remit(ledger, f"R-2024-{month:02d}", "P1", date(2024, month, 1))
    # Up to the day before the transfer-out (1 May): 28,000 x 29 + 56,000 x 31 + 84,000 x 30
    # = 5,068,000 fen-days x 0.00001 = 50.68 -> 51 fen, credited before the balance leaves.
    outcome = ledger.transfer_out(OUT)
    assert outcome["amount_fen"] == MOVED_FEN + 51
    [credited] = events_of(ledger, PersonalAccount.InterestCredited)
    assert credited.interest_fen == 51


def test_a_transfer_in_dated_before_its_transfer_out_is_refused_naming_the_day_it_left(moving: Ledger) -> None:
    # Accepted, the money sat in both regions' personal accounts between the two dates.
    moving.transfer_out(OUT)  # 1 May
    recorded = event_count(moving)
    with pytest.raises(TransferMismatch) as error:
        moving.transfer_in(replace(IN, on=date(2024, 4, 30)))
    assert (error.value.field, error.value.context["expected"]) == ("on", date(2024, 5, 1))
    assert event_count(moving) == recorded
    assert moving.transfer_in(replace(IN, on=date(2024, 5, 1)))["amount_fen"] == MOVED_FEN


def test_a_transfer_id_used_by_another_regions_transfer_out_is_refused_not_a_storage_error(moving: Ledger) -> None:
    moving.transfer_out(OUT)
    enrol(moving, "P2", region=DALIAN)
    recorded = event_count(moving)
    with pytest.raises(TransferMismatch) as error:  # it was an IntegrityError of the store
        moving.transfer_out(TransferOut(DALIAN, "T-1", "P2", SHENYANG, date(2024, 6, 1)))
    assert error.value.field == "transfer_id"
    assert "already used by the transfer of 'P1' from 210100" in error.value.reason
    assert event_count(moving) == recorded
