"""Regional policy as data: effective-dated, validated parameter versions.

A pooling region's rules (contribution rates, account split by age band, retiree credit,
deductible, co-pay tiers, ceiling) change over time, so they are never constants in code. They
live in a versioned TOML file (see ``ledger/policies/``), are validated here, and are recorded as
``PolicyAdopted`` events on the region's policy book when adopted, so a replay uses the policy
that was in force on each date.

Every parameter cites its source in its description. The shipped defaults follow the seed
text, Liaoning provincial government, Liao [1999] 14 (cited below as *Liao 1999*), and, where
it leaves the number to the city, a documented example (Beijing 2001 age bands, the 700/500/
400/300 yuan repeat-admission deductible).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ledger.errors import InvalidInput, PolicyError

HospitalLevel = Literal[1, 2, 3]
HOSPITAL_LEVELS: tuple[int, ...] = (1, 2, 3)
# Level keys in files are strings ("1", "2", "3"): TOML and JSON object keys are strings.
LevelKey = Literal["1", "2", "3"]

Rate = Annotated[Decimal, Field(ge=Decimal(0), le=Decimal(1))]
Fen = Annotated[int, Field(ge=0, strict=True)]

STANDARD_EMPLOYER_RATE = Decimal("0.06")

DEFAULT_POLICY_FILE = Path(__file__).parent / "policies" / "liaoning_1999_example.toml"
# A second example region written in the seed's own terms, with the options the seed leaves to a city.
SEED_TERMS_POLICY_FILE = Path(__file__).parent / "policies" / "dalian_2024_example.toml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgeBandRate(_Frozen):
    """Share of the wage base credited to the personal account from the employer share, for
    ages ``min_age <= age < below_age`` (age in whole years on the first day of the period)."""

    min_age: Annotated[int, Field(ge=0, le=150)]
    below_age: Annotated[int, Field(ge=1, le=200)] | None = None
    rate: Rate


class RetireeCreditBand(AgeBandRate):
    """Rate of the retiree credit's basis for ages ``min_age <= age < below_age``."""


class RetireeCreditRule(_Frozen):
    """Monthly credit to a retiree's account (retirees pay nothing; Liao 1999 §II(6): the share
    of the employer contribution credited to retirees' accounts is higher than for employees).

    ``basis``: ``average_monthly_wage`` (rate × previous year's average monthly wage),
    ``own_pension`` (rate × the retiree's monthly pension) or ``flat`` (``flat_monthly_fen``).
    """

    basis: Literal["average_monthly_wage", "own_pension", "flat"]
    bands: list[RetireeCreditBand] = []
    flat_monthly_fen: Fen = 0
    funded_by: Literal["employer_remittance", "monthly_run"] = Field(
        default="employer_remittance",
        description="'employer_remittance': a retiree is credited when a former employer lists them "
        "in its monthly remittance. 'monthly_run': a monthly run credits every retiree of the "
        "region from the pooled fund, once per person and month, whatever any employer remits "
        "(and a remittance may not list a retiree).",
    )


class CopayTier(_Frozen):
    """Patient's share of the cost above the deductible, up to ``up_to_fen`` of that cost
    (``None``: no upper bound), per hospital level (Liao 1999 §II(4): individuals bear a share
    between the deductible and the ceiling)."""

    up_to_fen: Fen | None = None
    patient_rate_by_level: dict[LevelKey, Rate]


class LatePaymentRule(_Frozen):
    """When a month's contributions are due and what paying later costs. Social Insurance Law
    (2010) art. 86: contributions not paid in full and on time bear a late fee (滞纳金) of 0.05% a
    day (按日加收万分之五) from the day they fell overdue; the fee is the fund's other income
    (DOMAIN, income items). The seed leaves the due date to the city (Liao 1999 §II(5)1: 确保基本医疗保险
    基金的征缴率); the example: by the 15th of the following month."""

    due_day_of_following_month: Annotated[int, Field(ge=1, le=28)]
    late_fee_daily_rate: Rate


