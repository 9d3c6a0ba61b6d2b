"""Inpatient settlement (ledger/rules.py settle_inpatient) under the shipped policy:
deductible at level 3 of 70,000 / 50,000 / 40,000 / 30,000 fen for the 1st / 2nd / 3rd / 4th and
later admission (level 2: 60,000, level 1: 50,000 first); patient share of the cost above the
deductible: first 1,000,000 fen 20% / 15% / 10% (level 3 / 2 / 1), up to 2,000,000 15% / 12% / 8%,
beyond 10% / 8% / 5%; retirees x 0.5; annual ceiling 2,800,000 fen of pooled payments."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.policy import load_policy_file
from ledger.rules import InpatientBreakdown, settle_inpatient

POLICY = load_policy_file().versions[0]


def settle(total_cost_fen: int, *, level: int = 3, admission: int = 1, excluded_fen: int = 0,
           retiree: bool = False, paid_this_year_fen: int = 0) -> InpatientBreakdown:
    return settle_inpatient(POLICY, hospital_level=level, admission_number=admission, total_cost_fen=total_cost_fen,
                            excluded_fen=excluded_fen, is_retiree=retiree, pooled_paid_this_year_fen=paid_this_year_fen)


def parts(b: InpatientBreakdown) -> tuple[int, int, int, int, int]:
    return (b.excluded_fen, b.deductible_fen, b.copay_fen, b.pooled_fen, b.above_ceiling_fen)


def test_a_bill_below_the_deductible_is_all_deductible() -> None:
    # 50,000 < 70,000 level-3 deductible: the patient's, nothing pooled
    breakdown = settle(50_000)
    assert parts(breakdown) == (0, 50_000, 0, 0, 0)
    assert breakdown.patient_share_fen == 50_000
    assert breakdown.tiers == []


def test_a_bill_equal_to_the_deductible_is_all_deductible() -> None:
    assert parts(settle(70_000)) == (0, 70_000, 0, 0, 0)


def test_first_tier_at_level_3() -> None:
    # 570,000 - 70,000 deductible = 500,000 in tier 1 at 20%: patient 100,000, pooled 400,000
    breakdown = settle(570_000)
    assert parts(breakdown) == (0, 70_000, 100_000, 400_000, 0)
    assert breakdown.patient_share_fen == 170_000  # 70,000 + 100,000
    assert breakdown.tiers == [{"from_fen": 0, "to_fen": 500_000, "band_fen": 500_000, "patient_rate": "0.20", "patient_fen": 100_000,
                               "pooled_fen": 400_000, "referred_fen": 0}]


def test_first_tier_at_levels_2_and_1() -> None:
    # level 2: 1,060,000 - 60,000 = 1,000,000 at 15%: patient 150,000, pooled 850,000
    assert parts(settle(1_060_000, level=2)) == (0, 60_000, 150_000, 850_000, 0)
    # level 1: 550,000 - 50,000 = 500,000 at 10%: patient 50,000, pooled 450,000
    assert parts(settle(550_000, level=1)) == (0, 50_000, 50_000, 450_000, 0)


def test_second_tier_at_level_3() -> None:
    # 1,570,000 - 70,000 = 1,500,000: tier 1 1,000,000 at 20% = 200,000 (pooled 800,000);
    # tier 2 500,000 at 15% = 75,000 (pooled 425,000). Co-pay 275,000, pooled 1,225,000
    breakdown = settle(1_570_000)
    assert parts(breakdown) == (0, 70_000, 275_000, 1_225_000, 0)
    assert [tier["band_fen"] for tier in breakdown.tiers] == [1_000_000, 500_000]


def test_third_tier_at_level_3() -> None:
    # 2,570,000 - 70,000 = 2,500,000: tier 1 200,000 / 800,000; tier 2 1,000,000 at 15% = 150,000 / 850,000;
    # tier 3 500,000 at 10% = 50,000 / 450,000. Co-pay 400,000, pooled 2,100,000 (< ceiling 2,800,000)
    breakdown = settle(2_570_000)
    assert parts(breakdown) == (0, 70_000, 400_000, 2_100_000, 0)
    assert [tier["patient_fen"] for tier in breakdown.tiers] == [200_000, 150_000, 50_000]


def test_copay_is_rounded_half_up_per_tier() -> None:
    # 70,000 + 12,345 = 82,345: tier 1 12,345 at 20% = 2,469 exactly; at level 2, 15% = 1,851.75 -> 1,852
    assert parts(settle(82_345)) == (0, 70_000, 2_469, 9_876, 0)
    # level 2: 60,000 + 12,345; pooled 12,345 - 1,852 = 10,493
    assert parts(settle(72_345, level=2)) == (0, 60_000, 1_852, 10_493, 0)


def test_repeat_admissions_lower_the_deductible_at_level_3() -> None:
    # cost 100,000 each: deductible 70,000 / 50,000 / 40,000 / 30,000 / 30,000 (4th and later);
    # pooled = 80% of the rest: 24,000 / 40,000 / 48,000 / 56,000 / 56,000
    deductibles = [settle(100_000, admission=n).deductible_fen for n in (1, 2, 3, 4, 5)]
    pooled = [settle(100_000, admission=n).pooled_fen for n in (1, 2, 3, 4, 5)]
    assert deductibles == [70_000, 50_000, 40_000, 30_000, 30_000]
    assert pooled == [24_000, 40_000, 48_000, 56_000, 56_000]


def test_retirees_bear_half_the_tier_rate() -> None:
    # 570,000 - 70,000 = 500,000 at 20% x 0.5 = 10%: patient 50,000, pooled 450,000
    breakdown = settle(570_000, retiree=True)
    assert parts(breakdown) == (0, 70_000, 50_000, 450_000, 0)
    assert Decimal(breakdown.tiers[0]["patient_rate"]) == Decimal("0.1")


def test_retirees_still_pay_the_full_deductible() -> None:
    assert settle(60_000, retiree=True).deductible_fen == 60_000


def test_excluded_items_are_the_patients_and_do_not_count_towards_the_deductible() -> None:
    # 600,000 with 30,000 excluded: eligible 570,000 -> deductible 70,000, tier 1 500,000 at 20%
    breakdown = settle(600_000, excluded_fen=30_000)
    assert parts(breakdown) == (30_000, 70_000, 100_000, 400_000, 0)
    assert breakdown.patient_share_fen == 200_000  # 30,000 + 70,000 + 100,000


def test_a_bill_of_only_excluded_items_is_all_the_patients() -> None:
    assert parts(settle(40_000, excluded_fen=40_000)) == (40_000, 0, 0, 0, 0)


def test_ceiling_reached_mid_band_pays_exactly_what_is_left_and_refers_the_rest() -> None:
    # 2,500,000 already paid this year: 300,000 left of the 2,800,000 ceiling.
    # 1,070,000 - 70,000 = 1,000,000 in tier 1 would need 800,000 pooled > 300,000. The cost covered is
    # 300,000 / (1 - 20%) = 375,000: pooled 300,000, patient 75,000; referred 1,000,000 - 375,000 = 625,000
    breakdown = settle(1_070_000, paid_this_year_fen=2_500_000)
    assert breakdown.ceiling_remaining_before_fen == 300_000
    assert parts(breakdown) == (0, 70_000, 75_000, 300_000, 625_000)
    assert breakdown.tiers[0]["referred_fen"] == 625_000


def test_ceiling_reached_mid_band_with_a_rounded_covered_cost() -> None:
    # 1,900,000 paid: 900,000 left. 1,570,000 - 70,000 = 1,500,000: tier 1 pooled 800,000 (100,000 left);
    # tier 2 500,000 at 15% would need 425,000 > 100,000: covered 100,000 / 0.85 = 117,647.06 -> 117,647,
    # pooled 100,000, patient 17,647, referred 500,000 - 117,647 = 382,353. Co-pay 200,000 + 17,647
    breakdown = settle(1_570_000, paid_this_year_fen=1_900_000)
    assert parts(breakdown) == (0, 70_000, 217_647, 900_000, 382_353)
    assert breakdown.pooled_fen == breakdown.ceiling_remaining_before_fen


def test_ceiling_reached_exactly_at_a_tier_boundary_refers_the_next_tier_whole() -> None:
    # 2,000,000 paid: 800,000 left = tier 1's pooled part of 1,000,000 at 20%. Tier 2 (500,000) is referred whole
    assert parts(settle(1_570_000, paid_this_year_fen=2_000_000)) == (0, 70_000, 200_000, 800_000, 500_000)


def test_after_the_ceiling_everything_above_the_deductible_is_referred() -> None:
    # ceiling used up: 570,000 - 70,000 = 500,000 referred, nothing pooled, no co-pay
    assert parts(settle(570_000, paid_this_year_fen=2_800_000)) == (0, 70_000, 0, 0, 500_000)


@settings(max_examples=50, deadline=None)
@given(
    total_cost_fen=st.integers(min_value=1, max_value=8_000_000),
    excluded_share=st.integers(min_value=0, max_value=100),
    level=st.sampled_from([1, 2, 3]),
    admission=st.integers(min_value=1, max_value=6),
    retiree=st.booleans(),
    paid_this_year_fen=st.integers(min_value=0, max_value=3_000_000),
)
def test_every_bill_divides_completely_and_the_pooled_part_stays_under_the_ceiling(
    total_cost_fen: int, excluded_share: int, level: int, admission: int, retiree: bool, paid_this_year_fen: int
) -> None:
    excluded_fen = total_cost_fen * excluded_share // 100
    breakdown = settle(total_cost_fen, level=level, admission=admission, excluded_fen=excluded_fen,
                       retiree=retiree, paid_this_year_fen=paid_this_year_fen)
    assert sum(parts(breakdown)) == total_cost_fen
    assert min(parts(breakdown)) >= 0
    assert breakdown.pooled_fen <= max(0, POLICY.annual_ceiling_fen - paid_this_year_fen)
    assert breakdown.deductible_fen <= POLICY.deductible_fen(level, admission)
