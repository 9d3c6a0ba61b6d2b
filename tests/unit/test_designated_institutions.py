"""Designated institutions (Liao 1999 §III(2), 定点医疗机构和定点药店): where a region keeps a
registry in its policy (effective-dated, each hospital with its level), only a designated
hospital or pharmacy may settle a claim; a claim naming another, or none, is refused naming it.

Registry of the test: H3 (level 3, designated from 2024-01-01), H2 (level 2, designated from
2024-01-01 until 2024-06-30), PH1 (a pharmacy from 2024-03-01). P1's account holds 22,400 fen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import PayOutpatient, SettleCrossRegion, fingerprint
from ledger.errors import InvalidInput, NotDesignated
from ledger.policy import PolicyFile, load_policy_file

from .builders import REGION, enrol, event_count, fiscal_subsidy, inpatient, outpatient, remittance

REGISTRY = [
    {"institution_id": "H3", "name": "First Hospital", "kind": "hospital", "level": 3, "designated_from": "2024-01-01"},
    {"institution_id": "H2", "name": "District Hospital", "kind": "hospital", "level": 2, "designated_from": "2024-01-01",
     "designated_until": "2024-06-30"},
    {"institution_id": "PH1", "name": "Corner Pharmacy", "kind": "pharmacy", "designated_from": "2024-03-01"},
]


@pytest.fixture
def region() -> Ledger:
    shipped = load_policy_file()
    version = shipped.versions[0].model_validate({**shipped.versions[0].model_dump(mode="json"), "designated_institutions": REGISTRY})
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(PolicyFile(opened_on=load_policy_file().opened_on, region=REGION, region_name="with a registry", versions=[version]))
    enrol(app, "P1", birth_date=date(1990, 3, 15))
    app.post_remittance(remittance("R-2024-01", {"P1": 800_000}, 64_000))
    fiscal_subsidy(app, 5_000_000)
    return app


def at(command: object, institution_id: str | None) -> object:
    return replace(command, institution_id=institution_id)  # type: ignore[type-var]


def test_a_designated_hospital_settles_a_stay(region: Ledger) -> None:
    # 570,000 at level 3: deductible 70,000, 20% of 500,000 = 100,000, pooled 400,000.
    outcome = region.settle_inpatient(at(inpatient("IP1", "P1", 570_000), "H3"))  # type: ignore[arg-type]
    assert (outcome["pooled_fen"], outcome["institution_id"]) == (400_000, "H3")


def test_a_stay_at_an_institution_outside_the_registry_is_refused_naming_it(region: Ledger) -> None:
    recorded = event_count(region)
    with pytest.raises(NotDesignated) as error:
        region.settle_inpatient(at(inpatient("IP1", "P1", 570_000), "H9"))  # type: ignore[arg-type]
    assert (error.value.code, error.value.field, error.value.context["institution_id"]) == ("not_designated", "institution_id", "H9")
    assert "'H9'" in error.value.reason
    assert event_count(region) == recorded
    assert region.personal_account(REGION, "P1").balance_fen == 22_400


def test_a_claim_naming_no_institution_is_refused_where_the_region_keeps_a_registry(region: Ledger) -> None:
    with pytest.raises(NotDesignated) as error:
        region.pay_outpatient(outpatient("OP1", "P1", 1_000))
    assert error.value.field == "institution_id"


def test_a_hospital_no_longer_designated_is_refused_after_its_last_day(region: Ledger) -> None:
    assert region.settle_inpatient(at(inpatient("IP1", "P1", 100_000, hospital_level=2, admitted_on=date(2024, 6, 3)), "H2"))  # type: ignore[arg-type]
    with pytest.raises(NotDesignated) as error:
        region.settle_inpatient(at(inpatient("IP2", "P1", 100_000, hospital_level=2, admitted_on=date(2024, 7, 1)), "H2"))  # type: ignore[arg-type]
    assert "2024-06-30" in error.value.reason


def test_a_pharmacy_before_its_designation_and_a_hospital_selling_as_a_pharmacy_are_refused(region: Ledger) -> None:
    with pytest.raises(NotDesignated):
        region.pay_outpatient(PayOutpatient(REGION, "PH-1", "P1", "pharmacy", date(2024, 2, 1), 1_000, "PH1"))
    assert region.pay_outpatient(PayOutpatient(REGION, "PH-2", "P1", "pharmacy", date(2024, 3, 1), 1_000, "PH1"))["account_fen"] == 1_000
    with pytest.raises(NotDesignated) as error:
        region.pay_outpatient(PayOutpatient(REGION, "PH-3", "P1", "pharmacy", date(2024, 3, 1), 1_000, "H3"))
    assert "not a pharmacy" in error.value.reason


def test_the_hospital_level_of_a_stay_is_the_registrys(region: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        region.settle_inpatient(at(inpatient("IP1", "P1", 100_000, hospital_level=2), "H3"))  # type: ignore[arg-type]
    assert error.value.field == "hospital_level"
    assert "level-3" in error.value.reason


def test_a_cross_region_stay_is_checked_against_the_treating_regions_registry(region: Ledger) -> None:
    region.open_region(load_policy_file().model_copy(update={"region": "210200", "region_name": "no registry"}))
    command = SettleCrossRegion("210200", REGION, "XR1", "P1", 3, date(2024, 5, 1), date(2024, 5, 4), 100_000, 0, "ANY")
    assert region.settle_cross_region(command)["institution_id"] == "ANY"  # the treating region keeps no registry


def test_a_region_without_a_registry_settles_claims_naming_no_institution(ledger: Ledger) -> None:
    enrol(ledger, "P1")
    assert ledger.pay_outpatient(outpatient("OP1", "P1", 1_000))["duplicate"] is False


def test_a_claim_sent_before_institutions_were_named_keeps_its_fingerprint() -> None:
    """A claim recorded before ``institution_id`` existed, sent again, is still the same claim: its
    fingerprint is the digest of the payload without the field, as it was then."""
    claim = outpatient("OP1", "P1", 1_000)
    then = {"region": REGION, "claim_id": "OP1", "person_id": "P1", "kind": "outpatient", "on": "2024-02-01", "amount_fen": 1_000}
    assert fingerprint(claim) == hashlib.sha256(json.dumps(then, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert fingerprint(replace(claim, institution_id="H3")) != fingerprint(claim)


def test_a_claim_message_sent_before_institutions_were_named_keeps_its_digest() -> None:
    from consumers import schemas

    payload = {"claim_id": "OP-1", "person_id": "P1", "kind": "pharmacy", "on": "2024-03-20", "amount_fen": 4_650}
    message = {"message_id": "m1", "producer": "his", "type": "claim.outpatient", "schema_version": 1, "region": REGION,
               "occurred_at": "2024-03-20T10:00:00+08:00", "payload": payload}
    then = {"type": "claim.outpatient", "region": REGION, "payload": payload}
    expected = hashlib.sha256(json.dumps(then, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    assert schemas.message_digest(schemas.parse_message(json.dumps(message))) == expected
    named = {**message, "payload": {**payload, "institution_id": "PH1"}}
    assert schemas.message_digest(schemas.parse_message(json.dumps(named))) != expected


def test_the_seed_terms_example_keeps_an_effective_dated_registry() -> None:
    from ledger.policy import SEED_TERMS_POLICY_FILE

    [version] = load_policy_file(SEED_TERMS_POLICY_FILE).versions
    clinic = version.designated_institution("DL-H1-001")
    assert clinic is not None and clinic.level == 1
    assert (clinic.designated_on(date(2024, 9, 30)), clinic.designated_on(date(2024, 10, 1))) == (True, False)
