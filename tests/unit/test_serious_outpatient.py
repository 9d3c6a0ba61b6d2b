"""Serious and chronic outpatient conditions paid by the pooled fund (门诊大病), and the option of
a yearly cumulative deductible (Liao 1999 §II(4): the pooled fund pays large medical costs; the
deductible may be an amount of medical costs accumulated in the year).

Shipped policy: uremia dialysis, yearly deductible 20,000 fen, patient 10% at level 3; cancer
treatment 50,000, 15%; retirees bear half the rate; ceiling 2,800,000 a year, shared with stays.
P1 (employee) holds 22,400 fen; the pooled fund has a fiscal subsidy to pay from.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import ReverseClaim, SettleSeriousOutpatient
from ledger.errors import InvalidInput
from ledger.policy import PolicyFile, load_policy_file

from .builders import JANUARY, REGION, enrol, fiscal_subsidy, inpatient, remittance


def serious(claim_id: str, person_id: str, total_cost_fen: int, condition: str = "uremia_dialysis", on: date = date(2024, 3, 5),
            level: int = 3) -> SettleSeriousOutpatient:
    return SettleSeriousOutpatient(REGION, claim_id, person_id, condition, level, on, total_cost_fen)


@pytest.fixture
def insured(ledger: Ledger) -> Ledger:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    enrol(ledger, "P2", birth_date=date(1979, 1, 1))
    enrol(ledger, "R1", "retiree", birth_date=date(1950, 6, 1))
    ledger.post_remittance(remittance("R-01", {"P1": 800_000}, 64_000, period=JANUARY))
    fiscal_subsidy(ledger, 10_000_000)
    return ledger


def test_a_dialysis_bill_pays_the_conditions_deductible_and_co_pay_and_the_pooled_fund_the_rest(insured: Ledger) -> None:
    # 300,000: deductible 20,000; 10% of 280,000 = 28,000 co-pay; pooled 252,000.
    # P1's part 48,000: the account pays its 22,400, 25,600 out of pocket.
    pooled_before = insured.pooled_fund(REGION).balance_fen
    outcome = insured.settle_serious_outpatient(serious("S1", "P1", 300_000))
    assert (outcome["deductible_fen"], outcome["copay_fen"], outcome["pooled_fen"]) == (20_000, 28_000, 252_000)
    assert (outcome["account_fen"], outcome["out_of_pocket_fen"], outcome["kind"]) == (22_400, 25_600, "serious_outpatient")
    assert insured.pooled_fund(REGION).balance_fen == pooled_before - 252_000
    report = acc.income_and_expenditure(p for _, e in insured.stored_events() for p in getattr(e, "postings", ()))
    assert report[(acc.FUND_POOLED, acc.EXPENDITURE_SERIOUS_OUTPATIENT, "out")] == 252_000
    assert report[(acc.FUND_PERSONAL, acc.EXPENDITURE_SERIOUS_OUTPATIENT_SELF_PAY, "out")] == 22_400
    assert insured.personal_account(REGION, "P1").pooled_paid_in(2024) == 252_000


def test_the_yearly_deductible_is_met_once_per_condition(insured: Ledger) -> None:
    insured.settle_serious_outpatient(serious("S1", "P1", 300_000))
    # The second dialysis bill, 100,000: deductible met; 10% = 10,000 co-pay, pooled 90,000.
    second = insured.settle_serious_outpatient(serious("S2", "P1", 100_000, on=date(2024, 4, 5)))
    assert (second["deductible_fen"], second["copay_fen"], second["pooled_fen"]) == (0, 10_000, 90_000)
    # Cancer treatment has its own: 200,000 -> deductible 50,000; 15% of 150,000 = 22,500; pooled 127,500.
    cancer = insured.settle_serious_outpatient(serious("S3", "P1", 200_000, condition="cancer_treatment"))
    assert (cancer["deductible_fen"], cancer["copay_fen"], cancer["pooled_fen"]) == (50_000, 22_500, 127_500)
    # A new year, a new deductible: 100,000 in 2025 -> 20,000 + 10% of 80,000 = 8,000; pooled 72,000.
    next_year = insured.settle_serious_outpatient(serious("S4", "P1", 100_000, on=date(2025, 1, 10)))
    assert (next_year["deductible_fen"], next_year["pooled_fen"]) == (20_000, 72_000)


def test_a_retiree_bears_half_the_conditions_co_pay(insured: Ledger) -> None:
    # 300,000: deductible 20,000; 5% of 280,000 = 14,000; pooled 266,000.
    outcome = insured.settle_serious_outpatient(serious("S1", "R1", 300_000))
    assert (outcome["copay_fen"], outcome["pooled_fen"]) == (14_000, 266_000)


def test_stays_and_serious_outpatient_conditions_share_the_annual_ceiling(insured: Ledger) -> None:
    # A stay of 2,570,000 leaves 2,800,000 - 2,100,000 = 700,000 of the ceiling. Dialysis 1,000,000:
    # deductible 20,000; 980,000 at 10% would give the pooled fund 882,000; it pays 700,000 on the
    # cost 700,000 / 0.9 = 777,777.78 -> 777,778 (co-pay 77,778); 980,000 - 777,778 = 202,222 referred.
    insured.settle_inpatient(inpatient("H1", "P2", 2_570_000))
    outcome = insured.settle_serious_outpatient(serious("S1", "P2", 1_000_000))
    assert (outcome["ceiling_remaining_before_fen"], outcome["pooled_fen"]) == (700_000, 700_000)
    assert (outcome["copay_fen"], outcome["above_ceiling_fen"]) == (77_778, 202_222)
    assert insured.personal_account(REGION, "P2").pooled_paid_in(2024) == 2_800_000


def test_a_condition_the_policy_does_not_cover_is_refused(insured: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        insured.settle_serious_outpatient(serious("S1", "P1", 100_000, condition="hay_fever"))
    assert error.value.field == "condition_code"
    assert "uremia_dialysis" in error.value.reason


def test_a_reversed_bill_gives_back_the_ceiling_and_the_deductible(insured: Ledger) -> None:
    insured.settle_serious_outpatient(serious("S1", "P1", 300_000))
    insured.reverse_claim(ReverseClaim(REGION, "COR-1", "S1", date(2024, 3, 20), "billed in error"))
    account = insured.personal_account(REGION, "P1")
    assert (account.pooled_paid_in(2024), account.balance_fen) == (0, 22_400)
    again = insured.settle_serious_outpatient(serious("S2", "P1", 100_000, on=date(2024, 4, 5)))
    assert again["deductible_fen"] == 20_000  # the deductible is due again


# --------------------------------------------------------------------------- a yearly cumulative deductible


@pytest.fixture
def yearly() -> Ledger:
    """The shipped policy with a yearly cumulative deductible of 100,000 fen for stays."""
    shipped = load_policy_file()
    version = shipped.versions[0].model_copy(update={"deductible_mode": "yearly_cumulative", "yearly_deductible_fen": 100_000})
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(PolicyFile(opened_on=load_policy_file().opened_on, region=REGION, region_name="yearly deductible", versions=[version]))
    enrol(app, "P1", birth_date=date(1990, 3, 15))
    fiscal_subsidy(app, 5_000_000)
    return app


def test_a_yearly_cumulative_deductible_is_met_by_the_years_stays(yearly: Ledger) -> None:
    # 60,000: all of it towards the 100,000 deductible. 200,000: the 40,000 left, then 20% of
    # 160,000 = 32,000, pooled 128,000. 100,000: no deductible, 20,000 co-pay, pooled 80,000.
    first = yearly.settle_inpatient(inpatient("H1", "P1", 60_000, admitted_on=date(2024, 2, 1)))
    second = yearly.settle_inpatient(inpatient("H2", "P1", 200_000, admitted_on=date(2024, 5, 1)))
    third = yearly.settle_inpatient(inpatient("H3", "P1", 100_000, admitted_on=date(2024, 8, 1)))
    assert [(o["deductible_fen"], o["copay_fen"], o["pooled_fen"]) for o in (first, second, third)] == [
        (60_000, 0, 0), (40_000, 32_000, 128_000), (0, 20_000, 80_000)]
    # 2025 starts again: 150,000 -> deductible 100,000, 20% of 50,000 = 10,000, pooled 40,000.
    later = yearly.settle_inpatient(inpatient("H4", "P1", 150_000, admitted_on=date(2025, 1, 10)))
    assert (later["deductible_fen"], later["pooled_fen"]) == (100_000, 40_000)


def test_reversing_a_stay_gives_back_the_deductible_it_met(yearly: Ledger) -> None:
    yearly.settle_inpatient(inpatient("H1", "P1", 60_000, admitted_on=date(2024, 2, 1)))
    yearly.reverse_claim(ReverseClaim(REGION, "COR-1", "H1", date(2024, 3, 1), "withdrawn"))
    again = yearly.settle_inpatient(inpatient("H2", "P1", 200_000, admitted_on=date(2024, 5, 1)))
    assert again["deductible_fen"] == 100_000
