"""Interest when an account closes (death, transfer out) near a year's end run: every day's
interest is paid once, whatever the order in which the close and the year's run are recorded
(DOMAIN "Interest"; Liao 1999 §II(3): principal and interest pass to the heirs).

Rates from 1 January 2024 (conftest): demand 0.00001 a day, 3-month 0.00003 a day. P1 receives
28,000 fen on 15 January 2024 and nothing after.
"""

from __future__ import annotations

from datetime import date

from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.commands import PostInterest, RecordDeath, RecordIncome, TransferIn, TransferOut

from .scenario import DALIAN, SHENYANG, TO_ACCOUNT_FEN, enrol, events_of, fund_expenditure_account, remit

# 15 January 2024 to 1 January 2025: 352 days x 28,000 fen x 0.00001 = 98.56 -> 99 fen.
YEAR_2024_INTEREST_FEN = 99


def credits(ledger: Ledger) -> list[tuple[date, int, int]]:
    return [(e.on, e.year, e.interest_fen) for e in events_of(ledger, PersonalAccount.InterestCredited)]


def one_contribution(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    remit(ledger, "R-2024-01", "P1", date(2024, 1, 15))
    fund_expenditure_account(ledger, 60_000, date(2024, 2, 1))


def test_a_death_early_in_the_year_before_last_years_run_pays_the_heirs_last_years_interest(ledger: Ledger) -> None:
    one_contribution(ledger)
    outcome = ledger.record_death(RecordDeath(SHENYANG, "P1", date(2025, 1, 10), "probate 2025-001"))
    # Last year's 99 fen, then 1 to 10 January 2025 on 28,099 fen carried over at the 3-month
    # rate: 28,099 x 9 x 0.00003 = 7.59 -> 8 fen; both credited on the day of the close.
    assert credits(ledger) == [(date(2025, 1, 10), 2024, YEAR_2024_INTEREST_FEN), (date(2025, 1, 10), 2025, 8)]
    assert outcome["paid_to_heirs_fen"] == TO_ACCOUNT_FEN + YEAR_2024_INTEREST_FEN + 8
    run = ledger.post_interest(PostInterest(SHENYANG, 2024))  # the run, in January, finds the account closed
    # The pooled fund advanced the 107 fen in 2025: 2025's posting pays it back, not 2024's
    # (each year's transfers net to nothing in its own books).
    assert (run["accounts_credited"], run["personal_accounts_fen"], run["advanced_at_closes_fen"]) == (0, 0, 0)
    assert ledger.pooled_fund(SHENYANG).interest_advanced_in(2025) == YEAR_2024_INTEREST_FEN + 8
    assert len(credits(ledger)) == 2


def test_the_heirs_receive_the_same_whether_last_years_run_came_before_the_death_or_after(ledger: Ledger) -> None:
    one_contribution(ledger)
    run = ledger.post_interest(PostInterest(SHENYANG, 2024))
    assert run["personal_accounts_fen"] == YEAR_2024_INTEREST_FEN
    outcome = ledger.record_death(RecordDeath(SHENYANG, "P1", date(2025, 1, 10), "probate 2025-001"))
    assert credits(ledger) == [(date(2024, 12, 31), 2024, YEAR_2024_INTEREST_FEN), (date(2025, 1, 10), 2025, 8)]
    assert outcome["paid_to_heirs_fen"] == TO_ACCOUNT_FEN + YEAR_2024_INTEREST_FEN + 8


def test_a_death_recorded_after_the_years_run_but_dated_within_the_year_is_not_paid_that_years_interest_again(ledger: Ledger) -> None:
    one_contribution(ledger)
    ledger.post_interest(PostInterest(SHENYANG, 2024))
    outcome = ledger.record_death(RecordDeath(SHENYANG, "P1", date(2024, 12, 1), "probate 2024-009"))
    # The year-end credit (to 31 December) already paid every day of 2024: nothing more is
    # settled (before the fix, 15 January to 30 November again: 90 fen more).
    assert credits(ledger) == [(date(2024, 12, 31), 2024, YEAR_2024_INTEREST_FEN)]
    assert outcome["paid_to_heirs_fen"] == TO_ACCOUNT_FEN + YEAR_2024_INTEREST_FEN


def test_a_person_who_leaves_and_comes_back_within_the_year_is_paid_each_day_once(ledger: Ledger) -> None:
    one_contribution(ledger)
    ledger.record_income(RecordIncome(DALIAN, "DL-SUBSIDY", "pooled", "fiscal_subsidy", 100_000, date(2024, 2, 1)))
    fund_expenditure_account(ledger, 60_000, date(2024, 2, 1), region=DALIAN, tag="-dalian")
    # Out of Shenyang on 1 July: 15 January to 30 June, 28,000 x 168 x 0.00001 = 47.04 -> 47 fen.
    out = ledger.transfer_out(TransferOut(SHENYANG, "T-1", "P1", DALIAN, date(2024, 7, 1)))
    assert out["amount_fen"] == 28_047
    ledger.transfer_in(TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 7, 1), 28_047, 1))
    # Out of Dalian on 1 August: July, 28,047 x 31 x 0.00001 = 8.69 -> 9 fen.
    back = ledger.transfer_out(TransferOut(DALIAN, "T-2", "P1", SHENYANG, date(2024, 8, 1)))
    assert back["amount_fen"] == 28_056
    ledger.transfer_in(TransferIn(SHENYANG, "T-2", "P1", DALIAN, date(2024, 8, 1), 28_056, 1))
    account = ledger.personal_account(SHENYANG, "P1")
    assert (account.balance_fen, account.interest_settled_to) == (28_056, date(2024, 7, 1))
    run = ledger.post_interest(PostInterest(SHENYANG, 2024))
    # Shenyang's year end pays from the day its close settled to: nothing in July (the money
    # was in Dalian), then 28,056 x 153 days (1 August to 31 December) x 0.00001 = 42.9 -> 43
    # fen. Before the fix it paid from 1 January again: 90 fen, January to June twice.
    assert run["personal_accounts_fen"] == 43
    [year_end] = [e for e in events_of(ledger, PersonalAccount.InterestCredited) if e.on == date(2024, 12, 31)]
    assert (year_end.region, year_end.basis[0]["from"]) == (SHENYANG, "2024-07-01")