class SeriousCondition(_Frozen):
    """A serious or chronic condition treated as an outpatient that the pooled fund pays
    (门诊大病 / 特殊病种: DOMAIN, the pooled fund's benefits; Liao 1999 §II(4): the pooled fund pays
    large medical costs and each city sets the scope): its own yearly deductible, met by the
    year's eligible costs of the condition, and the patient's co-pay by hospital level."""

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    yearly_deductible_fen: Fen
    patient_rate_by_level: dict[LevelKey, Rate]

    @model_validator(mode="after")
    def _levels(self) -> SeriousCondition:
        if set(self.patient_rate_by_level) != {str(level) for level in HOSPITAL_LEVELS}:
            raise ValueError(f"{self.code}: a co-pay rate for hospital levels 1, 2 and 3")
        return self


class DesignatedInstitution(_Frozen):
    """A hospital or pharmacy the region designates (Liao 1999 §III(2): basic medical insurance is
    delivered by designated medical institutions and pharmacies, 定点医疗机构和定点药店, chosen and
    contracted by the city's agency), with a hospital's level, from ``designated_from`` through
    ``designated_until`` (its last day; open-ended if absent)."""

    institution_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["hospital", "pharmacy"]
    level: HospitalLevel | None = None
    designated_from: date
    designated_until: date | None = None

    @model_validator(mode="after")
    def _level(self) -> DesignatedInstitution:
        if (self.kind == "hospital") != (self.level is not None):
            raise ValueError(f"{self.institution_id}: a hospital has a level (1, 2 or 3), a pharmacy none")
        return self

    def designated_on(self, on: date) -> bool:
        return self.designated_from <= on and (self.designated_until is None or on <= self.designated_until)


class ProvincialApproval(_Frozen):
    """Liao 1999 §II(2): an employer rate above 6% must be reviewed by the provincial labour and
    finance departments; the ledger keeps the approval's reference."""

    reference: Annotated[str, Field(min_length=1, max_length=200)]
    approved_on: date


class Limits(_Frozen):
    """Plausibility bounds: an amount above its bound is refused, naming the bound, before
    anything is computed. They are no policy rule of the seeds but a guard against typos and
    forged messages (a 10-billion-yuan outpatient bill was once accepted); a region sets them to
    what its own data makes implausible. ``ledger.bounds`` applies them."""

    max_outpatient_bill_fen: Fen = Field(default=5_000_000, description="one outpatient visit or pharmacy purchase (default 50,000 yuan)")
    max_inpatient_bill_fen: Fen = Field(default=500_000_000, description="one admission's whole bill (default 5 million yuan)")
    max_inpatient_stay_days: Annotated[int, Field(ge=1, le=3660)] = Field(
        default=731, description="days from admission to discharge of one bill (default two years)")
    max_wage_base_fen: Fen = Field(default=10_000_000, description="one person's monthly wage base (default 100,000 yuan)")
    max_pension_fen: Fen = Field(default=10_000_000, description="one retiree's monthly pension (default 100,000 yuan)")
    max_transfer_fen: Fen = Field(default=100_000_000, description="one personal account moving between regions (default 1 million yuan)")
    max_income_fen: Fen = Field(default=10**12, description="one income record (default 10 billion yuan)")
    max_expenditure_fen: Fen = Field(default=10**12, description="one expenditure record (default 10 billion yuan)")
    max_bank_movement_fen: Fen = Field(default=10**12, description="one movement between the fund's bank accounts (default 10 billion yuan)")
    max_clearing_fen: Fen = Field(default=10**12, description="one settlement between regions (default 10 billion yuan)")
    max_budget_line_fen: Fen = Field(default=10**12, description="one item of a budget (default 10 billion yuan)")


class DateRules(_Frozen):
    """The window every business date of a message must lie in (``ledger.bounds``): never
    before the region's opening, the person's enrolment or birth, and never later than the
    message's ``occurred_at`` plus ``future_tolerance_days``; ``occurred_at`` itself at most
    ``clock_skew_s`` ahead of the ledger's clock. A claim once dated 9999-12-31 turned a
    person's whole balance into carried-over money and cost them the year's interest."""

    future_tolerance_days: Annotated[int, Field(ge=0, le=366)] = Field(
        default=7, description="how many days after the message's occurred_at a business date may be (an order booked ahead)")
    clock_skew_s: Annotated[int, Field(ge=0, le=86_400)] = Field(
        default=300, description="how far ahead of the ledger's clock a message's occurred_at may be (clocks differ)")
    max_age_years: Annotated[int, Field(ge=100, le=150)] = Field(
        default=130, description="the oldest an insured person can be on enrolment")


