"""Policy as data (ledger/policy.py): loading the shipped file and refusing policies that break
their own rules. Variants are built from the shipped version so each test changes one thing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.errors import InvalidInput
from ledger.policy import PolicyFile, PolicyVersion, band_rate, check_hospital_level, load_policy_file


def shipped_parameters() -> dict[str, Any]:
    """The shipped version as plain JSON types, to be edited by one test."""
    return load_policy_file().versions[0].model_dump(mode="json")


def test_shipped_policy_file_loads_with_the_seed_parameters() -> None:
    policy_file = load_policy_file()
    assert policy_file.region == "210100"
    version = policy_file.versions[0]
    assert version.effective_from == date(2024, 1, 1)
    assert version.employer_rate == Decimal("0.06")  # Liao 1999 §II(2): about 6%
    assert version.employee_rate == Decimal("0.02")  # §II(2): 2%
    assert version.previous_year_average_annual_wage_fen == 700_000
    assert version.annual_ceiling_fen == 2_800_000  # 4 x 700,000


def test_average_monthly_wage_is_the_annual_wage_over_twelve_rounded_half_up() -> None:
    # 700,000 / 12 = 58,333.33 -> 58,333 fen
    assert load_policy_file().versions[0].previous_year_average_monthly_wage_fen == 58_333
    # 700,006 / 12 = 58,333.83 -> 58,334 fen
    version = PolicyVersion.model_validate({**shipped_parameters(), "previous_year_average_annual_wage_fen": 700_006})
    assert version.previous_year_average_monthly_wage_fen == 58_334


def test_a_policy_round_trips_through_its_stored_form() -> None:
    version = load_policy_file().versions[0]
    assert PolicyVersion.model_validate(version.model_dump(mode="json")) == version


# --------------------------------------------------------------------------- employer rate


def test_employer_rate_above_six_percent_without_provincial_approval_is_refused() -> None:
    with pytest.raises(ValidationError, match="employer_rate_approval"):
        PolicyVersion.model_validate({**shipped_parameters(), "employer_rate": "0.065"})


def test_employer_rate_above_six_percent_with_provincial_approval_is_accepted() -> None:
    approval = {"reference": "Liaoning labour & finance depts, approval 2023-17", "approved_on": "2023-12-01"}
    version = PolicyVersion.model_validate({**shipped_parameters(), "employer_rate": "0.065", "employer_rate_approval": approval})
    assert version.employer_rate == Decimal("0.065")
    assert version.employer_rate_approval is not None
    assert version.employer_rate_approval.reference == approval["reference"]


def test_employer_rate_of_exactly_six_percent_needs_no_approval() -> None:
    version = PolicyVersion.model_validate({**shipped_parameters(), "employer_rate": "0.06"})
    assert version.employer_rate_approval is None


@pytest.mark.parametrize("rate", ["-0.01", "1.01"])
def test_rates_outside_zero_to_one_are_refused(rate: str) -> None:
    with pytest.raises(ValidationError):
        PolicyVersion.model_validate({**shipped_parameters(), "employee_rate": rate})


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PolicyVersion.model_validate({**shipped_parameters(), "employe_rate": "0.02"})


# --------------------------------------------------------------------------- age bands


def bands(*spans: tuple[int, int | None, str]) -> list[dict[str, Any]]:
    return [{"min_age": low, "below_age": high, "rate": rate} for low, high, rate in spans]


def test_age_bands_with_a_gap_are_refused() -> None:
    gap = bands((0, 35, "0.008"), (36, 45, "0.010"), (45, None, "0.020"))  # age 35 is in no band
    with pytest.raises(ValidationError, match=r"employer_to_personal_bands\[1\] starts at 36, expected 35"):
        PolicyVersion.model_validate({**shipped_parameters(), "employer_to_personal_bands": gap})


def test_overlapping_age_bands_are_refused() -> None:
    overlap = bands((0, 35, "0.008"), (30, None, "0.010"))
    with pytest.raises(ValidationError, match="starts at 30, expected 35"):
        PolicyVersion.model_validate({**shipped_parameters(), "employer_to_personal_bands": overlap})


def test_age_bands_must_start_at_zero() -> None:
    with pytest.raises(ValidationError, match="starts at 16, expected 0"):
        PolicyVersion.model_validate({**shipped_parameters(), "employer_to_personal_bands": bands((16, None, "0.01"))})


def test_the_last_age_band_must_be_open_ended() -> None:
    closed = bands((0, 35, "0.008"), (35, 120, "0.010"))
    with pytest.raises(ValidationError, match="last band must have no below_age"):
        PolicyVersion.model_validate({**shipped_parameters(), "employer_to_personal_bands": closed})


def test_an_age_band_may_not_credit_more_than_the_employer_share() -> None:
    # 7% of the wage to the account > the 6% employer share
    greedy = bands((0, None, "0.07"))
    with pytest.raises(ValidationError, match="more than the whole employer share"):
        PolicyVersion.model_validate({**shipped_parameters(), "employer_to_personal_bands": greedy})


def test_retiree_credit_bands_with_a_gap_are_refused() -> None:
    rule = {"basis": "average_monthly_wage", "bands": bands((0, 70, "0.043"), (71, None, "0.048"))}
    with pytest.raises(ValidationError, match=r"retiree_credit.bands\[1\] starts at 71, expected 70"):
        PolicyVersion.model_validate({**shipped_parameters(), "retiree_credit": rule})


def test_a_flat_retiree_credit_needs_no_bands() -> None:
    rule = {"basis": "flat", "flat_monthly_fen": 10_000}
    version = PolicyVersion.model_validate({**shipped_parameters(), "retiree_credit": rule})
    assert version.retiree_credit.flat_monthly_fen == 10_000


def test_band_rate_picks_the_band_by_its_edges() -> None:
    version = load_policy_file().versions[0]
    # shipped bands: [0, 35) 0.8%, [35, 45) 1%, [45, ...) 2%
    assert band_rate(version.employer_to_personal_bands, 34) == Decimal("0.008")
    assert band_rate(version.employer_to_personal_bands, 35) == Decimal("0.010")
    assert band_rate(version.employer_to_personal_bands, 44) == Decimal("0.010")
    assert band_rate(version.employer_to_personal_bands, 45) == Decimal("0.020")
    assert band_rate(version.employer_to_personal_bands, 0) == Decimal("0.008")


# --------------------------------------------------------------------------- deductibles and co-pay tiers


def test_deductible_per_admission_falls_to_the_last_entry_and_stays_there() -> None:
    version = load_policy_file().versions[0]
    # level 3: 700, 500, 400, 300 yuan for the 1st, 2nd, 3rd, 4th-and-later admission
    assert [version.deductible_fen(3, n) for n in (1, 2, 3, 4, 5, 9)] == [70_000, 50_000, 40_000, 30_000, 30_000, 30_000]
    assert version.deductible_fen(2, 1) == 60_000
    assert version.deductible_fen(1, 1) == 50_000


def test_a_hospital_level_without_a_deductible_is_refused() -> None:
    parameters = shipped_parameters()
    del parameters["deductible_fen_by_level"]["2"]
    with pytest.raises(ValidationError, match="no entry for level 2"):
        PolicyVersion.model_validate(parameters)


def test_an_empty_deductible_list_is_refused() -> None:
    parameters = shipped_parameters()
    parameters["deductible_fen_by_level"]["1"] = []
    with pytest.raises(ValidationError, match="no entry for level 1"):
        PolicyVersion.model_validate(parameters)


def test_copay_tiers_out_of_order_are_refused() -> None:
    parameters = shipped_parameters()
    first, second, last = parameters["copay_tiers"]
    parameters["copay_tiers"] = [second, first, last]  # 2,000,000 then 1,000,000
    with pytest.raises(ValidationError, match="increasing order"):
        PolicyVersion.model_validate(parameters)


def test_copay_tiers_must_end_unbounded() -> None:
    parameters = shipped_parameters()
    parameters["copay_tiers"] = parameters["copay_tiers"][:2]  # last tier stops at 2,000,000
    with pytest.raises(ValidationError, match="unbounded tier"):
        PolicyVersion.model_validate(parameters)


def test_an_unbounded_tier_in_the_middle_is_refused() -> None:
    parameters = shipped_parameters()
    first, _, last = parameters["copay_tiers"]
    parameters["copay_tiers"] = [first, last, last]
    with pytest.raises(ValidationError, match="increasing order"):
        PolicyVersion.model_validate(parameters)


def test_a_copay_tier_without_a_rate_for_every_level_is_refused() -> None:
    parameters = shipped_parameters()
    del parameters["copay_tiers"][0]["patient_rate_by_level"]["1"]
    with pytest.raises(ValidationError, match="levels 1, 2 and 3"):
        PolicyVersion.model_validate(parameters)


def test_a_copay_tier_with_an_unknown_level_is_refused() -> None:
    parameters = shipped_parameters()
    parameters["copay_tiers"][0]["patient_rate_by_level"]["4"] = "0.30"
    with pytest.raises(ValidationError):
        PolicyVersion.model_validate(parameters)


def test_retiree_copay_rate_is_the_tier_rate_times_the_factor() -> None:
    version = load_policy_file().versions[0]
    first_tier = version.copay_tiers[0]
    # level 3, tier 1: 20%; retiree: 20% x 0.5 = 10%
    assert version.patient_rate(first_tier, 3, is_retiree=False) == Decimal("0.20")
    assert version.patient_rate(first_tier, 3, is_retiree=True) == Decimal("0.10")


# --------------------------------------------------------------------------- hospital levels


@pytest.mark.parametrize("level", [1, 2, 3])
def test_known_hospital_levels_are_accepted(level: int) -> None:
    assert check_hospital_level(level) == level


@pytest.mark.parametrize("level", [0, 4, "3", True, None, -1])
def test_unknown_hospital_level_is_refused_naming_the_field(level: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_hospital_level(level)
    assert refused.value.field == "hospital_level"
    assert refused.value.code == "invalid_input"
    assert "must be 1, 2 or 3" in refused.value.reason


@pytest.mark.parametrize("level", [3.0, Decimal("3")])
def test_a_non_integer_hospital_level_is_refused(level: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_hospital_level(level)
    assert refused.value.field == "hospital_level"


# --------------------------------------------------------------------------- policy files


def file_with(versions: list[dict[str, Any]], region: str = "210100") -> dict[str, Any]:
    return {"region": region, "region_name": "test", "versions": versions}


def test_policy_versions_must_be_in_strictly_increasing_date_order() -> None:
    first = shipped_parameters()
    later = {**first, "version": "2024-07", "effective_from": "2024-07-01"}
    assert len(PolicyFile.model_validate(file_with([first, later])).versions) == 2
    with pytest.raises(ValidationError, match="strictly increasing"):
        PolicyFile.model_validate(file_with([later, first]))
    same_day = {**first, "version": "2024-01b"}
    with pytest.raises(ValidationError, match="strictly increasing"):
        PolicyFile.model_validate(file_with([first, same_day]))


def test_a_policy_file_without_versions_is_refused() -> None:
    with pytest.raises(ValidationError, match="non-empty"):
        PolicyFile.model_validate(file_with([]))


@pytest.mark.parametrize("region", ["21010", "2101000", "shenya"])
def test_a_region_code_must_be_six_digits(region: str) -> None:
    with pytest.raises(ValidationError):
        PolicyFile.model_validate(file_with([shipped_parameters()], region=region))
