"""Policy in the seeds' own terms (Liao 1999 §II(3)-(4)): the deductible and the ceiling as ratios
of last year's average annual wage (about 10% and 4 times), the employer share to the accounts as
a share of the employer's contribution (about 30%); the policy derives and records the fen
figures. Variants are built from the shipped version (wage 7,000 yuan = 700,000 fen)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.aggregates import PolicyBook
from ledger.application import Ledger
from ledger.policy import SEED_TERMS_POLICY_FILE, PolicyFile, PolicyVersion, load_policy_file
from ledger.rules import contribution_split

RATIOS = {"3": ["0.10", "0.0714", "0.0571", "0.0429"], "2": ["0.0857"], "1": ["0.0714"]}


def shipped(**changes: Any) -> PolicyVersion:
    parameters = load_policy_file().versions[0].model_dump(mode="json")
    return PolicyVersion.model_validate({**parameters, **changes})


def in_seed_terms(wage_fen: int = 700_000) -> PolicyVersion:
    parameters = load_policy_file().versions[0].model_dump(mode="json")
    del parameters["deductible_fen_by_level"], parameters["annual_ceiling_fen"]
    return PolicyVersion.model_validate({**parameters, "previous_year_average_annual_wage_fen": wage_fen,
                                         "deductible_wage_ratio_by_level": RATIOS, "annual_ceiling_wage_multiple": "4"})


def test_the_deductible_and_the_ceiling_follow_from_the_average_wage() -> None:
    # 700,000 × 10% = 70,000; × 7.14% = 49,980; × 5.71% = 39,970; × 4.29% = 30,030;
    # level 2: × 8.57% = 59,990; level 1: × 7.14% = 49,980. Ceiling 4 × 700,000 = 2,800,000.
    version = in_seed_terms()
    assert version.deductible_fen_by_level == {"3": [70_000, 49_980, 39_970, 30_030], "2": [59_990], "1": [49_980]}
    assert version.annual_ceiling_fen == 2_800_000
    assert version.deductible_fen(3, 2) == 49_980


def test_derived_figures_are_rounded_half_up_once() -> None:
    # 812,345 × 10% = 81,234.5 -> 81,235; × 4 = 3,249,380; × 7.14% = 58,001.433 -> 58,001.
    version = in_seed_terms(812_345)
    assert version.deductible_fen_by_level["3"][:2] == [81_235, 58_001]
    assert version.annual_ceiling_fen == 3_249_380


def test_a_ratio_and_a_fen_figure_that_disagree_are_refused() -> None:
    parameters = in_seed_terms().model_dump(mode="json")
    with pytest.raises(ValidationError, match="annual_ceiling_fen 2800001 is not what the wage ratio gives"):
        PolicyVersion.model_validate({**parameters, "annual_ceiling_fen": 2_800_001})
    assert PolicyVersion.model_validate(parameters) == in_seed_terms()  # the stored form (both) round-trips


def test_the_employer_share_to_the_account_as_a_share_of_the_employers_contribution() -> None:
    """30% of the employer's 6% (one band): on a wage of 100,025 fen the employer pays 6,001.5 ->
    6,002 and 30% of it, 1,800.6 -> 1,801, goes to the account (4,201 to the pooled fund); written
    as 1.8% of the wage it would be 1,800.45 -> 1,800."""
    bands = [{"min_age": 0, "rate": "0.30"}]
    version = shipped(employer_to_personal_basis="employer_contribution", employer_to_personal_bands=bands)
    split = contribution_split(version, "employee", 40, 100_025)
    assert (split.employer_fen, split.employer_to_personal_fen, split.employer_to_pooled_fen) == (6_002, 1_801, 4_201)
    as_rate_of_wage = shipped(employer_to_personal_bands=[{"min_age": 0, "rate": "0.018"}])
    assert contribution_split(as_rate_of_wage, "employee", 40, 100_025).employer_to_personal_fen == 1_800


def test_thirty_percent_is_a_share_of_the_contribution_not_of_the_wage() -> None:
    bands = [{"min_age": 0, "rate": "0.30"}]
    assert shipped(employer_to_personal_basis="employer_contribution", employer_to_personal_bands=bands).employer_to_personal_bands
    with pytest.raises(ValidationError, match="more than the whole employer share"):
        shipped(employer_to_personal_bands=bands)  # 30% of the wage is more than the employer's 6%


def test_the_policy_shows_and_records_the_fen_figures_it_derives() -> None:
    # Monthly wage 700,000 / 12 = 58,333.33 -> 58,333; laid-off base 60% = 34,999.8 -> 35,000;
    # retirees 4.3% of 58,333 = 2,508.32 -> 2,508 (under 70), 4.8% = 2,799.98 -> 2,800 (70 and over);
    # 30% of the employer's 6% is 1.8% of the wage.
    bands = [{"min_age": 0, "rate": "0.30"}]
    version = in_seed_terms().model_copy(update={"employer_to_personal_basis": "employer_contribution"})
    version = PolicyVersion.model_validate({**version.model_dump(mode="json"), "employer_to_personal_bands": bands})
    derived = version.derived_figures()
    assert derived["previous_year_average_monthly_wage_fen"] == 58_333
    assert derived["laid_off_wage_base_fen"] == 35_000
    assert derived["annual_ceiling_fen"] == 2_800_000
    assert derived["deductible_fen_by_level"]["3"] == [70_000, 49_980, 39_970, 30_030]
    assert [band["monthly_credit_fen"] for band in derived["retiree_monthly_credit_by_age"]] == [2_508, 2_800]
    assert [Decimal(band["rate_of_wage_base"]) for band in derived["employer_to_personal_by_age"]] == [Decimal("0.018")]
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ledger.open_region(PolicyFile(opened_on=load_policy_file().opened_on, region="210100", region_name="in seed terms", versions=[version]))
    [adopted] = [e for _, e in ledger.stored_events() if isinstance(e, PolicyBook.PolicyAdopted)]
    assert adopted.derived == derived
    assert ledger.policy_in_force("210100", date(2024, 6, 1)).annual_ceiling_fen == 2_800_000


def test_the_shipped_example_in_the_seeds_terms_derives_its_fen_figures() -> None:
    # Dalian example: wage 780,000 fen. Ceiling 4 × 780,000 = 3,120,000; a yearly cumulative
    # deductible of 10% = 78,000. A 40-year-old on a 500,000 wage: employer 6% = 30,000, 30% of it
    # = 9,000 to the account (1.8% of the wage), 21,000 pooled.
    [version] = load_policy_file(SEED_TERMS_POLICY_FILE).versions
    assert version.annual_ceiling_fen == 3_120_000
    assert (version.deductible_mode, version.yearly_deductible_fen) == ("yearly_cumulative", 78_000)
    split = contribution_split(version, "employee", 40, 500_000)
    assert (split.employer_to_personal_fen, split.employer_to_pooled_fen) == (9_000, 21_000)
