"""Contribution rules (ledger/rules.py) under the shipped policy (Liao 1999, Beijing 2001 bands):
employee 2%, employer 6% of the wage base; employer share to the account 0.8% under 35, 1% from
35 to under 45, 2% from 45; retirees 4.3% (under 70) / 4.8% (70 and over) of last year's average
monthly wage of 58,333 fen (700,000 / 12); laid-off base 60% of it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.errors import InvalidInput
from ledger.policy import PolicyVersion, load_policy_file
from ledger.rules import (
    age_on,
    contribution_split,
    laid_off_wage_base_fen,
    pay_from_account,
    retiree_credit_fen,
    split_current_and_carried,
)

POLICY = load_policy_file().versions[0]


def variant(**changes: object) -> PolicyVersion:
    return PolicyVersion.model_validate({**POLICY.model_dump(mode="json"), **changes})


# --------------------------------------------------------------------------- age


def test_age_turns_on_the_birthday_itself() -> None:
    born = date(1989, 7, 15)
    assert age_on(born, date(2024, 7, 14)) == 34
    assert age_on(born, date(2024, 7, 15)) == 35
    assert age_on(born, date(2024, 7, 16)) == 35


def test_age_across_the_new_year() -> None:
    born = date(1979, 1, 1)
    assert age_on(born, date(2023, 12, 31)) == 44
    assert age_on(born, date(2024, 1, 1)) == 45


def test_a_leap_day_birthday_counts_from_march_first_in_common_years() -> None:
    born = date(2000, 2, 29)
    assert age_on(born, date(2023, 2, 28)) == 22
    assert age_on(born, date(2023, 3, 1)) == 23
    assert age_on(born, date(2024, 2, 29)) == 24


# --------------------------------------------------------------------------- employees by age band


def test_employee_aged_34_gets_the_under_35_band() -> None:
    split = contribution_split(POLICY, "employee", 34, 800_000)
    assert split.employee_fen == 16_000  # employee_rate 2% of 800,000
    assert split.employer_fen == 48_000  # employer_rate 6% of 800,000
    assert split.employer_to_personal_fen == 6_400  # band [0, 35): 0.8% of 800,000
    assert split.employer_to_pooled_fen == 41_600  # 48,000 - 6,400
    assert split.to_personal_account_fen == 22_400  # 16,000 + 6,400
    assert split.payable_fen == 64_000  # 16,000 + 48,000


def test_employee_aged_35_gets_the_35_to_45_band() -> None:
    split = contribution_split(POLICY, "employee", 35, 800_000)
    assert split.employer_to_personal_fen == 8_000  # band [35, 45): 1% of 800,000
    assert split.employer_to_pooled_fen == 40_000  # 48,000 - 8,000
    assert split.to_personal_account_fen == 24_000  # 16,000 + 8,000


def test_employee_aged_44_stays_in_the_35_to_45_band() -> None:
    split = contribution_split(POLICY, "employee", 44, 800_000)
    assert split.employer_to_personal_fen == 8_000  # 1% of 800,000


def test_employee_aged_45_gets_the_45_and_over_band() -> None:
    split = contribution_split(POLICY, "employee", 45, 800_000)
    assert split.employer_to_personal_fen == 16_000  # band [45, ...): 2% of 800,000
    assert split.employer_to_pooled_fen == 32_000  # 48,000 - 16,000
    assert split.to_personal_account_fen == 32_000  # 16,000 + 16,000


def test_each_figure_is_rounded_half_up_and_the_employer_share_still_conserves() -> None:
    split = contribution_split(POLICY, "employee", 30, 123_457)
    assert split.employee_fen == 2_469  # 2% of 123,457 = 2,469.14 -> 2,469
    assert split.employer_fen == 7_407  # 6% of 123,457 = 7,407.42 -> 7,407
    assert split.employer_to_personal_fen == 988  # 0.8% of 123,457 = 987.656 -> 988
    assert split.employer_to_pooled_fen == 6_419  # 7,407 - 988
    assert split.employer_to_personal_fen + split.employer_to_pooled_fen == split.employer_fen


def test_a_zero_wage_base_contributes_nothing() -> None:
    split = contribution_split(POLICY, "employee", 30, 0)
    assert (split.employee_fen, split.employer_fen, split.employer_to_personal_fen, split.employer_to_pooled_fen) == (0, 0, 0, 0)


# --------------------------------------------------------------------------- retirees


def test_retiree_under_70_is_credited_4_3_percent_of_the_average_monthly_wage() -> None:
    # 4.3% of 58,333 = 2,508.319 -> 2,508 fen
    assert retiree_credit_fen(POLICY, 69, pension_fen=0) == 2_508
    split = contribution_split(POLICY, "retiree", 69, 0)
    assert split.retiree_credit_fen == 2_508
    assert split.payable_fen == 0  # retirees pay nothing
    assert split.to_personal_account_fen == 2_508


def test_retiree_from_70_is_credited_4_8_percent_of_the_average_monthly_wage() -> None:
    # 4.8% of 58,333 = 2,799.984 -> 2,800 fen
    assert contribution_split(POLICY, "retiree", 70, 0).retiree_credit_fen == 2_800


def test_a_retiree_with_a_non_zero_wage_base_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        contribution_split(POLICY, "retiree", 65, 500_000)
    assert refused.value.field == "wage_base_fen"
    assert refused.value.code == "invalid_input"


def test_retiree_credit_on_own_pension() -> None:
    policy = variant(retiree_credit={"basis": "own_pension", "bands": [{"min_age": 0, "rate": "0.05"}]})
    # 5% of a 300,001 fen pension = 15,000.05 -> 15,000 fen
    assert contribution_split(policy, "retiree", 66, 0, pension_fen=300_001).retiree_credit_fen == 15_000


def test_flat_retiree_credit_ignores_age_and_pension() -> None:
    policy = variant(retiree_credit={"basis": "flat", "flat_monthly_fen": 10_000})
    assert contribution_split(policy, "retiree", 90, 0, pension_fen=500_000).retiree_credit_fen == 10_000


# --------------------------------------------------------------------------- laid-off workers


def test_laid_off_base_is_60_percent_of_the_average_monthly_wage() -> None:
    # 60% of 58,333 = 34,999.8 -> 35,000 fen
    assert laid_off_wage_base_fen(POLICY) == 35_000


def test_laid_off_worker_is_split_like_an_employee_on_the_laid_off_base() -> None:
    split = contribution_split(POLICY, "laid_off", 48, laid_off_wage_base_fen(POLICY))
    assert split.employee_fen == 700  # 2% of 35,000
    assert split.employer_fen == 2_100  # 6% of 35,000
    assert split.employer_to_personal_fen == 700  # age 48, band [45, ...): 2% of 35,000
    assert split.employer_to_pooled_fen == 1_400  # 2,100 - 700


def test_the_laid_off_base_follows_the_average_wage_parameter() -> None:
    policy = variant(previous_year_average_annual_wage_fen=1_200_000, laid_off_wage_base_rate="0.6")
    # 1,200,000 / 12 = 100,000; 60% = 60,000 fen
    assert laid_off_wage_base_fen(policy) == 60_000


def test_contribution_rates_come_from_the_policy() -> None:
    policy = variant(employee_rate="0.025")
    # 2.5% of 800,000 = 20,000 fen
    assert contribution_split(policy, "employee", 30, 800_000).employee_fen == 20_000
    assert policy.employee_rate == Decimal("0.025")


# --------------------------------------------------------------------------- paying from the account


@pytest.mark.parametrize(
    ("balance_fen", "amount_fen", "expected"),
    [
        (10_000, 3_000, (3_000, 0)),  # enough: the account pays it all
        (3_000, 3_000, (3_000, 0)),  # exactly enough
        (2_000, 3_000, (2_000, 1_000)),  # 2,000 from the account, 3,000 - 2,000 out of pocket
        (0, 500, (0, 500)),  # empty account: all out of pocket
        (5_000, 0, (0, 0)),
    ],
)
def test_the_account_pays_while_its_balance_lasts(balance_fen: int, amount_fen: int, expected: tuple[int, int]) -> None:
    assert pay_from_account(balance_fen, amount_fen) == expected


# --------------------------------------------------------------------------- carried over and current year


def test_credits_go_to_the_current_year_money() -> None:
    # (carried 500, current 200) + 100 -> (500, 300)
    assert split_current_and_carried(500, 200, 100) == (500, 300)


def test_payments_draw_on_carried_over_money_first() -> None:
    # -300 from (500, 200): all from the carried 500 -> (200, 200)
    assert split_current_and_carried(500, 200, -300) == (200, 200)


def test_payments_beyond_the_carried_money_draw_on_the_current_year() -> None:
    # -600 from (500, 200): 500 from carried, 100 from current -> (0, 100)
    assert split_current_and_carried(500, 200, -600) == (0, 100)
    # -700 empties both -> (0, 0)
    assert split_current_and_carried(500, 200, -700) == (0, 0)


def test_a_zero_movement_changes_nothing() -> None:
    assert split_current_and_carried(500, 200, 0) == (500, 200)
