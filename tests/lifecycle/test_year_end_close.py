"""Year-end close (决算, DOMAIN "Fund management"): the final balance of every fund and bank
account on 31 December is recorded; afterwards nothing dated in that year is accepted; the
balances carry over, and next year's interest treats them as carried-over money."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from ledger import accounts as acc
from ledger.aggregates import PolicyBook
from ledger.application import Ledger
from ledger.commands import (
    CloseYear,
    MoveBetweenBankAccounts,
    PayOutpatient,
    PostInterest,
    RecordDeath,
    RecordExpenditure,
    RecordIncome,
    SettleInpatient,
    TransferOut,
)
from ledger.errors import InvalidInput, PeriodClosed

from .scenario import SHENYANG, TO_ACCOUNT_FEN, balances, enrol, event_count, events, remit, remittance

# What the fixture's year holds on 31 December (rates of the conftest: 0.00001 / 0.00003 / 0.00005 a day):
#   P1: 28,000 on 1 July; interest 28,000 × 184 days × 0.00001 = 51.52 -> 52      fund.personal 28,052
#   income account: 80,000 × 92 (1 Jul-1 Oct) + 30,000 × 92 = 10,120,000 × 0.00001 = 101.2 -> 101
#   fiscal special: 50,000 × 92 (1 Oct-1 Jan) = 4,600,000 × 0.00005 = 230
#   pooled fund: 52,000 contributions + (101 + 230 - 52) = 279 interest                = 52,279
CLOSING_2024 = {
    acc.BANK_INCOME: 30_000 + 101,
    acc.BANK_FISCAL_SPECIAL: 50_000 + 230,
    acc.FUND_PERSONAL: -(TO_ACCOUNT_FEN + 52),
    acc.FUND_POOLED: -(52_000 + 279),
}


@pytest.fixture
def year_2024(ledger: Ledger) -> Ledger:
    enrol(ledger, "P1")
    remit(ledger, "R-2024-07", "P1", date(2024, 7, 1))
    ledger.move_money(MoveBetweenBankAccounts(SHENYANG, "M1", "income_to_fiscal_special", 50_000, date(2024, 10, 1)))
    ledger.post_interest(PostInterest(SHENYANG, 2024))
    return ledger


def nonzero(found: dict[str, int]) -> dict[str, int]:
    return {name: amount for name, amount in found.items() if amount}


def test_the_close_records_each_fund_and_bank_accounts_final_balance(year_2024: Ledger) -> None:
    closed = year_2024.close_year(CloseYear(SHENYANG, 2024))
    assert closed["duplicate"] is False
    assert nonzero(closed["final_balances_fen"]) == CLOSING_2024
    assert sum(closed["final_balances_fen"].values()) == 0  # debits = credits
    book: PolicyBook = year_2024.repository.get(PolicyBook.id_for(SHENYANG))
    assert nonzero(book.final_balances["2024"]) == CLOSING_2024
    assert book.last_closed_year == 2024


def test_the_final_balances_leave_out_postings_dated_in_the_next_year(year_2024: Ledger) -> None:
    remit(year_2024, "R-2025-01", "P1", date(2025, 1, 10))  # recorded before the close, dated after it
    closed = year_2024.close_year(CloseYear(SHENYANG, 2024))
    assert nonzero(closed["final_balances_fen"]) == CLOSING_2024
    assert nonzero(closed["final_balances_fen"]) == balances(year_2024, SHENYANG, through=date(2024, 12, 31))
    assert balances(year_2024, SHENYANG)[acc.BANK_INCOME] == 30_101 + 80_000


def test_closing_a_closed_year_again_returns_the_same_balances_and_records_nothing(year_2024: Ledger) -> None:
    first = year_2024.close_year(CloseYear(SHENYANG, 2024))
    recorded = event_count(year_2024)
    again = year_2024.close_year(CloseYear(SHENYANG, 2024))
    assert again == {**first, "duplicate": True}
    assert event_count(year_2024) == recorded


def test_years_close_in_order(year_2024: Ledger) -> None:
    year_2024.close_year(CloseYear(SHENYANG, 2024))
    with pytest.raises(PeriodClosed) as error:
        year_2024.close_year(CloseYear(SHENYANG, 2026))
    assert error.value.field == "year"
    with pytest.raises(InvalidInput) as before:
        year_2024.close_year(CloseYear(SHENYANG, 2023))
    assert before.value.field == "year"


LATE_POSTINGS: dict[str, tuple[Callable[[Ledger], Any], str]] = {
    "outpatient claim": (lambda app: app.pay_outpatient(PayOutpatient(SHENYANG, "C-late", "P1", "pharmacy", date(2024, 12, 30), 1_000)), "on"),
    "inpatient claim": (lambda app: app.settle_inpatient(SettleInpatient(SHENYANG, "I-late", "P1", 3, date(2024, 12, 20), date(2024, 12, 30), 100_000)), "discharged_on"),
    "remittance": (lambda app: app.post_remittance(remittance("R-late", "P1", date(2024, 12, 31))), "received_on"),
    "income": (lambda app: app.record_income(RecordIncome(SHENYANG, "F-late", "pooled", "fiscal_subsidy", 1_000, date(2024, 12, 31))), "on"),
    "expenditure": (lambda app: app.record_expenditure(RecordExpenditure(SHENYANG, "X-late", "pooled", "other", 1_000, date(2024, 12, 31))), "on"),
    "bank movement": (lambda app: app.move_money(MoveBetweenBankAccounts(SHENYANG, "M-late", "income_to_fiscal_special", 1_000, date(2024, 12, 31))), "on"),
    "transfer out": (lambda app: app.transfer_out(TransferOut(SHENYANG, "T-late", "P1", "210200", date(2024, 12, 31))), "on"),
    "death": (lambda app: app.record_death(RecordDeath(SHENYANG, "P1", date(2024, 12, 31), "heirs")), "died_on"),
    "interest": (lambda app: app.post_interest(PostInterest(SHENYANG, 2024)), "year"),
}


@pytest.mark.parametrize("kind", [k for k in LATE_POSTINGS if k != "interest"])
def test_after_the_close_a_posting_dated_in_the_closed_year_is_refused_naming_its_date(year_2024: Ledger, kind: str) -> None:
    year_2024.close_year(CloseYear(SHENYANG, 2024))
    recorded = event_count(year_2024)
    post, field = LATE_POSTINGS[kind]
    with pytest.raises(PeriodClosed) as error:
        post(year_2024)
    assert error.value.field == field
    assert "closed" in error.value.reason
    assert event_count(year_2024) == recorded


def test_interest_of_a_closed_year_that_was_never_posted_is_refused(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    ledger.close_year(CloseYear(SHENYANG, 2024))
    with pytest.raises(PeriodClosed) as error:
        LATE_POSTINGS["interest"][0](ledger)
    assert error.value.field == "year"


def test_postings_dated_in_the_next_year_are_accepted_after_the_close(year_2024: Ledger) -> None:
    year_2024.close_year(CloseYear(SHENYANG, 2024))
    remit(year_2024, "R-2025-01", "P1", date(2025, 1, 2))
    paid = year_2024.pay_outpatient(PayOutpatient(SHENYANG, "C-2025", "P1", "pharmacy", date(2025, 1, 3), 1_000))
    assert paid["account_fen"] == 1_000
    # 28,052 + 28,000 - 1,000
    assert year_2024.personal_account(SHENYANG, "P1").balance_fen == 55_052


def test_next_years_interest_treats_the_closing_balance_as_carried_over(year_2024: Ledger) -> None:
    year_2024.close_year(CloseYear(SHENYANG, 2024))
    outcome = year_2024.post_interest(PostInterest(SHENYANG, 2025))
    # P1's 28,052 fen is carried over into 2025 (365 days) and earns the 3-month rate:
    #   28,052 × 365 = 10,238,980 fen·days × 0.00003 = 307.17 -> 307 fen
    #   (at the demand rate it would have earned 102).
    # Banks: income 30,101 × 365 × 0.00001 = 109.87 -> 110; fiscal special 50,230 × 365 × 0.00005 = 916.70 -> 917.
    assert outcome["personal_accounts_fen"] == 307
    assert outcome["bank_interest_fen"] == 110 + 917
    assert outcome["pooled_fen"] == 1_027 - 307
    assert year_2024.personal_account(SHENYANG, "P1").balance_fen == 28_052 + 307


def test_a_close_in_the_same_batch_as_the_years_postings_counts_them(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    with ledger.batch() as unit:
        ledger.post_remittance(remittance("R-2024-07", "P1", date(2024, 7, 1)), unit)
        closed = ledger.close_year(CloseYear(SHENYANG, 2024), unit)
    # One remittance: 80,000 in the income account, 28,000 to P1, 52,000 to the pooled fund.
    assert nonzero(closed["final_balances_fen"]) == {acc.BANK_INCOME: 80_000, acc.FUND_PERSONAL: -28_000, acc.FUND_POOLED: -52_000}


def test_final_accounts_add_up_when_the_personal_accounts_earn_more_interest_than_the_banks(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    remit(ledger, "R-2024-01", "P1", date(2024, 1, 1))  # all 80,000 stays in the income account (demand rate)
    # 2024: P1 28,000 × 366 × 0.00001 = 102.48 -> 102; the income account 80,000 × 366 × 0.00001 = 292.8 -> 293;
    # the pooled fund 293 - 102 = 191, and holds 52,000 + 191 = 52,191 at the close.
    assert ledger.post_interest(PostInterest(SHENYANG, 2024))["pooled_fen"] == 191
    ledger.close_year(CloseYear(SHENYANG, 2024))
    # 2025: P1's 28,102 is carried over: × 365 × 0.00003 = 307.72 -> 308 (3-month rate); the bank still
    # earns the demand rate: 80,293 × 365 × 0.00001 = 293.07 -> 293. The pooled fund makes up 308 - 293 = 15.
    outcome = ledger.post_interest(PostInterest(SHENYANG, 2025))
    assert (outcome["personal_accounts_fen"], outcome["bank_interest_fen"]) == (308, 293)
    closing_fen = -ledger.close_year(CloseYear(SHENYANG, 2025))["final_balances_fen"][acc.FUND_POOLED]
    assert closing_fen == 52_191 - 15
    # Final accounts (决算): opening + income - expenditure = closing, for the pooled fund in 2025.
    year_postings = [p for e in events(ledger) if getattr(e, "region", None) == SHENYANG and hasattr(e, "postings")
                     and e.on.year == 2025 for p in e.postings]
    # The 15 fen the pooled fund makes up is an internal transfer to the personal accounts, not
    # negative interest income: opening + income - expenditure + transfers in - transfers out = closing.
    report = acc.income_and_expenditure(year_postings)
    pooled = {(item, side): v for (fund, item, side), v in report.items() if fund == acc.FUND_POOLED}
    assert pooled == {(acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS, "out"): 15}
    income_fen = sum(v for (item, side), v in pooled.items() if item.startswith("income.") and side == "in")
    expenditure_fen = sum(v for (item, side), v in pooled.items() if item.startswith("expenditure.") and side == "out")
    transfers_fen = sum(v if side == "in" else -v for (item, side), v in pooled.items() if item.startswith("transfer."))
    assert 52_191 + income_fen - expenditure_fen + transfers_fen == closing_fen
