"""The use cases through ``Ledger`` on the in-memory store, with the shipped policy of region
210100 (see the module docstrings of test_rules_*.py for its parameters). Periods start
2024-01-01, so ages are taken on that day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.commands import Enrol, RemittanceLine
from ledger.errors import DeclaredTotalMismatch, DuplicateBusinessId, InvalidInput, PolicyError, UnknownPerson, UnknownRegion
from ledger.policy import PolicyFile, load_policy_file

from .builders import REGION, enrol, event_count, fiscal_subsidy, inpatient, outpatient, remittance

# --------------------------------------------------------------------------- a small population
# P1 born 1990-03-15: 33 on 2024-01-01 -> band [0, 35) 0.8%
# P2 born 1979-01-01: 45 on 2024-01-01 (birthday counts) -> band [45, ...) 2%
# P3 born 1979-01-02: 44 on 2024-01-01 -> band [35, 45) 1%
# R1 retiree born 1950-06-01: 73 -> 4.8% of 58,333 = 2,800
# R2 retiree born 1960-01-01: 64 -> 4.3% of 58,333 = 2,508
# L1 laid off born 1975-05-05: 48 -> base 60% of 58,333 = 35,000, band 2%

# January remittance of employer E1, hand-computed:
#   P1 800,000: employee 2% = 16,000; employer 6% = 48,000, of which 0.8% = 6,400 to the account, 41,600 pooled
#   P2 500,000: employee 10,000; employer 30,000, of which 2% = 10,000 to the account, 20,000 pooled
#   P3 500,000: employee 10,000; employer 30,000, of which 1% = 5,000 to the account, 25,000 pooled
#   R1: pays nothing, credited 2,800 from the employer share
# payable 64,000 + 40,000 + 40,000 = 144,000; pooled 41,600 + 20,000 + 25,000 = 86,600;
# accounts P1 22,400, P2 20,000, P3 15,000, R1 2,800; pooled fund 86,600 - 2,800 = 83,800
JANUARY_LINES: dict[str, int | None] = {"P1": 800_000, "P2": 500_000, "P3": 500_000, "R1": None}
JANUARY_TOTAL_FEN = 144_000
# The pooled fund never goes below zero: a fiscal subsidy of 50,000 yuan lets it pay the stays below.
SUBSIDY_FEN = 5_000_000


@pytest.fixture
def people(ledger: Ledger) -> Ledger:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    enrol(ledger, "P2", birth_date=date(1979, 1, 1))
    enrol(ledger, "P3", birth_date=date(1979, 1, 2))
    enrol(ledger, "R1", "retiree", birth_date=date(1950, 6, 1))
    enrol(ledger, "R2", "retiree", birth_date=date(1960, 1, 1))
    enrol(ledger, "L1", "laid_off", birth_date=date(1975, 5, 5))
    return ledger


@pytest.fixture
def funded(people: Ledger) -> Ledger:
    people.post_remittance(remittance("R-2024-01-E1", JANUARY_LINES, JANUARY_TOTAL_FEN))
    fiscal_subsidy(people, SUBSIDY_FEN)
    return people


def balance(ledger: Ledger, person_id: str) -> int:
    return ledger.personal_account(REGION, person_id).balance_fen


def pooled(ledger: Ledger) -> int:
    return ledger.pooled_fund(REGION).balance_fen


def refused(error: pytest.ExceptionInfo[Any], code: str, field: str) -> None:
    assert (error.value.code, error.value.field) == (code, field), error.value.as_dict()


# --------------------------------------------------------------------------- enrolment


def test_enrolling_the_same_person_twice_with_the_same_data_is_a_no_op(ledger: Ledger) -> None:
    assert enrol(ledger, "P1")["created"] is True
    events_before = event_count(ledger)
    assert enrol(ledger, "P1")["created"] is False
    assert event_count(ledger) == events_before


def test_enrolling_the_same_person_with_other_data_is_refused(ledger: Ledger) -> None:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    with pytest.raises(DuplicateBusinessId) as error:
        enrol(ledger, "P1", birth_date=date(1991, 3, 15))
    refused(error, "duplicate_business_id", "person_id")


def test_enrolling_in_a_region_never_opened_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownRegion) as error:
        ledger.enrol(Enrol("999999", "P1", "employee", date(1990, 1, 1), "E1", date(2010, 1, 1)))
    refused(error, "unknown_region", "region")


def test_enrolling_an_unknown_category_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        enrol(ledger, "P1", "student")
    refused(error, "invalid_input", "category")


def test_a_birth_date_after_enrolment_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        enrol(ledger, "P1", birth_date=date(2011, 1, 1))
    refused(error, "invalid_input", "birth_date")


def test_a_new_person_starts_with_an_empty_account(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    assert balance(ledger, "P1") == 0


# --------------------------------------------------------------------------- remittances


def test_a_remittance_is_split_by_age_band_and_retiree_credit(people: Ledger) -> None:
    outcome = people.post_remittance(remittance("R-2024-01-E1", JANUARY_LINES, JANUARY_TOTAL_FEN))
    assert outcome["duplicate"] is False
    assert outcome["total_fen"] == 144_000
    assert outcome["employee_fen"] == 36_000  # 16,000 + 10,000 + 10,000
    assert outcome["employer_fen"] == 108_000  # 48,000 + 30,000 + 30,000
    assert outcome["to_personal_accounts_fen"] == 57_400  # (16,000 + 6,400) + (10,000 + 10,000) + (10,000 + 5,000)
    assert outcome["to_pooled_fund_fen"] == 86_600  # 41,600 + 20,000 + 25,000
    assert outcome["retiree_credit_fen"] == 2_800
    assert [balance(people, p) for p in ("P1", "P2", "P3", "R1")] == [22_400, 20_000, 15_000, 2_800]
    assert pooled(people) == 83_800  # 86,600 - 2,800 credited to R1


def test_a_remittance_books_income_to_the_bank_and_balances(people: Ledger) -> None:
    people.post_remittance(remittance("R-2024-01-E1", JANUARY_LINES, JANUARY_TOTAL_FEN))
    trial = people.trial_balance()
    assert trial["bank.income"] == 144_000  # debit: money received
    assert trial["fund.personal"] == -60_200  # credit: 57,400 + 2,800
    assert trial["fund.pooled"] == -83_800
    assert trial.get("clearing.personal_accounts", 0) == 0
    assert sum(trial.values()) == 0


def test_a_younger_retiree_is_credited_at_the_lower_rate(funded: Ledger) -> None:
    before = pooled(funded)
    funded.post_remittance(remittance("R-R2", {"R2": 0}, 0))
    assert balance(funded, "R2") == 2_508  # 4.3% of 58,333
    assert pooled(funded) == before - 2_508  # funded from the employer share the pooled fund holds


def test_a_declared_total_above_the_computed_one_says_by_how_much(people: Ledger) -> None:
    with pytest.raises(DeclaredTotalMismatch) as error:
        people.post_remittance(remittance("R1", JANUARY_LINES, JANUARY_TOTAL_FEN + 100))
    refused(error, "declared_total_mismatch", "declared_total_fen")
    assert error.value.context["difference_fen"] == 100
    assert error.value.context["computed_total_fen"] == 144_000
    assert "+100 fen" in error.value.reason


def test_a_declared_total_below_the_computed_one_gives_a_negative_difference(people: Ledger) -> None:
    with pytest.raises(DeclaredTotalMismatch) as error:
        people.post_remittance(remittance("R1", JANUARY_LINES, JANUARY_TOTAL_FEN - 1))
    assert error.value.context["difference_fen"] == -1
    assert "-1 fen" in error.value.reason


def test_a_refused_remittance_records_nothing(people: Ledger) -> None:
    events_before = event_count(people)
    with pytest.raises(DeclaredTotalMismatch):
        people.post_remittance(remittance("R1", JANUARY_LINES, JANUARY_TOTAL_FEN + 1))
    assert event_count(people) == events_before
    assert balance(people, "P1") == 0


def test_a_laid_off_worker_is_paid_for_by_the_reemployment_centre(people: Ledger) -> None:
    # base 35,000: employee 700 + employer 2,100 = 2,800 payable; account 700 + 2% of 35,000 = 1,400; pooled 1,400
    outcome = people.post_remittance(remittance("RC-2024-01", {"L1": None}, 2_800, payer_kind="reemployment_centre", payer_id="RC01"))
    assert outcome["total_fen"] == 2_800
    assert balance(people, "L1") == 1_400
    assert pooled(people) == 1_400


def test_a_laid_off_worker_with_the_laid_off_base_stated_is_accepted(people: Ledger) -> None:
    people.post_remittance(remittance("RC-2024-01", {"L1": 35_000}, 2_800, payer_kind="reemployment_centre", payer_id="RC01"))
    assert balance(people, "L1") == 1_400


def test_a_laid_off_worker_with_another_base_is_refused(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("RC-2024-01", {"L1": 40_000}, 3_200, payer_kind="reemployment_centre", payer_id="RC01"))
    refused(error, "invalid_input", "lines[0].wage_base_fen")


def test_an_employer_may_not_pay_for_a_laid_off_worker(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000, "L1": None}, 66_800))
    refused(error, "invalid_input", "lines[1].person_id")


def test_the_reemployment_centre_may_not_pay_for_an_employee(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("RC1", {"P1": 800_000}, 64_000, payer_kind="reemployment_centre", payer_id="RC01"))
    refused(error, "invalid_input", "lines[0].person_id")


def test_a_retiree_with_a_wage_base_is_refused_naming_the_line(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000, "R1": 300_000}, 64_000))
    refused(error, "invalid_input", "lines[1].wage_base_fen")


def test_a_retiree_with_a_wage_base_is_refused(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"R1": 300_000}, 0))
    assert error.value.code == "invalid_input"
    assert error.value.field.endswith("wage_base_fen")
    assert "retirees pay no contribution" in error.value.reason


def test_an_employee_line_without_a_wage_base_is_refused(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": None}, 0))
    refused(error, "invalid_input", "lines[0].wage_base_fen")


def test_an_unknown_person_in_a_remittance_is_named_by_line(people: Ledger) -> None:
    with pytest.raises(UnknownPerson) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000, "NOBODY": 500_000}, 104_000))
    refused(error, "unknown_person", "lines[1].person_id")
    assert error.value.context["person_id"] == "NOBODY"


def test_the_same_person_twice_in_one_remittance_is_refused(people: Ledger) -> None:
    command = remittance("R1", {"P1": 800_000}, 128_000)
    twice = replace(command, lines=(RemittanceLine("P1", 800_000), RemittanceLine("P1", 800_000)))
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(twice)
    refused(error, "invalid_input", "lines[1].person_id")


def test_a_remittance_without_lines_is_refused(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {}, 0))
    refused(error, "invalid_input", "lines")


def test_the_same_remittance_again_returns_the_first_outcome_and_records_nothing(people: Ledger) -> None:
    command = remittance("R-2024-01-E1", JANUARY_LINES, JANUARY_TOTAL_FEN)
    first = people.post_remittance(command)
    events_after_first = event_count(people)
    again = people.post_remittance(command)
    assert again["duplicate"] is True
    assert {k: v for k, v in again.items() if k != "duplicate"} == {k: v for k, v in first.items() if k != "duplicate"}
    assert event_count(people) == events_after_first
    assert balance(people, "P1") == 22_400


def test_the_same_remittance_id_with_another_payload_is_refused(people: Ledger) -> None:
    people.post_remittance(remittance("R-2024-01-E1", JANUARY_LINES, JANUARY_TOTAL_FEN))
    events_before = event_count(people)
    # P1's wage 800,100 instead of 800,000: 2% + 6% of 100 more = 8 fen more
    changed = {**JANUARY_LINES, "P1": 800_100}
    with pytest.raises(DuplicateBusinessId) as error:
        people.post_remittance(remittance("R-2024-01-E1", changed, JANUARY_TOTAL_FEN + 8))
    refused(error, "duplicate_business_id", "remittance_id")
    assert event_count(people) == events_before


@pytest.mark.parametrize("wage", [-1, 100.5, Decimal("100"), Decimal("100.5"), "100", True, 10**13 + 1])
def test_a_wage_base_that_is_not_whole_non_negative_fen_is_refused(people: Ledger, wage: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000, "P2": wage}, 0))
    refused(error, "invalid_input", "lines[1].wage_base_fen")


def test_a_fraction_of_a_fen_is_refused_not_rounded(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000.5}, 64_000))  # type: ignore[dict-item]
    assert "fraction of a fen is refused" in error.value.reason


@pytest.mark.parametrize("declared", [-1, 64_000.0])
def test_a_declared_total_that_is_not_whole_non_negative_fen_is_refused(people: Ledger, declared: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000}, declared))
    refused(error, "invalid_input", "declared_total_fen")


@pytest.mark.parametrize("period", ["2024-13", "2024-00", "2024-1", "24-01", "2024/01", ""])
def test_a_bad_period_is_refused(people: Ledger, period: str) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000}, 64_000, period=period))
    refused(error, "invalid_input", "period")


def test_an_unknown_payer_kind_is_refused(people: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000}, 64_000, payer_kind="government"))
    refused(error, "invalid_input", "payer_kind")


def test_a_period_before_any_policy_is_refused(people: Ledger) -> None:
    with pytest.raises(PolicyError) as error:
        people.post_remittance(remittance("R1", {"P1": 800_000}, 64_000, period="2023-12"))
    refused(error, "policy_error", "on")


def test_a_remittance_uses_the_policy_in_force_on_the_first_day_of_its_period(people: Ledger) -> None:
    shipped = load_policy_file()
    july = shipped.versions[0].model_copy(update={"version": "2024-07", "effective_from": date(2024, 7, 1),
                                                   "employee_rate": Decimal("0.025")})
    people.open_region(PolicyFile(region=shipped.region, region_name=shipped.region_name, versions=[shipped.versions[0], july]))
    # June: 2% + 6% of 800,000 = 64,000; account 16,000 + 6,400 = 22,400
    people.post_remittance(remittance("R-06", {"P1": 800_000}, 64_000, period="2024-06"))
    assert balance(people, "P1") == 22_400
    # July: 2.5% of 800,000 = 20,000 + 48,000 = 68,000; account 22,400 + 20,000 + 6,400 = 48,800
    people.post_remittance(remittance("R-07", {"P1": 800_000}, 68_000, period="2024-07"))
    assert balance(people, "P1") == 48_800
    assert people.policy_in_force(REGION, date(2024, 6, 30)).version == "2024-01"
    assert people.policy_in_force(REGION, date(2024, 7, 1)).version == "2024-07"


def test_opening_a_region_again_adopts_nothing_new(ledger: Ledger) -> None:
    events_before = event_count(ledger)
    ledger.open_region(load_policy_file())
    assert event_count(ledger) == events_before


# --------------------------------------------------------------------------- outpatient and pharmacy


def test_outpatient_is_paid_by_the_account_while_it_lasts_then_out_of_pocket(funded: Ledger) -> None:
    # P1 holds 22,400
    first = funded.pay_outpatient(outpatient("C1", "P1", 10_000))
    assert (first["account_fen"], first["out_of_pocket_fen"], first["pooled_fen"]) == (10_000, 0, 0)
    # 12,400 left; a 15,000 pharmacy purchase: 12,400 from the account, 2,600 out of pocket
    second = funded.pay_outpatient(outpatient("C2", "P1", 15_000, kind="pharmacy"))
    assert (second["account_fen"], second["out_of_pocket_fen"]) == (12_400, 2_600)
    assert balance(funded, "P1") == 0
    # empty account: all 5,000 out of pocket
    third = funded.pay_outpatient(outpatient("C3", "P1", 5_000))
    assert (third["account_fen"], third["out_of_pocket_fen"]) == (0, 5_000)
    assert balance(funded, "P1") == 0


def test_outpatient_never_touches_the_pooled_fund(funded: Ledger) -> None:
    funded.pay_outpatient(outpatient("C1", "P1", 30_000))  # more than P1's 22,400
    assert pooled(funded) == 83_800 + SUBSIDY_FEN
    trial = funded.trial_balance()
    assert trial["payable.hospitals"] == -22_400  # owed to the hospital from the account
    assert trial["memo.patient_out_of_pocket"] == 7_600  # 30,000 - 22,400


def test_outpatient_and_pharmacy_are_booked_to_their_own_items(funded: Ledger) -> None:
    funded.pay_outpatient(outpatient("C1", "P1", 1_000))
    funded.pay_outpatient(outpatient("C2", "P1", 2_000, kind="pharmacy"))
    debits = {(p["item"], p["amount_fen"]) for _, event in funded.stored_events() for p in getattr(event, "postings", ())
              if p["account"] == "fund.personal" and p["amount_fen"] > 0}
    assert debits == {("expenditure.benefit.outpatient", 1_000), ("expenditure.benefit.pharmacy", 2_000)}


def test_the_same_outpatient_claim_again_is_a_duplicate(funded: Ledger) -> None:
    first = funded.pay_outpatient(outpatient("C1", "P1", 10_000))
    events_before = event_count(funded)
    again = funded.pay_outpatient(outpatient("C1", "P1", 10_000))
    assert again["duplicate"] is True and again["account_fen"] == first["account_fen"]
    assert event_count(funded) == events_before
    assert balance(funded, "P1") == 12_400


def test_a_claim_id_reused_with_another_amount_is_refused(funded: Ledger) -> None:
    funded.pay_outpatient(outpatient("C1", "P1", 10_000))
    with pytest.raises(DuplicateBusinessId) as error:
        funded.pay_outpatient(outpatient("C1", "P1", 10_001))
    refused(error, "duplicate_business_id", "claim_id")


@pytest.mark.parametrize("amount", [0, -5, 10.5, Decimal("10")])
def test_an_outpatient_amount_must_be_positive_whole_fen(funded: Ledger, amount: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        funded.pay_outpatient(outpatient("C1", "P1", amount))
    refused(error, "invalid_input", "amount_fen")


def test_an_outpatient_claim_of_an_unknown_kind_is_refused(funded: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        funded.pay_outpatient(outpatient("C1", "P1", 100, kind="dental"))
    refused(error, "invalid_input", "kind")


def test_an_outpatient_claim_for_an_unknown_person_is_refused(funded: Ledger) -> None:
    with pytest.raises(UnknownPerson) as error:
        funded.pay_outpatient(outpatient("C1", "NOBODY", 100))
    refused(error, "unknown_person", "person_id")


# --------------------------------------------------------------------------- inpatient


def test_an_inpatient_claim_returns_the_full_breakdown(funded: Ledger) -> None:
    # 570,000 at level 3, 1st admission: deductible 70,000, co-pay 20% of 500,000 = 100,000, pooled 400,000.
    # Patient share 170,000: the account pays its 22,400, 170,000 - 22,400 = 147,600 out of pocket
    outcome = funded.settle_inpatient(inpatient("H1", "P1", 570_000))
    expected = {"total_cost_fen": 570_000, "excluded_fen": 0, "deductible_fen": 70_000, "copay_fen": 100_000,
                "pooled_fen": 400_000, "above_ceiling_fen": 0, "admission_number": 1,
                "ceiling_remaining_before_fen": 2_800_000, "account_fen": 22_400, "out_of_pocket_fen": 147_600,
                "policy_version": "2024-01", "duplicate": False}
    assert {key: outcome[key] for key in expected} == expected
    assert len(outcome["tiers"]) == 1
    assert balance(funded, "P1") == 0
    assert pooled(funded) == 83_800 + SUBSIDY_FEN - 400_000


def test_an_inpatient_claim_is_paid_from_the_account_only_up_to_the_patient_share(funded: Ledger) -> None:
    # P2 holds 20,000; a 60,000 bill is below the 70,000 deductible: the account pays 20,000, 40,000 out of pocket
    outcome = funded.settle_inpatient(inpatient("H1", "P2", 60_000))
    assert (outcome["deductible_fen"], outcome["pooled_fen"]) == (60_000, 0)
    assert (outcome["account_fen"], outcome["out_of_pocket_fen"]) == (20_000, 40_000)
    # a small bill from a full account: P3 has 15,000; a 10,000 bill is all deductible, all from the account
    small = funded.settle_inpatient(inpatient("H2", "P3", 10_000))
    assert (small["account_fen"], small["out_of_pocket_fen"]) == (10_000, 0)
    assert balance(funded, "P3") == 5_000
    assert pooled(funded) == 83_800 + SUBSIDY_FEN


def test_a_retirees_inpatient_claim_bears_half_the_copay(funded: Ledger) -> None:
    # R1 (2,800 in the account): 570,000 -> deductible 70,000, 10% of 500,000 = 50,000, pooled 450,000;
    # patient 120,000: 2,800 from the account, 117,200 out of pocket
    outcome = funded.settle_inpatient(inpatient("H1", "R1", 570_000))
    assert (outcome["copay_fen"], outcome["pooled_fen"]) == (50_000, 450_000)
    assert (outcome["account_fen"], outcome["out_of_pocket_fen"]) == (2_800, 117_200)


def test_excluded_items_are_the_patients_in_an_inpatient_claim(funded: Ledger) -> None:
    # 600,000 with 30,000 excluded: patient 30,000 + 70,000 + 100,000 = 200,000, pooled 400,000
    outcome = funded.settle_inpatient(inpatient("H1", "P1", 600_000, excluded_fen=30_000))
    assert (outcome["excluded_fen"], outcome["pooled_fen"], outcome["account_fen"], outcome["out_of_pocket_fen"]) == (
        30_000, 400_000, 22_400, 177_600)


def test_the_ceiling_is_tracked_across_claims_and_resets_the_next_year(funded: Ledger) -> None:
    # 1st admission 2024: 2,570,000 -> pooled 2,100,000 (tiers: 800,000 + 850,000 + 450,000)
    first = funded.settle_inpatient(inpatient("H1", "P2", 2_570_000, admitted_on=date(2024, 2, 1)))
    assert first["pooled_fen"] == 2_100_000
    # 2nd admission: deductible 50,000; 1,050,000 - 50,000 = 1,000,000 in tier 1 needs 800,000 but only
    # 2,800,000 - 2,100,000 = 700,000 is left: covered 700,000 / 0.8 = 875,000, co-pay 175,000,
    # referred 1,000,000 - 875,000 = 125,000
    second = funded.settle_inpatient(inpatient("H2", "P2", 1_050_000, admitted_on=date(2024, 6, 1)))
    assert (second["admission_number"], second["deductible_fen"], second["ceiling_remaining_before_fen"]) == (2, 50_000, 700_000)
    assert (second["copay_fen"], second["pooled_fen"], second["above_ceiling_fen"]) == (175_000, 700_000, 125_000)
    # 3rd admission: deductible 40,000; ceiling used up, 140,000 - 40,000 = 100,000 referred
    third = funded.settle_inpatient(inpatient("H3", "P2", 140_000, admitted_on=date(2024, 9, 1)))
    assert (third["deductible_fen"], third["pooled_fen"], third["above_ceiling_fen"]) == (40_000, 0, 100_000)
    # 2025: a new year, 1st admission again, full ceiling: 570,000 -> pooled 400,000
    next_year = funded.settle_inpatient(inpatient("H4", "P2", 570_000, admitted_on=date(2025, 1, 10)))
    assert (next_year["admission_number"], next_year["deductible_fen"]) == (1, 70_000)
    assert (next_year["ceiling_remaining_before_fen"], next_year["pooled_fen"]) == (2_800_000, 400_000)
    account = funded.personal_account(REGION, "P2")
    assert account.pooled_paid_in(2024) == 2_800_000
    assert account.pooled_paid_in(2025) == 400_000


def test_admissions_count_even_when_the_account_pays_nothing(people: Ledger) -> None:
    fiscal_subsidy(people, SUBSIDY_FEN)
    # P1 has an empty account; 100,000 bills at level 3: deductibles 70,000 / 50,000 / 40,000 / 30,000 / 30,000
    deductibles = [people.settle_inpatient(inpatient(f"H{n}", "P1", 100_000, admitted_on=date(2024, n, 3)))["deductible_fen"]
                   for n in range(1, 6)]
    assert deductibles == [70_000, 50_000, 40_000, 30_000, 30_000]
    assert people.personal_account(REGION, "P1").admissions_in(2024) == 5


def test_the_deductible_depends_on_the_hospital_level(people: Ledger) -> None:
    fiscal_subsidy(people, SUBSIDY_FEN)
    # level 1, 1st admission: 50,000; 550,000 -> 500,000 at 10%: pooled 450,000
    outcome = people.settle_inpatient(inpatient("H1", "P1", 550_000, hospital_level=1))
    assert (outcome["deductible_fen"], outcome["copay_fen"], outcome["pooled_fen"]) == (50_000, 50_000, 450_000)


def test_the_same_inpatient_claim_again_is_a_duplicate_and_does_not_count_an_admission(funded: Ledger) -> None:
    command = inpatient("H1", "P1", 570_000)
    funded.settle_inpatient(command)
    events_before = event_count(funded)
    again = funded.settle_inpatient(command)
    assert again["duplicate"] is True and again["pooled_fen"] == 400_000
    assert event_count(funded) == events_before
    assert funded.personal_account(REGION, "P1").admissions_in(2024) == 1


@pytest.mark.parametrize("level", [4, 0, "3", True, None])
def test_an_unknown_hospital_level_is_refused(funded: Ledger, level: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        funded.settle_inpatient(inpatient("H1", "P1", 100_000, hospital_level=level))
    refused(error, "invalid_input", "hospital_level")


def test_a_float_hospital_level_is_refused(funded: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        funded.settle_inpatient(inpatient("H1", "P1", 100_000, hospital_level=3.0))
    refused(error, "invalid_input", "hospital_level")


def test_excluded_items_above_the_total_are_refused(funded: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        funded.settle_inpatient(inpatient("H1", "P1", 100_000, excluded_fen=100_001))
    refused(error, "invalid_input", "excluded_fen")


@pytest.mark.parametrize("cost", [0, -1, 100_000.5])
def test_an_inpatient_total_must_be_positive_whole_fen(funded: Ledger, cost: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        funded.settle_inpatient(inpatient("H1", "P1", cost))
    refused(error, "invalid_input", "total_cost_fen")


def test_a_discharge_before_admission_is_refused(funded: Ledger) -> None:
    command = replace(inpatient("H1", "P1", 100_000), discharged_on=date(2024, 1, 31))
    with pytest.raises(InvalidInput) as error:
        funded.settle_inpatient(command)
    refused(error, "invalid_input", "discharged_on")


def test_an_inpatient_claim_for_an_unknown_person_is_refused(funded: Ledger) -> None:
    with pytest.raises(UnknownPerson) as error:
        funded.settle_inpatient(inpatient("H1", "NOBODY", 100_000))
    refused(error, "unknown_person", "person_id")


def test_where_the_account_does_not_pay_inpatient_self_pay_the_patient_pays_it_all() -> None:
    shipped = load_policy_file()
    version = shipped.versions[0].model_copy(update={"personal_account_pays_inpatient_self_pay": False})
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(PolicyFile(region=REGION, region_name="no self-pay from accounts", opened_on=shipped.opened_on, versions=[version]))
    enrol(app, "P1")
    app.post_remittance(remittance("R1", {"P1": 800_000}, 64_000))  # account 22,400
    fiscal_subsidy(app, SUBSIDY_FEN)
    outcome = app.settle_inpatient(inpatient("H1", "P1", 570_000))
    # patient 170,000, all out of pocket; the account keeps its 22,400
    assert (outcome["account_fen"], outcome["out_of_pocket_fen"]) == (0, 170_000)
    assert balance(app, "P1") == 22_400


# --------------------------------------------------------------------------- statements


def test_the_statement_shows_each_movement_with_a_running_balance(funded: Ledger) -> None:
    funded.pay_outpatient(outpatient("C1", "P1", 10_000))
    funded.settle_inpatient(inpatient("H1", "P1", 570_000))
    lines = funded.statement(REGION, "P1")
    assert [(line["reference"], line["change_fen"], line["balance_fen"]) for line in lines] == [
        ("R-2024-01-E1", 22_400, 22_400),
        ("C1", -10_000, 12_400),
        ("H1", -12_400, 0),  # patient share 170,000, the account has 12,400 left
    ]


def test_reading_an_unknown_person_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownPerson):
        ledger.personal_account(REGION, "NOBODY")


@pytest.mark.parametrize("pension", [-1, 1.5])
def test_a_pension_that_is_not_whole_non_negative_fen_is_refused(ledger: Ledger, pension: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        enrol(ledger, "R9", "retiree", birth_date=date(1950, 1, 1), pension_fen=pension)
    refused(error, "invalid_input", "pension_fen")
