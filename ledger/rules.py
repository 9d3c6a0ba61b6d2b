"""The benefit and contribution rules, as pure functions of a policy version.

Nothing here touches storage. Each function cites the policy it implements; every fen figure is
computed with ``ledger.money`` so rounding happens in one place and every split conserves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from ledger.errors import InvalidInput, NotDesignated
from ledger.money import apply_rate, round_fen
from ledger.policy import PolicyVersion, SeriousCondition, band_rate

Category = Literal["employee", "retiree", "laid_off"]
CATEGORIES: tuple[str, ...] = ("employee", "retiree", "laid_off")


def age_on(birth_date: date, on: date) -> int:
    """Age in whole years on ``on`` (a birthday counts from its own day)."""
    had_birthday = (on.month, on.day) >= (birth_date.month, birth_date.day)
    return on.year - birth_date.year - (0 if had_birthday else 1)


@dataclass(frozen=True)
class LineSplit:
    """What one remittance line puts where, in fen.

    ``employee_fen + employer_fen`` is what the payer owes for the line;
    ``employer_fen = employer_to_personal_fen + employer_to_pooled_fen``;
    the person's account receives ``employee_fen + employer_to_personal_fen + retiree_credit_fen``.
    """

    wage_base_fen: int
    employee_fen: int
    employer_fen: int
    employer_to_personal_fen: int
    employer_to_pooled_fen: int
    retiree_credit_fen: int = 0

    @property
    def payable_fen(self) -> int:
        return self.employee_fen + self.employer_fen

    @property
    def to_personal_account_fen(self) -> int:
        return self.employee_fen + self.employer_to_personal_fen + self.retiree_credit_fen

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def laid_off_wage_base_fen(policy: PolicyVersion) -> int:
    """Liao 1999 §II(6): laid-off workers' base is 60% (``laid_off_wage_base_rate``) of the
    previous year's local average wage, here per month."""
    return apply_rate(policy.previous_year_average_monthly_wage_fen, policy.laid_off_wage_base_rate)


def contribution_split(
    policy: PolicyVersion, category: str, age_years: int, wage_base_fen: int, pension_fen: int = 0
) -> LineSplit:
    """Split one month's contribution for one person.

    - Employee share: ``employee_rate`` (2%) of the wage base, all to the personal account
      (Liao 1999 §II(3)).
    - Employer share: ``employer_rate`` (6%) of the wage base; the age band's rate goes to the
      personal account, the rest to the pooled fund (§II(3): about 30%). The band's rate is of
      the wage base, or of the employer's contribution itself (``employer_to_personal_basis``).
    - Retirees pay nothing; their account is credited by the retiree rule, funded from the
      employer share (§II(6)). Their wage base must be zero.
    - Laid-off workers: the same split, on the laid-off base (§II(6)).
    """
    if category == "retiree":
        if wage_base_fen != 0:
            raise InvalidInput(
                "wage_base_fen", "retirees pay no contribution: the wage base must be 0",
                wage_base_fen=wage_base_fen,
            )
        credit_fen = retiree_credit_fen(policy, age_years, pension_fen)
        return LineSplit(0, 0, 0, 0, 0, retiree_credit_fen=credit_fen)
    employee_fen = apply_rate(wage_base_fen, policy.employee_rate)
    employer_fen = apply_rate(wage_base_fen, policy.employer_rate)
    basis_fen = wage_base_fen if policy.employer_to_personal_basis == "wage_base" else employer_fen
    to_personal_fen = apply_rate(basis_fen, band_rate(policy.employer_to_personal_bands, age_years))
    to_personal_fen = min(to_personal_fen, employer_fen)
    return LineSplit(
        wage_base_fen=wage_base_fen,
        employee_fen=employee_fen,
        employer_fen=employer_fen,
        employer_to_personal_fen=to_personal_fen,
        employer_to_pooled_fen=employer_fen - to_personal_fen,
    )


def retiree_credit_fen(policy: PolicyVersion, age_years: int, pension_fen: int) -> int:
    """Monthly retiree credit by the region's rule (``retiree_credit``): a rate by age band of
    the previous year's average monthly wage, or of the retiree's own pension, or a flat sum."""
    rule = policy.retiree_credit
    if rule.basis == "flat":
        return rule.flat_monthly_fen
    basis_fen = (
        policy.previous_year_average_monthly_wage_fen
        if rule.basis == "average_monthly_wage"
        else pension_fen
    )
    return apply_rate(basis_fen, band_rate(rule.bands, age_years))


