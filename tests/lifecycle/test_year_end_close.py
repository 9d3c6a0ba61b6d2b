"""Year-end close (决算, DOMAIN "Fund management"): the final balance of every fund and bank
account on 31 December is recorded; afterwards nothing dated in that year is accepted; the
balances carry over, and next year's interest treats them as carried-over money."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ledger import accounts as acc
from ledger.aggregates import PolicyBook
from ledger.application import Ledger
from ledger.commands import (
    CloseYear,
    Enrol,
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


def test_years_close_in_order(year_2024: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(year_2024, "clock", lambda: datetime(2027, 1, 2, tzinfo=UTC))  # 2026 is over
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
    # Banks, all carried over: income 30,101 × 365 = 10,986,865 × 0.00003 (3-month) = 329.61 -> 330;
    # fiscal special 50,230 × 365 × 0.00005 (3-year) = 916.70 -> 917.
    assert outcome["personal_accounts_fen"] == 307
    assert outcome["bank_interest_fen"] == 330 + 917
    assert outcome["pooled_fen"] == 1_247 - 307
    assert year_2024.personal_account(SHENYANG, "P1").balance_fen == 28_052 + 307


def test_a_close_in_the_same_batch_as_the_years_postings_counts_them(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    with ledger.batch() as unit:
        ledger.post_remittance(remittance("R-2024-07", "P1", date(2024, 7, 1)), unit)
        closed = ledger.close_year(CloseYear(SHENYANG, 2024), unit)
    # One remittance: 80,000 in the income account, 28,000 to P1, 52,000 to the pooled fund.
    assert nonzero(closed["final_balances_fen"]) == {acc.BANK_INCOME: 80_000, acc.FUND_PERSONAL: -28_000, acc.FUND_POOLED: -52_000}


def _pooled_2025(ledger: Ledger) -> dict[tuple[str, str], int]:
    year_postings = [p for e in events(ledger) if getattr(e, "region", None) == SHENYANG and hasattr(e, "postings")
                     and e.on.year == 2025 for p in e.postings]
    report = acc.income_and_expenditure(year_postings)
    return {(item, side): v for (fund, item, side), v in report.items() if fund == acc.FUND_POOLED}


def _closes_with(opening_fen: int, pooled: dict[tuple[str, str], int]) -> int:
    """Final accounts (决算): opening + income - expenditure + transfers in - transfers out."""
    income_fen = sum(v for (item, side), v in pooled.items() if item.startswith("income.") and side == "in")
    expenditure_fen = sum(v for (item, side), v in pooled.items() if item.startswith("expenditure.") and side == "out")
    transfers_fen = sum(v if side == "in" else -v for (item, side), v in pooled.items() if item.startswith("transfer."))
    return opening_fen + income_fen - expenditure_fen + transfers_fen


@pytest.fixture
def carried_into_2025(ledger: Ledger) -> Ledger:
    """2024: one remittance on 1 January, all 80,000 left in the income account.
    P1 28,000 × 366 × 0.00001 = 102.48 -> 102; the income account 80,000 × 366 × 0.00001 = 292.8 -> 293;
    the pooled fund 293 - 102 = 191 and holds 52,000 + 191 = 52,191 at the close; the bank 80,293."""
    enrol(ledger, "P1")
    remit(ledger, "R-2024-01", "P1", date(2024, 1, 1))
    assert ledger.post_interest(PostInterest(SHENYANG, 2024))["pooled_fen"] == 191
    ledger.close_year(CloseYear(SHENYANG, 2024))
    return ledger


def test_the_deposits_carried_over_earn_the_3_month_rate_and_the_pooled_fund_its_share(carried_into_2025: Ledger) -> None:
    """Liao 1999 §II(5)6: the fund's principal and interest carried over from earlier years earn
    the 3-month rate wherever they are deposited (not the demand rate of the income account).
    2025: P1's 28,102 carried over × 365 × 0.00003 = 307.72 -> 308; the income account's 80,293
    carried over × 365 = 29,306,945 × 0.00003 = 879.21 -> 879; the pooled fund 879 - 308 = 571
    (at one demand rate per account the bank earned 293 and the pooled fund made up 15)."""
    ledger = carried_into_2025
    outcome = ledger.post_interest(PostInterest(SHENYANG, 2025))
    assert (outcome["personal_accounts_fen"], outcome["bank_interest_fen"], outcome["pooled_fen"]) == (308, 879, 571)
    closing_fen = -ledger.close_year(CloseYear(SHENYANG, 2025))["final_balances_fen"][acc.FUND_POOLED]
    assert closing_fen == 52_191 + 571
    pooled = _pooled_2025(ledger)
    assert pooled == {(acc.INCOME_INTEREST, "in"): 571}
    assert _closes_with(52_191, pooled) == closing_fen


def test_final_accounts_add_up_when_the_personal_accounts_earn_more_interest_than_the_deposits(carried_into_2025: Ledger) -> None:
    """When the pooled fund has spent the deposits carried over, the banks hold this year's money
    (demand rate) while the accounts keep theirs (3-month rate): the pooled fund makes up the
    accounts' interest, an internal transfer, not negative interest income.

    2025-01-01 P1's January remittance: 80,000 to the income account (this year's), P1 +28,000,
    pooled fund +52,000 = 104,191. 2025-01-02 P2 (no account money) is in hospital: 170,000 at level
    3, deductible 70,000, 20% of 100,000 = 20,000, pooled 80,000 (pooled fund 24,191 left); the
    80,000 go income -> fiscal special -> expenditure -> hospital the same day, out of the
    carried-over 80,293 first.
      P1: 28,102 × 365 × 0.00003 = 307.72 + 28,000 × 365 × 0.00001 = 102.2 -> 409.92 -> 410
      income account: carried 80,293 × 1 + 293 × 364 = 186,945 × 0.00003 = 5.61;
                      this year's 80,000 × 365 = 29,200,000 × 0.00001 = 292 -> 297.61 -> 298
      pooled fund: 298 - 410 = -112, made up as a transfer of 112 to the accounts.
    """
    ledger = carried_into_2025
    ledger.enrol(Enrol(SHENYANG, "P2", "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)))
    remit(ledger, "R-2025-01", "P1", date(2025, 1, 1))
    on = date(2025, 1, 2)
    assert ledger.settle_inpatient(SettleInpatient(SHENYANG, "IP-P2", "P2", 3, on, on, 170_000))["pooled_fen"] == 80_000
    for movement_id, kind in (("M1", "income_to_fiscal_special"), ("M2", "fiscal_special_to_expenditure"), ("M3", "pay_hospitals")):
        ledger.move_money(MoveBetweenBankAccounts(SHENYANG, movement_id, kind, 80_000, on))
    outcome = ledger.post_interest(PostInterest(SHENYANG, 2025))
    assert (outcome["personal_accounts_fen"], outcome["bank_interest_fen"], outcome["pooled_fen"]) == (410, 298, -112)
    closing_fen = -ledger.close_year(CloseYear(SHENYANG, 2025))["final_balances_fen"][acc.FUND_POOLED]
    assert closing_fen == 52_191 + 52_000 - 80_000 - 112
    pooled = _pooled_2025(ledger)
    assert pooled[(acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS, "out")] == 112
    assert (acc.INCOME_INTEREST, "in") not in pooled
    assert _closes_with(52_191, pooled) == closing_fen
