"""Memo funds kept apart from the basic fund (Liao 1999 §II(6)), traceable to a person: the
special groups' funds (retired cadres and old Red Army soldiers, disabled servicemen of class B
and above, civil servants' medical subsidy) pay only registered beneficiaries; the costs above
the ceiling are referred, per person and claim, to the region's supplementary (large-amount) fund,
whose payments are booked against the referral.

Figures: P1 (one month remitted: 28,000 fen in the account, 52,000 in the pooled fund). Above the
ceiling (policy with ``above_ceiling_memo_fund``): P1's first stay of 3,570,000 at level 3 after
the 70,000 deductible: bands of 1,000,000 at 20% / 15% and the rest at 10%: pooled 800,000 +
850,000 = 1,650,000, then 1,150,000 is left of the 2,800,000 ceiling: the third band covers
1,150,000 / 0.9 = 1,277,777.78 -> 1,277,778 of its 1,500,000 (co-pay 127,778), and 222,222 is
referred above the ceiling.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import RecordExpenditure, RecordIncome, RegisterMemoBeneficiary, ReverseClaim, SettleInpatient
from ledger.errors import InvalidInput, UnknownBeneficiary
from ledger.policy import PolicyFile, load_policy_file

from .scenario import SHENYANG, enrol, events, remit

ON = date(2024, 6, 20)


def memo_income(ledger: Ledger, fund: str, amount_fen: int, income_id: str = "I1") -> None:
    ledger.record_income(RecordIncome(SHENYANG, income_id, fund, "fiscal_subsidy", amount_fen, date(2024, 6, 1)))


def pay(fund: str, expenditure_id: str, amount_fen: int, person_id: str | None = None, claim_id: str | None = None) -> RecordExpenditure:
    return RecordExpenditure(SHENYANG, expenditure_id, fund, "benefit", amount_fen, ON, person_id, claim_id)


def test_a_civil_servants_subsidy_is_paid_to_a_registered_insured_person(bare_ledger: Ledger) -> None:
    ledger = bare_ledger
    enrol(ledger, "P1")
    memo_income(ledger, "civil_servant_subsidy", 200_000)
    ledger.register_memo_beneficiary(RegisterMemoBeneficiary(SHENYANG, "civil_servant_subsidy", "P1", date(2024, 1, 1), "HR-2024-7"))
    outcome = ledger.record_expenditure(pay("civil_servant_subsidy", "CS-1", 80_000, "P1"))
    assert (outcome["person_id"], outcome["amount_fen"]) == ("P1", 80_000)
    [paid] = [p for e in events(ledger) for p in getattr(e, "postings", ()) if p["account"] == "fund.memo.civil_servant_subsidy"
              and p["amount_fen"] > 0]
    assert (paid["person_id"], paid["amount_fen"], paid["item"]) == ("P1", 80_000, acc.EXPENDITURE_MEMO_BENEFIT)


def test_a_special_groups_payment_to_nobody_or_to_someone_not_registered_is_refused(bare_ledger: Ledger) -> None:
    ledger = bare_ledger
    enrol(ledger, "P1")
    memo_income(ledger, "civil_servant_subsidy", 200_000)
    with pytest.raises(UnknownBeneficiary) as error:
        ledger.record_expenditure(pay("civil_servant_subsidy", "CS-1", 80_000))
    assert error.value.field == "person_id"
    with pytest.raises(UnknownBeneficiary) as error:
        ledger.record_expenditure(pay("civil_servant_subsidy", "CS-2", 80_000, "P1"))
    assert (error.value.code, error.value.context["person_id"]) == ("unknown_beneficiary", "P1")


def test_the_civil_servants_subsidy_is_for_people_insured_in_the_basic_scheme(bare_ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        bare_ledger.register_memo_beneficiary(RegisterMemoBeneficiary(SHENYANG, "civil_servant_subsidy", "NOBODY", date(2024, 1, 1), "r"))
    assert "basic" in error.value.reason


def test_retired_cadres_are_outside_the_basic_scheme(bare_ledger: Ledger) -> None:
    ledger = bare_ledger
    enrol(ledger, "P1")
    with pytest.raises(InvalidInput) as error:
        ledger.register_memo_beneficiary(RegisterMemoBeneficiary(SHENYANG, "retired_cadres", "P1", date(2024, 1, 1), "r"))
    assert "do not take part" in error.value.reason
    ledger.register_memo_beneficiary(RegisterMemoBeneficiary(SHENYANG, "retired_cadres", "CADRE-1", date(2024, 1, 1), "LX-1949-03"))
    memo_income(ledger, "retired_cadres", 100_000)
    assert ledger.record_expenditure(pay("retired_cadres", "RC-1", 30_000, "CADRE-1"))["person_id"] == "CADRE-1"


def test_a_payment_before_the_beneficiary_was_registered_is_refused(bare_ledger: Ledger) -> None:
    ledger = bare_ledger
    ledger.register_memo_beneficiary(RegisterMemoBeneficiary(SHENYANG, "disabled_servicemen", "DS-1", date(2024, 7, 1), "MCA-B-17"))
    memo_income(ledger, "disabled_servicemen", 100_000)
    with pytest.raises(UnknownBeneficiary) as error:
        ledger.record_expenditure(pay("disabled_servicemen", "DS-PAY-1", 10_000, "DS-1"))  # on 20 June
    assert "2024-07-01" in error.value.reason


# --------------------------------------------------------------------------- above the ceiling


@pytest.fixture
def referring(bare_ledger: Ledger) -> Ledger:
    """Shenyang's policy with a large-amount supplementary fund for costs above the ceiling."""
    ledger = bare_ledger
    shipped = load_policy_file()
    version = shipped.versions[0].model_copy(update={"version": "2024-01-b", "effective_from": date(2024, 1, 2),
                                                      "above_ceiling_memo_fund": "large_amount_supplementary"})
    ledger.open_region(PolicyFile(opened_on=load_policy_file().opened_on, region=SHENYANG, region_name=shipped.region_name, versions=[*shipped.versions, version]))
    enrol(ledger, "P1")
    remit(ledger, "R-2024-01", "P1", date(2024, 1, 15))
    ledger.record_income(RecordIncome(SHENYANG, "FISCAL-1", "pooled", "fiscal_subsidy", 3_000_000, date(2024, 1, 20)))
    ledger.record_income(RecordIncome(SHENYANG, "LA-1", "large_amount_supplementary", "contribution", 500_000, date(2024, 1, 20)))
    return ledger