class Retention(_Frozen):
    """How long the ledger keeps what identifies a person (birth date, employer, pension, the
    heirs' reference) once their personal account has closed, by death or by a transfer out,
    before ``fund-ledger erase-person`` may destroy it (``ledger.erasure``; docs/security.md).
    Every amount, posting and date of the books stays for ever. Not a rule of the seeds: a region
    sets it from its archive rules. The default is the keeping period of accounting books and
    vouchers, 30 years (会计档案管理办法, 2015, art. 14 and its table)."""

    personal_data_years_after_closure: Annotated[int, Field(ge=0, le=100)] = Field(
        default=30, description="whole years from the account's closure (death, transfer out) to the earliest erasure")


class PolicyVersion(_Frozen):
    """One effective-dated version of a pooling region's parameters."""

    version: Annotated[str, Field(min_length=1, max_length=64)]
    effective_from: date
    source: Annotated[str, Field(min_length=1, max_length=500)]

    employer_rate: Rate = Field(
        description="Employer contribution, share of total payroll. Liao 1999 §II(2): about 6%."
    )
    employer_rate_approval: ProvincialApproval | None = None
    employee_rate: Rate = Field(
        description="Employee contribution, share of own wage. Liao 1999 §II(2): generally 2%."
    )
    employer_to_personal_bands: list[AgeBandRate] = Field(
        description="Employer share credited to personal accounts by age band. Liao 1999 §II(3): "
        "about 30% of the employer share, by age; each rate applies to employer_to_personal_basis."
    )
    employer_to_personal_basis: Literal["wage_base", "employer_contribution"] = Field(
        default="wage_base",
        description="What the bands' rates apply to: 'wage_base', the person's wage base (e.g. "
        "Beijing 2001: 0.8% / 1% / 2%); or 'employer_contribution', the employer's contribution "
        "for the person, as the seed writes it (Liao 1999 §II(3): about 30% of the employer's "
        "payment goes to the personal account).",
    )
    retiree_credit: RetireeCreditRule
    previous_year_average_annual_wage_fen: Fen = Field(
        description="Local average annual wage of the previous year: basis of the laid-off "
        "wage base, the deductible (~10%), the ceiling (~4x) and the retiree credit."
    )
    laid_off_wage_base_rate: Rate = Field(
        description="Liao 1999 §II(6): laid-off workers' contributions are paid by the "
        "re-employment service centre on 60% of last year's local average wage."
    )
    deductible_mode: Literal["per_admission", "yearly_cumulative"] = Field(
        default="per_admission",
        description="Liao 1999 §II(4): the deductible may be set per admission (lower for later "
        "admissions in the year: deductible_fen_by_level), or as an amount of medical costs "
        "accumulated in the year (yearly_deductible_fen), met by the year's eligible stay costs.",
    )
    yearly_deductible_fen: Fen | None = Field(
        default=None,
        description="The yearly cumulative deductible (deductible_mode yearly_cumulative). Derived "
        "from yearly_deductible_wage_ratio when that is given (§II(4): about 10% of the wage).",
    )
    yearly_deductible_wage_ratio: Rate | None = Field(
        default=None, description="The yearly deductible as a ratio of last year's average annual wage.",
    )
    deductible_fen_by_level: dict[LevelKey, list[Fen]] = Field(
        default={},
        description="Deductible per admission by hospital level, for the 1st, 2nd, ... "
        "admission in the year; the last entry applies to all later ones. Liao 1999 §II(4): "
        "about 10% of the average annual wage, may be lowered for later admissions. Derived from "
        "deductible_wage_ratio_by_level when that is given."
    )
    deductible_wage_ratio_by_level: dict[LevelKey, list[Rate]] | None = Field(
        default=None,
        description="The deductibles in the seed's own terms: ratios of last year's average annual "
        "wage (Liao 1999 §II(4): about 10%). The fen figures are derived, half up, and recorded.",
    )
    annual_ceiling_fen: Fen = Field(
        description="Most the pooled fund pays for one person in a calendar year. "
        "Liao 1999 §II(4): about 4 times the local average annual wage. Derived from "
        "annual_ceiling_wage_multiple when that is given."
    )
    annual_ceiling_wage_multiple: Annotated[Decimal, Field(gt=0, le=100)] | None = Field(
        default=None,
        description="The ceiling in the seed's own terms: a multiple of last year's average annual "
        "wage (Liao 1999 §II(4): about 4 times). The fen figure is derived, half up, and recorded.",
    )
    copay_tiers: list[CopayTier]
    retiree_copay_factor: Rate = Field(
        description="Retirees' co-pay rate = tier rate x this factor (Liao 1999 §II(6): the "
        "personal burden of retirees is looked after)."
    )
    personal_account_pays_inpatient_self_pay: bool = True
    interest_day_basis: Literal[360, 365] = Field(
        default=360,
        description="Days per year when an annual interest rate becomes a daily one "
        "(Chinese banking practice: 360).",
    )
    limits: Limits = Limits()
    date_rules: DateRules = DateRules()
    pooled_deficit: Literal["refuse", "fiscal_receivable"] = Field(
        default="refuse",
        description="A pooled payment the pooled fund cannot cover. Liao 1999 §II(4): the pooled "
        "fund may not overdraw the personal accounts (不得互相挤占), §II(5)1: 收支平衡. 'refuse': refused "
        "with the shortfall named. 'fiscal_receivable': the deficit is booked against a receivable "
        "from the fiscal budget (应收财政补贴), shown apart until a fiscal subsidy clears it "
        "(benefits, retirees' credits and interest only; never discretionary expenditure).",
    )
    serious_outpatient_conditions: list[SeriousCondition] = Field(
        default=[],
        description="Serious and chronic outpatient conditions the pooled fund pays (门诊大病), each "
        "with its yearly deductible and co-pay; their pooled payments count towards the annual ceiling.",
    )
    above_ceiling_memo_fund: Literal["large_amount_supplementary", "enterprise_supplementary"] | None = Field(
        default=None,
        description="The supplementary (large-amount) memo fund that takes the costs above the "
        "ceiling (Liao 1999 §II(4): settled by supplementary or commercial insurance or social "
        "assistance): each claim's part above the ceiling is referred to it, per person and claim, "
        "and its payments are booked against the referral.",
    )
    designated_institutions: list[DesignatedInstitution] = Field(
        default=[],
        description="The registry of designated hospitals (with their level) and pharmacies (Liao "
        "1999 §III(2)). When it is not empty, only a designated institution may settle a claim: a "
        "claim naming another, or none, is refused.",
    )
    late_payment: LatePaymentRule | None = Field(
        default=None,
        description="Due date of a month's contributions and the late fee of a late payment "
        "(Social Insurance Law art. 86). Absent: no due date is enforced and no late fee is due.",
    )

    retention: Retention = Retention()

    @model_validator(mode="before")
    @classmethod
    def _derive_fen(cls, data: Any) -> Any:
        """Figures written as ratios of last year's average annual wage give their fen figures
        (``ledger.money.apply_rate``, half up); given both, they must agree."""
        if not isinstance(data, dict) or "previous_year_average_annual_wage_fen" not in data:
            return data
        from ledger.money import apply_rate

        wage_fen = data["previous_year_average_annual_wage_fen"]
        derived: dict[str, Any] = {}
        if data.get("deductible_wage_ratio_by_level") is not None and isinstance(wage_fen, int):
            derived["deductible_fen_by_level"] = {
                str(level): [apply_rate(wage_fen, Decimal(str(ratio))) for ratio in ratios]
                for level, ratios in data["deductible_wage_ratio_by_level"].items()
            }
        if data.get("yearly_deductible_wage_ratio") is not None and isinstance(wage_fen, int):
            derived["yearly_deductible_fen"] = apply_rate(wage_fen, Decimal(str(data["yearly_deductible_wage_ratio"])))
        if data.get("annual_ceiling_wage_multiple") is not None and isinstance(wage_fen, int):
            derived["annual_ceiling_fen"] = apply_rate(wage_fen, Decimal(str(data["annual_ceiling_wage_multiple"])))
        for name, value in derived.items():
            given = data.get(name)
            if given is not None and given != value:
                raise ValueError(f"{name} {given} is not what the wage ratio gives ({value})")
        return {**data, **derived}

    @model_validator(mode="after")
    def _check(self) -> PolicyVersion:
        if self.employer_rate > STANDARD_EMPLOYER_RATE and self.employer_rate_approval is None:
            raise ValueError(
                f"employer_rate {self.employer_rate} is above 6%: it needs "
                "employer_rate_approval (Liao 1999 §II(2): provincial review)"
            )
        _check_bands(self.employer_to_personal_bands, "employer_to_personal_bands")
        if self.retiree_credit.basis != "flat":
            _check_bands(self.retiree_credit.bands, "retiree_credit.bands")
        whole_share = self.employer_rate if self.employer_to_personal_basis == "wage_base" else Decimal(1)
        for band in self.employer_to_personal_bands:
            if band.rate > whole_share:
                raise ValueError("an age band credits more than the whole employer share")
        if self.deductible_mode == "yearly_cumulative" and self.yearly_deductible_fen is None:
            raise ValueError("a yearly cumulative deductible needs yearly_deductible_fen (or yearly_deductible_wage_ratio)")
        for level in HOSPITAL_LEVELS if self.deductible_mode == "per_admission" else ():
            if not self.deductible_fen_by_level.get(str(level)):  # type: ignore[call-overload]
                raise ValueError(f"deductible_fen_by_level has no entry for level {level}")
        codes = [condition.code for condition in self.serious_outpatient_conditions]
        if len(codes) != len(set(codes)):
            raise ValueError("serious_outpatient_conditions lists a condition twice")
        if not self.copay_tiers or self.copay_tiers[-1].up_to_fen is not None:
            raise ValueError("copay_tiers must end with an unbounded tier (up_to_fen absent)")
        bounds = [tier.up_to_fen for tier in self.copay_tiers[:-1]]
        if any(b is None for b in bounds) or bounds != sorted(bounds):  # type: ignore[type-var]
            raise ValueError("copay_tiers must be in increasing order of up_to_fen")
        for tier in self.copay_tiers:
            if set(tier.patient_rate_by_level) != {str(level) for level in HOSPITAL_LEVELS}:
                raise ValueError("each copay tier needs a rate for hospital levels 1, 2 and 3")
        ids = [institution.institution_id for institution in self.designated_institutions]
        if len(ids) != len(set(ids)):
            raise ValueError("designated_institutions lists an institution twice")
        return self

    def serious_condition(self, code: str) -> SeriousCondition | None:
        return next((c for c in self.serious_outpatient_conditions if c.code == code), None)

    def designated_institution(self, institution_id: str) -> DesignatedInstitution | None:
        return next((i for i in self.designated_institutions if i.institution_id == institution_id), None)

    def deductible_fen(self, hospital_level: int, admission_number: int) -> int:
        """Deductible for the ``admission_number``-th admission of the year (1-based)."""
        amounts = self.deductible_fen_by_level[str(hospital_level)]  # type: ignore[index]
        return amounts[min(admission_number, len(amounts)) - 1]

    def patient_rate(self, tier: CopayTier, hospital_level: int, is_retiree: bool) -> Decimal:
        rate = tier.patient_rate_by_level[str(hospital_level)]  # type: ignore[index]
        return rate * self.retiree_copay_factor if is_retiree else rate

    @property
    def previous_year_average_monthly_wage_fen(self) -> int:
        """Average annual wage ÷ 12, rounded half up (the one rounding rule, ledger.money)."""
        from ledger.money import round_fen

        return round_fen(Decimal(self.previous_year_average_annual_wage_fen) / 12)

    def derived_figures(self) -> dict[str, Any]:
        """The fen figures (and rates of the wage base) this version derives from its ratios and
        last year's average wage, as an auditor checks them: recorded with the version when a
        region adopts it (``PolicyBook.PolicyAdopted.derived``)."""
        from ledger.rules import laid_off_wage_base_fen, retiree_credit_fen

        monthly_fen = self.previous_year_average_monthly_wage_fen
        employer_bands = [
            {"min_age": band.min_age, "below_age": band.below_age, "rate_of_wage_base": str(
                band.rate if self.employer_to_personal_basis == "wage_base" else band.rate * self.employer_rate)}
            for band in self.employer_to_personal_bands
        ]
        retiree_bands = [{"min_age": band.min_age, "below_age": band.below_age,
                          "monthly_credit_fen": retiree_credit_fen(self, band.min_age, 0)}
                         for band in self.retiree_credit.bands] if self.retiree_credit.basis == "average_monthly_wage" else []
        return {
            "previous_year_average_annual_wage_fen": self.previous_year_average_annual_wage_fen,
            "previous_year_average_monthly_wage_fen": monthly_fen,
            "laid_off_wage_base_fen": laid_off_wage_base_fen(self),
            "deductible_mode": self.deductible_mode,
            "deductible_fen_by_level": dict(self.deductible_fen_by_level),
            "yearly_deductible_fen": self.yearly_deductible_fen,
            "annual_ceiling_fen": self.annual_ceiling_fen,
            "employer_to_personal_by_age": employer_bands,
            "retiree_monthly_credit_by_age": retiree_bands,
        }