def contribution_due_date(policy: PolicyVersion, year: int, month: int) -> date | None:
    """The day a month's contributions are due (``late_payment.due_day_of_following_month`` of the
    next month); ``None`` when the policy sets no due date."""
    if policy.late_payment is None:
        return None
    return date(year + month // 12, month % 12 + 1, policy.late_payment.due_day_of_following_month)


def late_fee(policy: PolicyVersion, due_on: date, received_on: date, overdue_fen: int) -> tuple[int, int]:
    """The late fee (滞纳金) on ``overdue_fen`` received on ``received_on`` after ``due_on``:
    ``late_fee_daily_rate`` × the amount × the days from the due date to the day received,
    rounded once, half up (Social Insurance Law art. 86). Returns ``(days_late, fee_fen)``."""
    assert policy.late_payment is not None
    days_late = max(0, (received_on - due_on).days)
    return days_late, apply_rate(overdue_fen * days_late, policy.late_payment.late_fee_daily_rate)


def check_designated(policy: PolicyVersion, region: str, institution_id: str | None, kind: Literal["hospital", "pharmacy"],
                     on: date, hospital_level: int | None = None) -> None:
    """Only a hospital or pharmacy the region designates may settle a claim (Liao 1999 §III(2)),
    when its policy keeps a registry: the institution must be in it, of the right kind,
    designated on ``on``, and a hospital of the stated level."""
    if not policy.designated_institutions:
        return
    if institution_id is None:
        raise NotDesignated("institution_id", f"region {region} settles claims only with its designated hospitals and "
                            "pharmacies (Liao 1999 §III(2)): name the institution", region=region)
    institution = policy.designated_institution(institution_id)
    if institution is None:
        raise NotDesignated("institution_id", f"{institution_id!r} is not a designated hospital or pharmacy of region {region}",
                            region=region, institution_id=institution_id)
    if institution.kind != kind:
        raise NotDesignated("institution_id", f"{institution.name} ({institution_id}) is a designated {institution.kind}, not a {kind}",
                            region=region, institution_id=institution_id)
    if not institution.designated_on(on):
        until = institution.designated_until or "on"
        raise NotDesignated("institution_id", f"{institution.name} ({institution_id}) is designated from {institution.designated_from} "
                            f"through {until}, not on {on}", region=region, institution_id=institution_id, on=on)
    if hospital_level is not None and institution.level != hospital_level:
        raise InvalidInput("hospital_level", f"{institution.name} ({institution_id}) is a level-{institution.level} hospital, "
                           f"not level {hospital_level}", institution_id=institution_id)


def pay_from_account(balance_fen: int, amount_fen: int) -> tuple[int, int]:
    """The personal account pays while its balance lasts; the rest is the patient's own
    payment (Liao 1999 §II(4)). Returns ``(account_fen, out_of_pocket_fen)``."""
    account_fen = max(0, min(balance_fen, amount_fen))
    return account_fen, amount_fen - account_fen


@dataclass(frozen=True)
class InpatientBreakdown:
    """How an inpatient bill divides. Always
    ``total_cost_fen = excluded_fen + deductible_fen + copay_fen + pooled_fen + above_ceiling_fen``.
    The patient's share is ``excluded_fen + deductible_fen + copay_fen``."""

    total_cost_fen: int
    excluded_fen: int
    deductible_fen: int
    copay_fen: int
    pooled_fen: int
    above_ceiling_fen: int
    admission_number: int
    ceiling_remaining_before_fen: int
    tiers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def patient_share_fen(self) -> int:
        return self.excluded_fen + self.deductible_fen + self.copay_fen

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def settle_inpatient(
    policy: PolicyVersion,
    *,
    hospital_level: int,
    admission_number: int,
    total_cost_fen: int,
    excluded_fen: int,
    is_retiree: bool,
    pooled_paid_this_year_fen: int,
    deductible_met_fen: int = 0,
) -> InpatientBreakdown:
    """Divide an inpatient bill (Liao 1999 §II(4)).

    1. Items outside the fund's scope (``excluded_fen``) are the patient's.
    2. Deductible: per admission, ``deductible_fen_by_level[level][admission_number]``, lower for
       later admissions in the year; or, where ``deductible_mode`` is ``yearly_cumulative``, what
       is left of the year's ``yearly_deductible_fen`` after ``deductible_met_fen`` (the seed's
       "a certain amount of medical costs accumulated in the year"). The patient's (or the
       personal account's).
    3. The cost above the deductible goes through ``copay_tiers`` in order; in each band the
       patient pays the band's rate for the hospital level (× ``retiree_copay_factor`` for
       retirees) and the pooled fund the rest.
    4. Ceiling: the pooled fund pays at most ``annual_ceiling_fen`` per person per year. In
       the band where the ceiling is reached, the cost covered is the amount whose pooled part
       equals what is left of the ceiling; the rest of the bill is referred to supplementary
       insurance (above the ceiling).
    """
    if policy.deductible_mode == "yearly_cumulative":
        deductible_due_fen = max(0, (policy.yearly_deductible_fen or 0) - deductible_met_fen)
    else:
        deductible_due_fen = policy.deductible_fen(hospital_level, admission_number)
    bands = [(tier.up_to_fen, policy.patient_rate(tier, hospital_level, is_retiree)) for tier in policy.copay_tiers]
    return divide_bill(policy, total_cost_fen, excluded_fen, deductible_due_fen, bands, pooled_paid_this_year_fen, admission_number)


def settle_serious_outpatient(
    policy: PolicyVersion,
    condition: SeriousCondition,
    *,
    hospital_level: int,
    total_cost_fen: int,
    excluded_fen: int,
    is_retiree: bool,
    pooled_paid_this_year_fen: int,
    deductible_met_fen: int,
) -> InpatientBreakdown:
    """Divide an outpatient bill for a serious or chronic condition the pooled fund pays
    (门诊大病, ``serious_outpatient_conditions``): the condition's own yearly deductible, met by the
    year's eligible costs of that condition (what is left of it after ``deductible_met_fen``),
    then the condition's co-pay rate for the hospital level (× ``retiree_copay_factor`` for
    retirees) on everything above it; the pooled fund pays the rest within the same annual
    ceiling as stays (Liao 1999 §II(4): the pooled fund pays large medical costs)."""
    rate = condition.patient_rate_by_level[str(hospital_level)]  # type: ignore[index]
    rate = rate * policy.retiree_copay_factor if is_retiree else rate
    deductible_due_fen = max(0, condition.yearly_deductible_fen - deductible_met_fen)
    return divide_bill(policy, total_cost_fen, excluded_fen, deductible_due_fen, [(None, rate)], pooled_paid_this_year_fen, 0)


def divide_bill(policy: PolicyVersion, total_cost_fen: int, excluded_fen: int, deductible_due_fen: int,
                bands: list[tuple[int | None, Decimal]], pooled_paid_this_year_fen: int, admission_number: int) -> InpatientBreakdown:
    """The arithmetic a stay and a serious outpatient bill share: excluded items, the deductible,
    then bands of the cost above it (each ``(up_to_fen, patient rate)``, the last unbounded), the
    pooled part within what is left of the annual ceiling and the rest referred above it."""
    eligible_fen = total_cost_fen - excluded_fen
    deductible_fen = min(deductible_due_fen, eligible_fen)
    above_deductible_fen = eligible_fen - deductible_fen
    ceiling_left_fen = max(0, policy.annual_ceiling_fen - pooled_paid_this_year_fen)
    ceiling_before_fen = ceiling_left_fen
    copay_fen = pooled_fen = above_ceiling_fen = 0
    tiers: list[dict[str, Any]] = []
    band_start_fen = 0
    for up_to_fen, rate in bands:
        band_end_fen = above_deductible_fen if up_to_fen is None else min(up_to_fen, above_deductible_fen)
        band_fen = max(0, band_end_fen - band_start_fen)
        from_fen, band_start_fen = band_start_fen, max(band_start_fen, band_end_fen)
        if band_fen == 0:
            continue
        band_patient_fen = apply_rate(band_fen, rate)
        band_pooled_fen = band_fen - band_patient_fen
        band_referred_fen = 0
        if band_pooled_fen > ceiling_left_fen:
            covered_fen = _cost_covered_by(ceiling_left_fen, rate, band_fen)
            band_pooled_fen = ceiling_left_fen
            band_patient_fen = covered_fen - band_pooled_fen
            band_referred_fen = band_fen - covered_fen
        ceiling_left_fen -= band_pooled_fen
        copay_fen += band_patient_fen
        pooled_fen += band_pooled_fen
        above_ceiling_fen += band_referred_fen
        tiers.append({
            "from_fen": from_fen, "to_fen": from_fen + band_fen, "band_fen": band_fen, "patient_rate": str(rate),
            "patient_fen": band_patient_fen, "pooled_fen": band_pooled_fen, "referred_fen": band_referred_fen,
        })
    breakdown = InpatientBreakdown(
        total_cost_fen=total_cost_fen,
        excluded_fen=excluded_fen,
        deductible_fen=deductible_fen,
        copay_fen=copay_fen,
        pooled_fen=pooled_fen,
        above_ceiling_fen=above_ceiling_fen,
        admission_number=admission_number,
        ceiling_remaining_before_fen=ceiling_before_fen,
        tiers=tiers,
    )
    assert breakdown.patient_share_fen + pooled_fen + above_ceiling_fen == total_cost_fen
    assert pooled_fen <= ceiling_before_fen
    return breakdown


def _cost_covered_by(pooled_left_fen: int, patient_rate: Decimal, band_fen: int) -> int:
    """The part of a band whose pooled share is exactly ``pooled_left_fen``:
    ``pooled_left / (1 - rate)``, rounded, never more than the band."""
    if patient_rate >= 1:
        return band_fen
    covered_fen = round_fen(Decimal(pooled_left_fen) / (1 - patient_rate))
    return max(pooled_left_fen, min(covered_fen, band_fen))


def split_current_and_carried(carried_over_fen: int, current_year_fen: int, change_fen: int) -> tuple[int, int]:
    """Apply a movement to a personal account held as (carried over, current year) balances.

    Credits add to the current year's money. Payments draw on the money carried over from
    previous years first, then on the current year's (older money is spent first), so the
    three-rate interest rule (DOMAIN: current year at the demand rate, carried over at the
    3-month rate) sees each part's true balance. Returns the new ``(carried, current)``.
    """
    if change_fen >= 0:
        return carried_over_fen, current_year_fen + change_fen
    from_carried_fen = min(carried_over_fen, -change_fen)
    return carried_over_fen - from_carried_fen, current_year_fen + change_fen + from_carried_fen
