"""Interest by the three-rate rule and the product-sum method (DOMAIN "Interest"; Liao 1999
§II(5)6): current-year money at the demand rate, money carried over from earlier years at the
3-month rate, the fiscal special account at the 3-year rate; Σ daily balance × annual rate ÷ day
basis (360 in the example policy), split at every rate change, rounded half up once at the end.
Every figure below is computed by hand in the test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.application import Ledger
from ledger.commands import AnnounceInterestRates, Enrol, MoveBetweenBankAccounts, PostInterest
from ledger.errors import PolicyError
from ledger.interest import Rates, deposit_interest, personal_account_interest
from ledger.money import round_fen

from .scenario import BIRTH, SHENYANG, TO_ACCOUNT_FEN, enrol, event_count, events_of, remit, remittance

# Realistic announced rates: demand 0.35 %, 3-month 1.10 %, 3-year 1.95 %; cut on 1 July 2024.
RATES_2023 = Rates(date(2023, 1, 1), Decimal("0.0035"), Decimal("0.0110"), Decimal("0.0195"))
CUT = Rates(date(2024, 7, 1), Decimal("0.0030"), Decimal("0.0100"), Decimal("0.0180"))
YEAR_2024 = (date(2024, 1, 1), date(2025, 1, 1))
YEAR_2023 = (date(2023, 1, 1), date(2024, 1, 1))


# --------------------------------------------------------------------------- pure functions


def test_a_balance_carried_over_all_year_earns_the_3_month_rate_on_366_days_in_2024() -> None:
    # 100,000 fen carried over from 2023, untouched in 2024 (a leap year: 366 days):
    # 100,000 × 366 = 36,600,000 fen·days; × 1.10 % ÷ 360 = 402,600 ÷ 360 = 1,118.33 -> 1,118 fen.
    result = personal_account_interest([(date(2023, 6, 1), 100_000)], [RATES_2023], *YEAR_2024, 360)
    assert result.interest_fen == 1_118
    [segment] = result.segments
    assert (segment["days"], segment["carried_over_balance_days_fen"], segment["current_year_balance_days_fen"]) == (366, 36_600_000, 0)


def test_the_same_balance_earns_one_day_less_in_2023_which_has_365_days() -> None:
    # 100,000 × 365 = 36,500,000 fen·days; × 1.10 % ÷ 360 = 401,500 ÷ 360 = 1,115.28 -> 1,115 fen,
    # 3 fen less than in 2024: one day's interest is 100,000 × 1.10 % ÷ 360 = 3.06 fen.
    result = personal_account_interest([(date(2022, 6, 1), 100_000)], [RATES_2023], *YEAR_2023, 360)
    assert result.interest_fen == 1_115
    assert result.segments[0]["days"] == 365


def test_a_deposit_made_mid_year_earns_the_demand_rate_from_its_own_day() -> None:
    # Credited on 1 July 2024 (counts in that day's balance): 1 July to 1 January = 184 days.
    # 100,000 × 184 = 18,400,000 fen·days (current year); × 0.35 % ÷ 360 = 64,400 ÷ 360 = 178.89 -> 179 fen.
    result = personal_account_interest([(date(2024, 7, 1), 100_000)], [RATES_2023], *YEAR_2024, 360)
    assert result.interest_fen == 179
    assert result.segments[0]["current_year_balance_days_fen"] == 18_400_000
    assert result.segments[0]["carried_over_balance_days_fen"] == 0


def test_a_payment_draws_on_carried_over_money_first() -> None:
    # 100,000 carried over; +50,000 on 1 March (current year); -30,000 on 1 July, taken from the
    # carried-over money (rules.split_current_and_carried: older money is spent first).
    #   carried: 100,000 × 182 (1 Jan-1 Jul) + 70,000 × 184 (1 Jul-1 Jan) = 18,200,000 + 12,880,000 = 31,080,000
    #   current:  50,000 × 306 (1 Mar-1 Jan)                                                     = 15,300,000
    #   interest: (15,300,000 × 0.35 % + 31,080,000 × 1.10 %) ÷ 360 = (53,550 + 341,880) ÷ 360 = 1,098.42 -> 1,098
    # (Had the payment come out of current money, the account would earn 1,213 fen.)
    movements = [(date(2023, 9, 1), 100_000), (date(2024, 3, 1), 50_000), (date(2024, 7, 1), -30_000)]
    result = personal_account_interest(movements, [RATES_2023], *YEAR_2024, 360)
    [segment] = result.segments
    assert segment["carried_over_balance_days_fen"] == 31_080_000
    assert segment["current_year_balance_days_fen"] == 15_300_000
    assert result.interest_fen == 1_098


def test_a_rate_change_mid_year_splits_the_computation_at_the_change_date() -> None:
    # 100,000 carried over all year; the 3-month rate falls from 1.10 % to 1.00 % on 1 July.
    #   1 Jan-1 Jul: 182 days × 100,000 = 18,200,000 × 1.10 % ÷ 360 = 200,200 ÷ 360 = 556.11
    #   1 Jul-1 Jan: 184 days × 100,000 = 18,400,000 × 1.00 % ÷ 360 = 184,000 ÷ 360 = 511.11
    #   total 1,067.22 -> 1,067 fen
    result = personal_account_interest([(date(2023, 1, 1), 100_000)], [RATES_2023, CUT], *YEAR_2024, 360)
    first, second = result.segments
    assert (first["from"], first["to_exclusive"], first["days"], first["three_month_rate"]) == ("2024-01-01", "2024-07-01", 182, "0.0110")
    assert (second["from"], second["to_exclusive"], second["days"], second["three_month_rate"]) == ("2024-07-01", "2025-01-01", 184, "0.0100")
    assert (first["carried_over_balance_days_fen"], second["carried_over_balance_days_fen"]) == (18_200_000, 18_400_000)
    assert result.interest_fen == 1_067


def test_interest_is_rounded_once_at_the_end_not_per_segment() -> None:
    # 30,000 fen credited on 30 December at a demand rate of 0.36 % (0.00001 a day), with an
    # announcement (same rates) on 31 December cutting the period in two: the money earns one day
    # in each segment, 30,000 × 1 × 0.00001 = 0.3 fen; rounded per segment 0 + 0 = 0, once 0.6 -> 1.
    rates = [Rates(date(2024, 1, 1), Decimal("0.0036"), Decimal("0.0108"), Decimal("0.018")),
             Rates(date(2024, 12, 31), Decimal("0.0036"), Decimal("0.0108"), Decimal("0.018"))]
    result = personal_account_interest([(date(2024, 12, 30), 30_000)], rates, *YEAR_2024, 360)
    assert [segment["current_year_balance_days_fen"] for segment in result.segments] == [30_000, 30_000]
    assert [Decimal(segment["interest_exact_fen"]) for segment in result.segments] == [Decimal("0.3"), Decimal("0.3")]
    assert result.interest_fen == 1


def test_half_a_fen_rounds_up() -> None:
    # 50,000 fen credited on 31 December: 50,000 × 1 day × 0.36 % ÷ 360 = 0.5 fen -> 1 fen (half up,
    # 四舍五入; rounding half to even would give 0).
    rates = [Rates(date(2024, 1, 1), Decimal("0.0036"), Decimal("0.0108"), Decimal("0.018"))]
    assert personal_account_interest([(date(2024, 12, 31), 50_000)], rates, *YEAR_2024, 360).interest_fen == 1
    assert personal_account_interest([(date(2024, 12, 31), 49_999)], rates, *YEAR_2024, 360).interest_fen == 0


def test_the_day_basis_is_the_policys_parameter() -> None:
    # At a 365-day basis a 3.65 % 3-month rate is 0.0001 a day: 100,000 × 365 days × 0.0001 = 3,650 fen.
    rates = [Rates(date(2023, 1, 1), Decimal("0.01"), Decimal("0.0365"), Decimal("0.04"))]
    assert personal_account_interest([(date(2022, 1, 1), 100_000)], rates, *YEAR_2023, 365).interest_fen == 3_650


ROUND_RATES = [Rates(date(2024, 1, 1), Decimal("0.0036"), Decimal("0.0108"), Decimal("0.0180"))]  # 0.00001 / 0.00003 / 0.00005 a day
INCOME, FISCAL, EXPENDITURE = acc.BANK_INCOME, acc.BANK_FISCAL_SPECIAL, acc.BANK_EXPENDITURE


def test_the_fiscal_special_account_earns_the_3_year_rate_on_its_balance_days() -> None:
    # 200,000 fen from 1 April 2024: 275 days (30+31+30+31+31+30+31+30+31) × 200,000 = 55,000,000
    # fen·days × 1.80 % ÷ 360 = 2,750 fen; the 3-year rate, not the demand rate.
    result = deposit_interest([(date(2024, 4, 1), {FISCAL: 200_000})], ROUND_RATES, *YEAR_2024, 360, FISCAL)[FISCAL]
    assert result.segments[0]["current_year_balance_days_fen"] == 55_000_000
    assert result.interest_fen == 2_750


def test_the_fiscal_special_account_earns_the_3_year_rate_on_carried_over_money_too() -> None:
    # 200,000 fen held since 2023, all of 2024 (366 days): 73,200,000 fen·days × 0.00005 = 3,660 fen.
    result = deposit_interest([(date(2023, 5, 1), {FISCAL: 200_000})], ROUND_RATES, *YEAR_2024, 360, FISCAL)[FISCAL]
    assert result.segments[0]["carried_over_balance_days_fen"] == 73_200_000
    assert result.interest_fen == 3_660


def test_deposits_earn_by_the_age_of_the_money_and_money_moved_between_accounts_keeps_its_age() -> None:
    """Liao 1999 §II(5)6: money raised this year earns the demand rate, money carried over from
    earlier years the 3-month rate, whatever bank account holds it.

    2023-06-01 income account +100,000 (carried over into 2024); 2024-03-01 +50,000 (this year's);
    2024-07-01 120,000 moved to the expenditure account: the carried-over 100,000 first, then 20,000
    of this year's, and they stay that old there; 2024-10-01 the expenditure account pays 30,000,
    out of the carried-over money first. Days: 1 Jan-1 Mar 60, 1 Mar-1 Jul 122, 1 Jul-1 Oct 92,
    1 Oct-1 Jan 92 (366).

    Income account: carried 100,000 × 182 = 18,200,000 × 0.00003 = 546
                    this year's 50,000 × 122 + 30,000 × 184 = 6,100,000 + 5,520,000 = 11,620,000 × 0.00001 = 116.2
                    -> 662.2 -> 662 fen (one demand rate on everything gave 298)
    Expenditure:    carried 100,000 × 92 + 70,000 × 92 = 15,640,000 × 0.00003 = 469.2
                    this year's 20,000 × 184 = 3,680,000 × 0.00001 = 36.8
                    -> 506.0 -> 506 fen (had the move made the money new, 193)
    """
    entries = [
        (date(2023, 6, 1), {INCOME: 100_000}),
        (date(2024, 3, 1), {INCOME: 50_000}),
        (date(2024, 7, 1), {INCOME: -120_000, EXPENDITURE: 120_000}),
        (date(2024, 10, 1), {EXPENDITURE: -30_000}),
    ]
    result = deposit_interest(entries, ROUND_RATES, *YEAR_2024, 360, FISCAL)
    income, expenditure = result[INCOME], result[EXPENDITURE]
    assert (income.segments[0]["carried_over_balance_days_fen"], income.segments[0]["current_year_balance_days_fen"]) == (
        18_200_000, 11_620_000)
    assert (expenditure.segments[0]["carried_over_balance_days_fen"], expenditure.segments[0]["current_year_balance_days_fen"]) == (
        15_640_000, 3_680_000)
    assert (income.interest_fen, expenditure.interest_fen) == (662, 506)


def test_interest_with_no_rate_in_force_at_the_start_is_an_error() -> None:
    with pytest.raises(ValueError, match="no interest rates"):
        personal_account_interest([(date(2024, 1, 1), 1)], [CUT], *YEAR_2024, 360)


# --------------------------------------------------------------------------- the ledger


@pytest.fixture
def year_of_deposits(ledger: Ledger) -> Ledger:
    """P1's account gets 28,000 fen on 1 July 2024 (the bank income account 80,000); 50,000 go to
    the fiscal special account on 1 October, 20,000 of them on to the expenditure account on
    1 December."""
    enrol(ledger, "P1")
    remit(ledger, "R-2024-07", "P1", date(2024, 7, 1))
    ledger.move_money(MoveBetweenBankAccounts(SHENYANG, "M1", "income_to_fiscal_special", 50_000, date(2024, 10, 1)))
    ledger.move_money(MoveBetweenBankAccounts(SHENYANG, "M2", "fiscal_special_to_expenditure", 20_000, date(2024, 12, 1)))
    return ledger


def test_year_end_interest_credits_personal_accounts_first_and_the_rest_to_the_pooled_fund(year_of_deposits: Ledger) -> None:
    ledger = year_of_deposits
    outcome = ledger.post_interest(PostInterest(SHENYANG, 2024))
    # Rates of the fixture: demand 0.00001, 3-month 0.00003, 3-year 0.00005 a day.
    # P1: 28,000 current-year money × 184 days (1 Jul-1 Jan) = 5,152,000 × 0.00001 = 51.52 -> 52 fen.
    # Income account (demand): 80,000 × 92 (1 Jul-1 Oct) + 30,000 × 92 (1 Oct-1 Jan) = 10,120,000 -> 101.2 -> 101
    # Fiscal special (3-year): 50,000 × 61 (1 Oct-1 Dec) + 30,000 × 31 = 3,980,000 × 0.00005 = 199
    # Expenditure (demand): 20,000 × 31 (1 Dec-1 Jan) = 620,000 × 0.00001 = 6.2 -> 6
    # The banks earned 101 + 199 + 6 = 306 fen; the pooled fund gets 306 - 52 = 254.
    assert outcome["personal_accounts_fen"] == 52
    assert outcome["bank_interest_fen"] == 306
    assert outcome["pooled_fen"] == 254
    assert outcome["accounts_credited"] == 1
    assert outcome["duplicate"] is False

    account = ledger.personal_account(SHENYANG, "P1")
    assert account.balance_fen == TO_ACCOUNT_FEN + 52
    assert account.credited_by_origin_fen["interest"] == 52
    [credited] = events_of(ledger, PersonalAccount.InterestCredited)
    assert credited.on == date(2024, 12, 31)
    [to_person] = [p for p in credited.postings if p["account"] == acc.FUND_PERSONAL]
    assert to_person == {"account": acc.FUND_PERSONAL, "amount_fen": -52, "item": acc.INCOME_INTEREST,
                         "person_id": "P1", "origin": "interest"}

    assert ledger.bank_balances(SHENYANG) == {acc.BANK_INCOME: 30_000 + 101, acc.BANK_FISCAL_SPECIAL: 30_000 + 199,
                                             acc.BANK_EXPENDITURE: 20_000 + 6}
    fund = ledger.pooled_fund(SHENYANG)
    assert fund.balance_fen == 52_000 + 254
    [posted] = events_of(ledger, PooledFund.InterestPosted)
    pooled_lines = [(p["amount_fen"], p["item"]) for p in posted.postings if p["account"] == acc.FUND_POOLED]
    assert pooled_lines == [(-254, acc.INCOME_INTEREST)]


def test_an_auditor_can_recompute_every_interest_figure_from_the_recorded_basis(year_of_deposits: Ledger) -> None:
    ledger = year_of_deposits
    ledger.post_interest(PostInterest(SHENYANG, 2024))
    [credited] = events_of(ledger, PersonalAccount.InterestCredited)
    exact = sum(
        (Decimal(s["current_year_balance_days_fen"]) * Decimal(s["demand_rate"])
         + Decimal(s["carried_over_balance_days_fen"]) * Decimal(s["three_month_rate"])) / s["day_basis"]
        for s in credited.basis
    )
    assert credited.basis[0]["current_year_balance_days_fen"] == 28_000 * 184
    assert round_fen(exact) == credited.interest_fen == 52

    [posted] = events_of(ledger, PooledFund.InterestPosted)
    recomputed = {
        account: round_fen(sum((Decimal(s["current_year_balance_days_fen"]) * Decimal(s["current_year_rate"])
                                + Decimal(s["carried_over_balance_days_fen"]) * Decimal(s["carried_over_rate"])) / s["day_basis"]
                               for s in segments))
        for account, segments in posted.basis.items()
    }
    assert [(s["current_year_rate"], s["carried_over_rate"]) for s in posted.basis[acc.BANK_INCOME]] == [("0.0036", "0.0108")]
    assert [(s["current_year_rate"], s["carried_over_rate"]) for s in posted.basis[acc.BANK_FISCAL_SPECIAL]] == [("0.0180", "0.0180")]
    assert recomputed == {acc.BANK_INCOME: 101, acc.BANK_FISCAL_SPECIAL: 199, acc.BANK_EXPENDITURE: 6}
    assert {p["account"]: p["amount_fen"] for p in posted.postings if p["account"].startswith("bank.")} == recomputed
    assert posted.bank_interest_fen == sum(recomputed.values())
    assert posted.pooled_fen == posted.bank_interest_fen - posted.personal_accounts_fen


def test_posting_the_same_years_interest_twice_has_no_second_effect(year_of_deposits: Ledger) -> None:
    ledger = year_of_deposits
    first = ledger.post_interest(PostInterest(SHENYANG, 2024))
    recorded = event_count(ledger)
    again = ledger.post_interest(PostInterest(SHENYANG, 2024))
    assert again == {**first, "duplicate": True}
    assert event_count(ledger) == recorded
    assert ledger.personal_account(SHENYANG, "P1").balance_fen == TO_ACCOUNT_FEN + 52


def test_interest_cannot_be_posted_before_any_rates_are_announced(bare_ledger: Ledger) -> None:
    enrol(bare_ledger, "P1")
    remit(bare_ledger, "R1", "P1", date(2024, 7, 1))
    recorded = event_count(bare_ledger)
    with pytest.raises(PolicyError) as error:
        bare_ledger.post_interest(PostInterest(SHENYANG, 2024))
    assert error.value.field == "year"
    assert event_count(bare_ledger) == recorded


def test_interest_cannot_be_posted_when_the_first_rates_start_after_the_first_of_january(bare_ledger: Ledger) -> None:
    bare_ledger.announce_interest_rates(AnnounceInterestRates("mid", date(2024, 3, 1), "0.0036", "0.0108", "0.0180"))
    with pytest.raises(PolicyError) as error:
        bare_ledger.post_interest(PostInterest(SHENYANG, 2024))
    assert error.value.field == "year"


def test_interest_posted_in_a_batch_credits_a_person_enrolled_earlier_in_the_same_batch(ledger: Ledger) -> None:
    with ledger.batch() as unit:
        ledger.enrol(Enrol(SHENYANG, "P1", "employee", BIRTH, "E1", date(2024, 1, 1)), unit)
        ledger.post_remittance(remittance("R-2024-07", "P1", date(2024, 7, 1)), unit)
        outcome = ledger.post_interest(PostInterest(SHENYANG, 2024), unit)
    # 28,000 × 184 days × 0.00001 = 51.52 -> 52 fen, as when the enrolment was saved first.
    assert outcome["personal_accounts_fen"] == 52
    assert ledger.personal_account(SHENYANG, "P1").balance_fen == TO_ACCOUNT_FEN + 52


def test_a_pooled_fund_snapshot_taken_before_bank_entries_loads_with_its_movements_in_date_order() -> None:
    state = {"region": SHENYANG, "bank_movements": {INCOME: [[date(2024, 3, 1), 500], [date(2024, 5, 1), -200]],
                                                    FISCAL: [[date(2024, 4, 1), 200]]}}
    PooledFund.upcast_v1_v2(state)
    assert "bank_movements" not in state
    assert state["bank_entries"] == [(date(2024, 3, 1), {INCOME: 500}), (date(2024, 4, 1), {FISCAL: 200}),
                                     (date(2024, 5, 1), {INCOME: -200})]