def stay(ledger: Ledger, claim_id: str = "IP-1") -> dict:
    return ledger.settle_inpatient(SettleInpatient(SHENYANG, claim_id, "P1", 3, date(2024, 3, 1), date(2024, 3, 10), 3_570_000))


def test_the_part_above_the_ceiling_is_referred_to_the_supplementary_fund_per_person_and_claim(referring: Ledger) -> None:
    outcome = stay(referring)
    assert (outcome["pooled_fen"], outcome["copay_fen"], outcome["above_ceiling_fen"]) == (2_800_000, 200_000 + 150_000 + 127_778, 222_222)
    assert outcome["referred_to"] == "large_amount_supplementary"
    paid = referring.record_expenditure(pay("large_amount_supplementary", "LA-PAY-1", 222_222, claim_id="IP-1"))
    assert (paid["person_id"], paid["claim_id"]) == ("P1", "IP-1")
    with pytest.raises(InvalidInput) as error:
        referring.record_expenditure(pay("large_amount_supplementary", "LA-PAY-2", 1, claim_id="IP-1"))
    assert "0 fen" in error.value.reason  # nothing left of the referral


def test_a_supplementary_payment_must_name_a_referred_claim_of_that_person(referring: Ledger) -> None:
    stay(referring)
    with pytest.raises(InvalidInput) as error:
        referring.record_expenditure(pay("large_amount_supplementary", "LA-PAY-1", 100, claim_id="IP-NONE"))
    assert error.value.field == "claim_id"
    with pytest.raises(InvalidInput) as error:
        referring.record_expenditure(pay("large_amount_supplementary", "LA-PAY-1", 100, person_id="P2", claim_id="IP-1"))
    assert error.value.field == "person_id"


def test_reversing_a_referred_claim_cancels_the_referral_unless_the_fund_has_paid_on_it(referring: Ledger) -> None:
    stay(referring, "IP-1")
    referring.reverse_claim(ReverseClaim(SHENYANG, "COR-1", "IP-1", date(2024, 4, 1), "withdrawn"))
    with pytest.raises(InvalidInput):
        referring.record_expenditure(pay("large_amount_supplementary", "LA-PAY-1", 100, claim_id="IP-1"))
    stay(referring, "IP-2")
    referring.record_expenditure(pay("large_amount_supplementary", "LA-PAY-2", 100_000, claim_id="IP-2"))
    with pytest.raises(InvalidInput) as error:
        referring.reverse_claim(ReverseClaim(SHENYANG, "COR-2", "IP-2", date(2024, 4, 2), "withdrawn"))
    assert "100000 fen" in error.value.reason
