"""Corrections (DOMAIN: a closed year accepts no new postings; corrections are new events dated
now that reference the old ones): reversing a claim settled earlier."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import CloseYear, PayOutpatient, RecordIncome, ReverseClaim, SettleInpatient
from ledger.errors import InvalidInput, PeriodClosed, UnknownClaim

from .scenario import SHENYANG, TO_ACCOUNT_FEN, TO_POOLED_FEN, balances, enrol, event_count, remit


@pytest.fixture
def insured(bare_ledger: Ledger) -> Ledger:
    """P1 with one month's contribution: 28,000 fen in the account, 52,000 in the pooled fund."""
    enrol(bare_ledger, "P1")
    remit(bare_ledger, "R-2024-01", "P1", date(2024, 1, 15))
    return bare_ledger


def test_a_reversed_pharmacy_claim_gives_the_account_back_what_it_paid(insured: Ledger) -> None:
    insured.pay_outpatient(PayOutpatient(SHENYANG, "C-1", "P1", "pharmacy", date(2024, 2, 1), 10_000))
    outcome = insured.reverse_claim(ReverseClaim(SHENYANG, "COR-1", "C-1", date(2024, 3, 1), "sold in error"))
    assert (outcome["account_refund_fen"], outcome["pooled_refund_fen"]) == (10_000, 0)
    assert insured.personal_account(SHENYANG, "P1").balance_fen == TO_ACCOUNT_FEN
    # The pharmacy is owed nothing any more; the expenditure item shows the payment and its reversal apart.
    assert balances(insured, SHENYANG).get(acc.PAYABLE_HOSPITALS, 0) == 0
    report = acc.income_and_expenditure(p for _, e in insured.stored_events() for p in getattr(e, "postings", ()))
    assert report[(acc.FUND_PERSONAL, acc.EXPENDITURE_PHARMACY, "out")] == 10_000
    assert report[(acc.FUND_PERSONAL, acc.EXPENDITURE_PHARMACY, "in")] == 10_000


def test_a_reversed_inpatient_claim_no_longer_counts_towards_admissions_or_the_ceiling(insured: Ledger) -> None:
    # 500,000 fen at a level-3 hospital, 1st admission: deductible 70,000; the 430,000 above it at 20%:
    # patient 86,000, pooled 344,000. The patient's 156,000 is paid by the account while it lasts (28,000).
    # A fiscal subsidy of 300,000 lets the pooled fund (52,000) pay it.
    insured.record_income(RecordIncome(SHENYANG, "FISCAL-1", "pooled", "fiscal_subsidy", 300_000, date(2024, 2, 1)))
    insured.settle_inpatient(SettleInpatient(SHENYANG, "IP-1", "P1", 3, date(2024, 3, 1), date(2024, 3, 5), 500_000))
    account = insured.personal_account(SHENYANG, "P1")
    assert (account.admissions_in(2024), account.pooled_paid_in(2024), account.balance_fen) == (1, 344_000, 0)
    outcome = insured.reverse_claim(ReverseClaim(SHENYANG, "COR-2", "IP-1", date(2024, 4, 1), "bill withdrawn"))
    assert (outcome["account_refund_fen"], outcome["pooled_refund_fen"]) == (28_000, 344_000)
    account = insured.personal_account(SHENYANG, "P1")
    assert (account.admissions_in(2024), account.pooled_paid_in(2024), account.balance_fen) == (0, 0, TO_ACCOUNT_FEN)
    assert insured.pooled_fund(SHENYANG).balance_fen == TO_POOLED_FEN + 300_000
    # The next admission is a first admission again: deductible 70,000, not the 2nd admission's 50,000.
    again = insured.settle_inpatient(SettleInpatient(SHENYANG, "IP-2", "P1", 3, date(2024, 5, 1), date(2024, 5, 3), 100_000))
    assert (again["admission_number"], again["deductible_fen"]) == (1, 70_000)
    assert sum(insured.trial_balance().values()) == 0


def test_a_claim_of_a_closed_year_is_corrected_by_events_dated_in_the_open_year(insured: Ledger) -> None:
    insured.pay_outpatient(PayOutpatient(SHENYANG, "C-1", "P1", "outpatient", date(2024, 2, 1), 10_000))
    closed = insured.close_year(CloseYear(SHENYANG, 2024))["final_balances_fen"]
    with pytest.raises(PeriodClosed) as refused:
        insured.reverse_claim(ReverseClaim(SHENYANG, "COR-1", "C-1", date(2024, 12, 31), "late"))
    assert refused.value.field == "on"
    insured.reverse_claim(ReverseClaim(SHENYANG, "COR-1", "C-1", date(2025, 1, 10), "late"))
    assert insured.personal_account(SHENYANG, "P1").balance_fen == TO_ACCOUNT_FEN
    # The closed year's final balances are what they were.
    assert insured.close_year(CloseYear(SHENYANG, 2024))["final_balances_fen"] == closed


def test_a_claim_is_reversed_once_and_an_unknown_claim_is_refused(insured: Ledger) -> None:
    insured.pay_outpatient(PayOutpatient(SHENYANG, "C-1", "P1", "outpatient", date(2024, 2, 1), 10_000))
    correction = ReverseClaim(SHENYANG, "COR-1", "C-1", date(2024, 3, 1), "sold in error")
    insured.reverse_claim(correction)
    recorded = event_count(insured)
    assert insured.reverse_claim(correction)["duplicate"] is True
    assert event_count(insured) == recorded
    with pytest.raises(UnknownClaim) as unknown:  # a refusal the consumers try again later
        insured.reverse_claim(ReverseClaim(SHENYANG, "COR-9", "C-404", date(2024, 3, 1), "typo"))
    assert unknown.value.field == "claim_id"
    insured.pay_outpatient(PayOutpatient(SHENYANG, "C-2", "P1", "outpatient", date(2024, 2, 2), 1_000))
    with pytest.raises(InvalidInput) as someone_else:
        insured.reverse_claim(ReverseClaim(SHENYANG, "COR-8", "C-2", date(2024, 3, 1), "typo", person_id="P2"))
    assert (someone_else.value.field, someone_else.value.context["person_id"]) == ("person_id", "P2")


def test_a_reversal_dated_before_the_claim_it_reverses_is_refused(insured: Ledger) -> None:
    # Accepted, it gave the account back on 5 February what was paid on 10 February: the account
    # held more those days than was ever credited, and earned interest on it.
    insured.pay_outpatient(PayOutpatient(SHENYANG, "C-1", "P1", "pharmacy", date(2024, 2, 10), 10_000))
    recorded = event_count(insured)
    with pytest.raises(InvalidInput) as error:
        insured.reverse_claim(ReverseClaim(SHENYANG, "COR-1", "C-1", date(2024, 2, 5), "sold in error"))
    assert error.value.field == "on"
    assert "settled on 2024-02-10" in error.value.reason
    assert event_count(insured) == recorded
    assert insured.reverse_claim(ReverseClaim(SHENYANG, "COR-1", "C-1", date(2024, 2, 10), "sold in error"))["account_refund_fen"] == 10_000
