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
from typing import Annotated, Literal

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


class CopayTier(_Frozen):
    """Patient's share of the cost above the deductible, up to ``up_to_fen`` of that cost
    (``None``: no upper bound), per hospital level (Liao 1999 §II(4): individuals bear a share
    between the deductible and the ceiling)."""

    up_to_fen: Fen | None = None
    patient_rate_by_level: dict[LevelKey, Rate]


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
        description="Employer share credited to personal accounts by age band, as a share of "
        "the wage base. Liao 1999 §II(3): about 30% of the employer share, by age."
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
    deductible_fen_by_level: dict[LevelKey, list[Fen]] = Field(
        description="Deductible per admission by hospital level, for the 1st, 2nd, ... "
        "admission in the year; the last entry applies to all later ones. Liao 1999 §II(4): "
        "about 10% of the average annual wage, may be lowered for later admissions."
    )
    annual_ceiling_fen: Fen = Field(
        description="Most the pooled fund pays for one person in a calendar year. "
        "Liao 1999 §II(4): about 4 times the local average annual wage."
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
    retention: Retention = Retention()

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
        for band in self.employer_to_personal_bands:
            if band.rate > self.employer_rate:
                raise ValueError("an age band credits more than the whole employer share")
        for level in HOSPITAL_LEVELS:
            if not self.deductible_fen_by_level.get(str(level)):  # type: ignore[call-overload]
                raise ValueError(f"deductible_fen_by_level has no entry for level {level}")
        if not self.copay_tiers or self.copay_tiers[-1].up_to_fen is not None:
            raise ValueError("copay_tiers must end with an unbounded tier (up_to_fen absent)")
        bounds = [tier.up_to_fen for tier in self.copay_tiers[:-1]]
        if any(b is None for b in bounds) or bounds != sorted(bounds):  # type: ignore[type-var]
            raise ValueError("copay_tiers must be in increasing order of up_to_fen")
        for tier in self.copay_tiers:
            if set(tier.patient_rate_by_level) != {str(level) for level in HOSPITAL_LEVELS}:
                raise ValueError("each copay tier needs a rate for hospital levels 1, 2 and 3")
        return self

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
