"""Claims (Liao 1999 §II(4)): outpatient and pharmacy paid by the personal account; inpatient bills
and serious outpatient conditions settled between the pooled fund, the account and the patient;
only at designated institutions where the region keeps a registry (§III(2)); and their
corrections.

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import BusinessRecord, PersonalAccount, PooledFund, check_ceiling
from ledger.commands import PayOutpatient, ReverseClaim, SettleInpatient, SettleSeriousOutpatient, check_text, fingerprint
from ledger.core import CoreLedger
from ledger.errors import InvalidInput, UnknownClaim
from ledger.policy import PolicyVersion
from ledger.records import ClearingPosition, MemoFund
from ledger.rules import InpatientBreakdown, check_designated, pay_from_account, settle_inpatient, settle_serious_outpatient

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork


class ClaimUseCases(CoreLedger):
    # ------------------------------------------------------------------ claims
    def pay_outpatient(self, command: PayOutpatient, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Outpatient or pharmacy: the personal account pays while its balance lasts, the rest
        is the patient's own payment (Liao 1999 §II(4)). The pooled fund never pays these."""
        return self._run(unit, self._pay_outpatient, command)  # type: ignore[no-any-return]

    def _pay_outpatient(self, unit: UnitOfWork, command: PayOutpatient) -> dict[str, Any]:
        command.check()
        digest = fingerprint(command)
        first = self._first_outcome(unit, "claim", command.region, command.claim_id, digest, "claim_id")
        if first is not None:
            return first
        book = self._book(unit, command.region)
        book.check_open(command.on)
        check_designated(book.in_force(command.on), command.region, command.institution_id,
                         "pharmacy" if command.kind == "pharmacy" else "hospital", command.on)
        account = self._account(unit, command.region, command.person_id)
        account_fen, out_of_pocket_fen = pay_from_account(account.balance_fen, command.amount_fen)
        item = acc.EXPENDITURE_OUTPATIENT if command.kind == "outpatient" else acc.EXPENDITURE_PHARMACY
        account.record_money(
            PersonalAccount.ClaimPaid,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.PAYABLE_HOSPITALS, account_fen, debit_item=item, debit_person_id=account.person_id)),
            on=command.on, origin="claim", claim_id=command.claim_id, kind=command.kind, account_fen=account_fen,
        )
        outcome = {"claim_id": command.claim_id, "person_id": command.person_id, "kind": command.kind,
                   "institution_id": command.institution_id, "amount_fen": command.amount_fen, "account_fen": account_fen,
                   "out_of_pocket_fen": out_of_pocket_fen, "pooled_fen": 0}
        memo = acc.entry(*acc.transfer(acc.MEMO_PATIENT_OUT_OF_POCKET, acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, out_of_pocket_fen, person_id=command.person_id))
        return self._record_outcome(unit, "claim", command.region, command.claim_id, digest, command.on, outcome, memo)

    def settle_inpatient(self, command: SettleInpatient, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Settle an inpatient bill (Liao 1999 §II(4)) by ``rules.settle_inpatient``: the pooled
        fund pays its share up to the annual ceiling; the personal account pays the patient's
        share while it lasts; the rest is out of pocket; above the ceiling is referred."""
        return self._run(unit, self._settle_inpatient, command)  # type: ignore[no-any-return]

    def _settle_inpatient(self, unit: UnitOfWork, command: SettleInpatient) -> dict[str, Any]:
        command.check()
        return self._settle_bill(unit, command, command.region, treating_region=None)

    def settle_serious_outpatient(self, command: SettleSeriousOutpatient, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Settle an outpatient bill for a serious or chronic condition the region's pooled fund
        pays (门诊大病, ``serious_outpatient_conditions``; DOMAIN: a benefit of the pooled fund) by
        ``rules.settle_serious_outpatient``: the condition's yearly deductible, its co-pay, the
        pooled part within the annual ceiling it shares with stays; the personal account pays the
        patient's part while it lasts."""
        return self._run(unit, self._settle_serious_outpatient, command)  # type: ignore[no-any-return]

    def _settle_serious_outpatient(self, unit: UnitOfWork, command: SettleSeriousOutpatient) -> dict[str, Any]:
        command.check()
        return self._settle_bill(unit, command, command.region, treating_region=None)

    def _settle_bill(self, unit: UnitOfWork, command: Any, home_region: str, treating_region: str | None) -> dict[str, Any]:
        """Settle a bill the pooled fund shares (a stay, or a serious outpatient condition) of a
        person of ``home_region`` under its policy. Treated at home, the fund owes the hospital;
        treated in ``treating_region`` (cross-region direct settlement), the home fund owes the
        treating region, which owes its hospital."""
        digest = fingerprint(command)
        first = self._first_outcome(unit, "claim", home_region, command.claim_id, digest, "claim_id")
        if first is not None:
            return first
        bill = _Bill.of(command)
        book = self._book(unit, home_region)
        book.check_open(bill.last_day, bill.date_field)
        policy = book.in_force(bill.first_day)
        treated_under = policy if treating_region is None else self._book(unit, treating_region).in_force(bill.first_day)
        check_designated(treated_under, treating_region or home_region, command.institution_id, "hospital", bill.first_day,
                         command.hospital_level)
        account = self._account(unit, home_region, command.person_id)
        year = bill.first_day.year
        breakdown = self._divide(policy, bill, command, account, year)
        check_ceiling(account, year, breakdown.pooled_fen, policy.annual_ceiling_fen)
        patient_fen = breakdown.patient_share_fen
        account_fen, out_of_pocket_fen = (
            pay_from_account(account.balance_fen, patient_fen) if policy.personal_account_pays_inpatient_self_pay else (0, patient_fen)
        )
        on = bill.last_day
        person = command.person_id
        owed_to = acc.PAYABLE_HOSPITALS if treating_region is None else acc.region_clearing_account(treating_region)
        account_postings = acc.entry(*acc.transfer(acc.FUND_PERSONAL, owed_to, account_fen, debit_item=bill.account_item, debit_person_id=person))
        details: dict[str, Any] = {"on": on, "origin": "claim", "claim_id": command.claim_id, "year": year, "pooled_fen": breakdown.pooled_fen,
                                   "account_fen": account_fen, "deductible_fen": breakdown.deductible_fen}
        if bill.condition_code is not None:
            account.record_money(PersonalAccount.SeriousOutpatientClaimRecorded, account_postings, **details, condition_code=bill.condition_code)
        else:
            account.record_money(PersonalAccount.InpatientClaimRecorded, account_postings, **details)
        receivable_fen = self._pooled_part(unit, home_region, treating_region, policy, bill, command, owed_to, breakdown.pooled_fen, on)
        if treating_region is not None:
            self._advance_clearing(unit, treating_region, home_region, command.claim_id, on, account_fen + breakdown.pooled_fen)
        referred_to = policy.above_ceiling_memo_fund if breakdown.above_ceiling_fen else None
        if referred_to is not None:
            # Liao 1999 §II(4): costs above the ceiling go to supplementary insurance: referred to
            # the region's supplementary fund, per person and claim, for its payments to be booked against.
            self._memo_fund(unit, home_region, referred_to).trigger_event(
                MemoFund.ReferralRecorded, region=home_region, on=on, fund=referred_to, claim_id=command.claim_id, person_id=person,
                referred_fen=breakdown.above_ceiling_fen)
        outcome = {"claim_id": command.claim_id, "person_id": person, "kind": bill.kind, "year": year,
                   "policy_version": policy.version, "treating_region": treating_region or home_region,
                   "institution_id": command.institution_id, "hospital_level": command.hospital_level,
                   "condition_code": bill.condition_code, "deductible_scope": bill.scope,
                   "annual_ceiling_fen": policy.annual_ceiling_fen, **breakdown.as_dict(), "account_fen": account_fen,
                   "out_of_pocket_fen": out_of_pocket_fen, "fiscal_receivable_fen": receivable_fen, "referred_to": referred_to}
        memo = acc.entry(
            *acc.transfer(acc.MEMO_PATIENT_OUT_OF_POCKET, acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, out_of_pocket_fen, person_id=person),
            *acc.transfer(acc.MEMO_REFERRED_ABOVE_CEILING, acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, breakdown.above_ceiling_fen, person_id=person),
        )
        return self._record_outcome(unit, "claim", home_region, command.claim_id, digest, on, outcome, memo)

    @staticmethod
    def _divide(policy: PolicyVersion, bill: _Bill, command: Any, account: PersonalAccount, year: int) -> InpatientBreakdown:
        """The bill's arithmetic under the policy, given what the person's year holds already."""
        common = {"hospital_level": command.hospital_level, "total_cost_fen": command.total_cost_fen,
                  "excluded_fen": command.excluded_fen, "is_retiree": account.category_on(bill.first_day) == "retiree",
                  "pooled_paid_this_year_fen": account.pooled_paid_in(year), "deductible_met_fen": account.deductible_met_in(year, bill.scope)}
        if bill.condition_code is None:
            return settle_inpatient(policy, admission_number=account.admissions_in(year) + 1, **common)
        condition = policy.serious_condition(bill.condition_code)
        if condition is None:
            codes = ", ".join(c.code for c in policy.serious_outpatient_conditions) or "none"
            raise InvalidInput("condition_code", f"{bill.condition_code!r} is not a serious or chronic outpatient condition the pooled "
                               f"fund pays under policy {policy.version} (covered: {codes})", condition_code=bill.condition_code)
        return settle_serious_outpatient(policy, condition, **common)

    def _pooled_part(self, unit: UnitOfWork, home_region: str, treating_region: str | None, policy: PolicyVersion, bill: _Bill,
                     command: Any, owed_to: str, pooled_fen: int, on: date) -> int:
        """The pooled fund pays its part of a bill (``_pooled_pays``): what it covered against the
        fiscal budget, if anything."""
        if not pooled_fen:
            return 0
        postings = acc.entry(*acc.transfer(acc.FUND_POOLED, owed_to, pooled_fen, debit_item=bill.pooled_item))
        details: dict[str, Any] = {"on": on, "claim_id": command.claim_id, "person_id": command.person_id, "pooled_fen": pooled_fen}
        if bill.condition_code is not None:
            return self._pooled_pays(unit, home_region, policy, PooledFund.SeriousOutpatientBenefitPaid, postings, command.claim_id,
                                     **details, condition_code=bill.condition_code)
        if treating_region is not None:
            return self._pooled_pays(unit, home_region, policy, PooledFund.CrossRegionBenefitPaid, postings, command.claim_id,
                                     **details, treating_region=treating_region)
        return self._pooled_pays(unit, home_region, policy, PooledFund.InpatientBenefitPaid, postings, command.claim_id, **details)

    def _cancel_referral(self, unit: UnitOfWork, command: ReverseClaim, claim: dict[str, Any]) -> None:
        """A reversed claim's part above the ceiling is no longer the supplementary fund's: its
        referral is cancelled; if the fund has paid on it already, that is recovered first."""
        if not claim.get("referred_to"):
            return
        fund = self._memo_fund(unit, command.region, claim["referred_to"])
        referral = fund.referrals.get(command.claim_id)
        if referral is None:
            return
        if referral["paid_fen"]:
            raise InvalidInput("claim_id", f"memo fund {fund.name} has paid {referral['paid_fen']} fen on what claim {command.claim_id!r} "
                               "referred above the ceiling: recover that first", claim_id=command.claim_id, paid_fen=referral["paid_fen"])
        fund.trigger_event(MemoFund.ReferralCancelled, region=command.region, on=command.on, fund=fund.name, claim_id=command.claim_id,
                           person_id=referral["person_id"], correction_id=command.correction_id, referred_fen=-referral["referred_fen"])

    def _advance_clearing(self, unit: UnitOfWork, creditor: str, debtor: str, claim_id: str, on: date, amount_fen: int) -> None:
        position = unit.find(ClearingPosition.id_for(creditor, debtor), ClearingPosition)
        if position is None:
            position = ClearingPosition._create(ClearingPosition.Opened, id=ClearingPosition.id_for(creditor, debtor),
                                                creditor_region=creditor, debtor_region=debtor)
            unit.add(position)
        position.trigger_event(
            ClearingPosition.ClaimAdvanced, region=creditor, on=on, claim_id=claim_id, amount_fen=amount_fen,
            postings=acc.entry(*acc.transfer(acc.region_clearing_account(debtor), acc.PAYABLE_HOSPITALS, amount_fen)),
        )


    # ------------------------------------------------------------------ corrections
    def reverse_claim(self, command: ReverseClaim, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Correct a claim settled earlier by reversing it with new events dated ``on`` (the
        claim's own events are never changed, and its year may be closed): the personal account
        gets back what it paid, the pooled fund what it paid, the hospital is owed that much
        less, and an inpatient claim no longer counts towards its year's admissions and ceiling.
        A claim is reversed at most once; settled across regions, it is corrected through the
        clearing instead."""
        return self._run(unit, self._reverse_claim, command)  # type: ignore[no-any-return]

    def _reverse_claim(self, unit: UnitOfWork, command: ReverseClaim) -> dict[str, Any]:
        check_text("correction_id", command.correction_id)
        check_text("reason", command.reason, 200)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "reversal", command.region, command.claim_id, digest, "claim_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        record = unit.find(BusinessRecord.id_for("claim", command.region, command.claim_id), BusinessRecord)
        if record is None:
            raise UnknownClaim("claim_id", f"no claim {command.claim_id!r} was settled in region {command.region}", claim_id=command.claim_id)
        claim = record.outcome
        if command.on < record.on:
            raise InvalidInput("on", f"claim {command.claim_id!r} was settled on {record.on}: its reversal cannot be dated "
                               f"before, on {command.on}", claim_id=command.claim_id, settled_on=record.on)
        if command.person_id is not None and command.person_id != claim["person_id"]:
            raise InvalidInput("person_id", f"claim {command.claim_id!r} is {claim['person_id']!r}'s, not {command.person_id!r}'s",
                               claim_id=command.claim_id, person_id=command.person_id)
        if claim.get("treating_region", command.region) != command.region:
            raise InvalidInput("claim_id", "a claim settled across regions is corrected through the clearing between the regions",
                               claim_id=command.claim_id)
        self._cancel_referral(unit, command, claim)
        serious = claim["kind"] == "serious_outpatient"
        account_fen, pooled_fen = claim["account_fen"], claim.get("pooled_fen", 0)
        account = self._account(unit, command.region, claim["person_id"])
        account.record_money(
            PersonalAccount.ClaimReversed,
            acc.entry(*acc.transfer(acc.PAYABLE_HOSPITALS, acc.FUND_PERSONAL, account_fen, credit_item=ACCOUNT_ITEMS[claim["kind"]],
                                    credit_person_id=account.person_id)),
            on=command.on, origin="claim_reversal", claim_id=command.claim_id, correction_id=command.correction_id,
            year=int(claim.get("year", record.on.year)), pooled_fen=pooled_fen, account_fen=account_fen,
            was_inpatient=claim["kind"] == "inpatient", deductible_scope=claim.get("deductible_scope") or "",
            deductible_fen=claim.get("deductible_fen", 0) if claim.get("deductible_scope") else 0,
        )
        if pooled_fen:
            event_class = PooledFund.SeriousOutpatientBenefitReversed if serious else PooledFund.InpatientBenefitReversed
            pooled_item = acc.EXPENDITURE_SERIOUS_OUTPATIENT if serious else acc.EXPENDITURE_INPATIENT
            unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
                event_class, acc.entry(*acc.transfer(acc.PAYABLE_HOSPITALS, acc.FUND_POOLED, pooled_fen, credit_item=pooled_item)),
                on=command.on, claim_id=command.claim_id, correction_id=command.correction_id, pooled_fen=pooled_fen,
            )
        person = claim["person_id"]
        memo = acc.entry(
            *acc.transfer(acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, acc.MEMO_PATIENT_OUT_OF_POCKET, claim.get("out_of_pocket_fen", 0), person_id=person),
            *acc.transfer(acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, acc.MEMO_REFERRED_ABOVE_CEILING, claim.get("above_ceiling_fen", 0), person_id=person),
        )
        outcome = {"correction_id": command.correction_id, "claim_id": command.claim_id, "person_id": person,
                   "account_refund_fen": account_fen, "pooled_refund_fen": pooled_fen, "reason": command.reason}
        return self._record_outcome(unit, "reversal", command.region, command.claim_id, digest, command.on, outcome, memo)


@dataclass(frozen=True)
class _Bill:
    """What differs between a stay and a serious outpatient bill: its dates, the scope of its
    deductible and its expenditure items."""

    kind: str  # "inpatient" | "serious_outpatient"
    first_day: date  # the policy and the designation in force
    last_day: date  # the day it is booked on
    date_field: str
    condition_code: str | None
    scope: str  # of the deductible: "inpatient" | "serious:<code>"
    account_item: str
    pooled_item: str

    @classmethod
    def of(cls, command: Any) -> _Bill:
        if isinstance(command, SettleSeriousOutpatient):
            return cls("serious_outpatient", command.on, command.on, "on", command.condition_code, f"serious:{command.condition_code}",
                       acc.EXPENDITURE_SERIOUS_OUTPATIENT_SELF_PAY, acc.EXPENDITURE_SERIOUS_OUTPATIENT)
        return cls("inpatient", command.admitted_on, command.discharged_on, "discharged_on", None, "inpatient",
                   acc.EXPENDITURE_INPATIENT_SELF_PAY, acc.EXPENDITURE_INPATIENT)


ACCOUNT_ITEMS = {"outpatient": acc.EXPENDITURE_OUTPATIENT, "pharmacy": acc.EXPENDITURE_PHARMACY,
                 "inpatient": acc.EXPENDITURE_INPATIENT_SELF_PAY, "serious_outpatient": acc.EXPENDITURE_SERIOUS_OUTPATIENT_SELF_PAY}
