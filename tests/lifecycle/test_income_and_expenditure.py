"""The other income and expenditure lines and the two-line bank movements (DOMAIN "Fund
management"; Liao 1999 §II(5)): fiscal subsidy to the pooled fund only; late fees are other
income; the fund pays only benefits and permitted transfers, never the agency's running costs
nor a government budget's deficit; money goes income account -> fiscal special account ->
expenditure account and no bank account overdraws; memo funds are kept apart from the basic fund."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.aggregates import PooledFund
from ledger.application import Ledger
from ledger.commands import MoveBetweenBankAccounts, RecordExpenditure, RecordIncome
from ledger.errors import ForbiddenExpenditure, InsufficientBalance, InvalidInput, ScopeViolation

from .scenario import SHENYANG, balances, event_count, events, events_of

ON = date(2024, 3, 1)
MEMO = "enterprise_supplementary"  # a memo fund whose benefits need no registered person


def income(income_id: str, item: str, amount_fen: int, fund: str = "pooled") -> RecordIncome:
    return RecordIncome(SHENYANG, income_id, fund, item, amount_fen, ON)


def spend(expenditure_id: str, item: str, amount_fen: int, fund: str = "pooled") -> RecordExpenditure:
    return RecordExpenditure(SHENYANG, expenditure_id, fund, item, amount_fen, ON)


def move(movement_id: str, kind: str, amount_fen: int) -> MoveBetweenBankAccounts:
    return MoveBetweenBankAccounts(SHENYANG, movement_id, kind, amount_fen, ON)


def test_a_fiscal_subsidy_is_income_of_the_pooled_fund_received_in_the_income_account(ledger: Ledger) -> None:
    outcome = ledger.record_income(income("FS-1", "fiscal_subsidy", 300_000))
    assert outcome["item"] == acc.INCOME_FISCAL_SUBSIDY
    assert ledger.pooled_fund(SHENYANG).balance_fen == 300_000
    assert ledger.bank_balances(SHENYANG) == {acc.BANK_INCOME: 300_000}
    assert acc.income_and_expenditure(p for e in events(ledger) for p in getattr(e, "postings", ())) == {
        (acc.FUND_POOLED, acc.INCOME_FISCAL_SUBSIDY, "in"): 300_000}


def test_a_fiscal_subsidy_to_the_personal_accounts_is_refused(ledger: Ledger) -> None:
    recorded = event_count(ledger)
    with pytest.raises(ScopeViolation) as error:
        ledger.record_income(income("FS-2", "fiscal_subsidy", 300_000, fund="personal"))
    assert error.value.field == "fund"
    assert event_count(ledger) == recorded


def test_late_fees_are_other_income_of_the_pooled_fund(ledger: Ledger) -> None:
    ledger.record_income(income("LF-1", "late_fees", 1_234))
    [recorded] = events_of(ledger, PooledFund.IncomeRecorded)
    assert recorded.item == acc.INCOME_OTHER
    assert [(p["account"], p["amount_fen"], p["item"]) for p in recorded.postings] == [
        (acc.BANK_INCOME, 1_234, None), (acc.FUND_POOLED, -1_234, acc.INCOME_OTHER)]


@pytest.mark.parametrize(("item", "words"), [
    ("agency_running_costs", "government budget"),
    ("government_budget_balancing", "balance a government budget"),
    ("bonus_for_the_director", "not a permitted expenditure"),
])
def test_the_fund_refuses_to_pay_what_is_not_a_benefit_or_permitted_transfer(ledger: Ledger, item: str, words: str) -> None:
    ledger.record_income(income("FS-1", "fiscal_subsidy", 100_000))
    ledger.move_money(move("M1", "income_to_fiscal_special", 100_000))
    ledger.move_money(move("M2", "fiscal_special_to_expenditure", 100_000))
    recorded = event_count(ledger)
    with pytest.raises(ForbiddenExpenditure) as error:
        ledger.record_expenditure(spend("X-1", item, 10_000))
    assert error.value.field == "item"
    assert words in error.value.reason
    assert error.value.context["item"] == item
    assert event_count(ledger) == recorded


def test_a_subsidy_to_lower_levels_is_paid_from_the_expenditure_account(ledger: Ledger) -> None:
    ledger.record_income(income("FS-1", "fiscal_subsidy", 100_000))
    ledger.move_money(move("M1", "income_to_fiscal_special", 100_000))
    ledger.move_money(move("M2", "fiscal_special_to_expenditure", 60_000))
    outcome = ledger.record_expenditure(spend("X-1", "subsidy_to_lower_levels", 45_000))
    assert outcome["item"] == acc.EXPENDITURE_SUBSIDY_TO_LOWER
    assert ledger.bank_balances(SHENYANG) == {acc.BANK_INCOME: 0, acc.BANK_FISCAL_SPECIAL: 40_000, acc.BANK_EXPENDITURE: 15_000}
    assert ledger.pooled_fund(SHENYANG).balance_fen == 100_000 - 45_000


def test_money_moves_income_to_fiscal_special_to_expenditure(ledger: Ledger) -> None:
    ledger.record_income(income("FS-1", "fiscal_subsidy", 100_000))
    ledger.move_money(move("M1", "income_to_fiscal_special", 70_000))
    assert ledger.bank_balances(SHENYANG) == {acc.BANK_INCOME: 30_000, acc.BANK_FISCAL_SPECIAL: 70_000}
    ledger.move_money(move("M2", "fiscal_special_to_expenditure", 50_000))
    assert ledger.bank_balances(SHENYANG) == {acc.BANK_INCOME: 30_000, acc.BANK_FISCAL_SPECIAL: 20_000, acc.BANK_EXPENDITURE: 50_000}
    # Moving money between the region's own bank accounts is not income: the fund is unchanged.
    assert ledger.pooled_fund(SHENYANG).balance_fen == 100_000


@pytest.mark.parametrize(("kind", "held_fen"), [("income_to_fiscal_special", 100_000), ("fiscal_special_to_expenditure", 0)])
def test_no_bank_account_can_be_overdrawn(ledger: Ledger, kind: str, held_fen: int) -> None:
    ledger.record_income(income("FS-1", "fiscal_subsidy", 100_000))
    recorded = event_count(ledger)
    with pytest.raises(InsufficientBalance) as error:
        ledger.move_money(move("M1", kind, 100_001 if held_fen else 1))
    assert error.value.context["balance_fen"] == held_fen
    assert event_count(ledger) == recorded


def test_expenditure_beyond_what_the_expenditure_account_holds_is_refused(ledger: Ledger) -> None:
    ledger.record_income(income("FS-1", "fiscal_subsidy", 100_000))
    with pytest.raises(InsufficientBalance) as error:
        ledger.record_expenditure(spend("X-1", "subsidy_to_lower_levels", 1))  # all of it is still in the income account
    assert error.value.context["account"] == acc.BANK_EXPENDITURE


def test_memo_fund_postings_stay_on_the_memo_funds_own_accounts(ledger: Ledger) -> None:
    ledger.record_income(income("FS-1", "fiscal_subsidy", 100_000))
    before_fund, before_banks = ledger.pooled_fund(SHENYANG).balance_fen, ledger.bank_balances(SHENYANG)
    ledger.record_income(income("CS-1", "fiscal_subsidy", 300_000, fund=MEMO))
    ledger.record_expenditure(spend("CS-X1", "benefit", 120_000, fund=MEMO))
    memo_accounts = {acc.memo_fund_account(MEMO), acc.memo_bank_account(MEMO)}
    memo_events = [e for e in events(ledger) if type(e).__qualname__.startswith("MemoFund.") and hasattr(e, "postings")]
    assert len(memo_events) == 2
    assert {p["account"] for e in memo_events for p in e.postings} == memo_accounts
    # 300,000 in, 120,000 out: 180,000 in the memo fund and its bank account; the basic fund as before.
    assert balances(ledger, SHENYANG) == {acc.BANK_INCOME: 100_000, acc.FUND_POOLED: -100_000,
                                          acc.memo_bank_account(MEMO): 180_000, acc.memo_fund_account(MEMO): -180_000}
    assert ledger.pooled_fund(SHENYANG).balance_fen == before_fund
    assert ledger.bank_balances(SHENYANG) == before_banks


def test_a_memo_fund_cannot_overdraw(ledger: Ledger) -> None:
    ledger.record_income(income("CS-1", "fiscal_subsidy", 300_000, fund=MEMO))
    ledger.record_income(income("FS-1", "fiscal_subsidy", 1_000_000))  # the basic fund's money does not help
    recorded = event_count(ledger)
    with pytest.raises(InsufficientBalance):
        ledger.record_expenditure(spend("CS-X1", "benefit", 300_001, fund=MEMO))
    assert event_count(ledger) == recorded
    assert ledger.record_expenditure(spend("CS-X2", "benefit", 300_000, fund=MEMO))["amount_fen"] == 300_000


def test_an_unknown_income_item_is_refused_naming_the_item(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        ledger.record_income(income("U-1", "lottery", 1_000))
    assert error.value.field == "item"