def _check_bands(bands: Sequence[AgeBandRate], name: str) -> None:
    """Bands must start at age 0, touch without gaps or overlaps and end unbounded."""
    if not bands:
        raise ValueError(f"{name} is empty")
    expected_min = 0
    for index, band in enumerate(bands):
        if band.min_age != expected_min:
            raise ValueError(f"{name}[{index}] starts at {band.min_age}, expected {expected_min}")
        is_last = index == len(bands) - 1
        if is_last:
            if band.below_age is not None:
                raise ValueError(f"{name}: the last band must have no below_age")
        else:
            if band.below_age is None or band.below_age <= band.min_age:
                raise ValueError(f"{name}[{index}] needs below_age above min_age")
            expected_min = band.below_age


def band_rate(bands: Sequence[AgeBandRate], age_years: int) -> Decimal:
    for band in bands:
        if band.min_age <= age_years and (band.below_age is None or age_years < band.below_age):
            return band.rate
    raise PolicyError("age_years", f"no band covers age {age_years}", age_years=age_years)


class PolicyFile(_Frozen):
    """A region's policy file: the region, its name and its versions in date order."""

    region: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    region_name: Annotated[str, Field(min_length=1, max_length=100)]
    opened_on: date | None = Field(
        default=None, description="when the region's scheme opened: no business date may be earlier (enrolments of people "
        "who joined before the ledger took the region over included); default the first version's effective_from")
    versions: list[PolicyVersion]

    @model_validator(mode="after")
    def _ordered(self) -> PolicyFile:
        dates = [version.effective_from for version in self.versions]
        if not dates or dates != sorted(set(dates)):
            raise ValueError("versions must be non-empty, with strictly increasing effective_from")
        if self.opened_on is not None and self.opened_on > dates[0]:
            raise ValueError("opened_on must not be after the first version's effective_from")
        return self

    @property
    def opening_date(self) -> date:
        return self.opened_on or self.versions[0].effective_from


def load_policy_file(path: Path = DEFAULT_POLICY_FILE) -> PolicyFile:
    with path.open("rb") as handle:
        return PolicyFile.model_validate(tomllib.load(handle))


def policy_from_stored(parameters: dict[str, object]) -> PolicyVersion:
    """Rebuild a version from what a ``PolicyAdopted`` event stored (JSON types)."""
    return PolicyVersion.model_validate(parameters)


def policy_to_stored(version: PolicyVersion) -> dict[str, object]:
    return version.model_dump(mode="json")


def check_hospital_level(level: object) -> int:
    if type(level) is not int or level not in HOSPITAL_LEVELS:
        raise InvalidInput(
            "hospital_level", f"unknown hospital level {level!r}: must be 1, 2 or 3", value=level
        )
    return int(level)  # type: ignore[call-overload]
