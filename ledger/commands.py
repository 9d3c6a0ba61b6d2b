"""Use-case inputs (orders to the ledger), checked before anything is computed.

These are plain frozen dataclasses: the edges (Kafka, CLI) validate raw input with their own
pydantic schemas and build these. The checks here are the domain's own and name the field and
the reason, whoever the caller is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from functools import cache
from typing import Any

from ledger.accounts import MEMO_FUND_NAMES
from ledger.errors import InvalidInput
from ledger.rules import CATEGORIES

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_AMOUNT_FEN = 10**13  # 100 billion yuan: anything above is a typo, not a bill
MAX_LINES_PER_REMITTANCE = 200_000
# The ledger's calendar: no business date, period or year outside it (a year 0000 or 9999 is a
# typo, and the arithmetic of dates, a period's last day say, fails at the calendar's ends).
FIRST_BUSINESS_YEAR, LAST_BUSINESS_YEAR = 1900, 2999


def check_fen(field: str, value: Any, *, allow_zero: bool = True) -> int:
    """An amount must be a whole number of fen, not negative, and not absurd."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number of fen, got {value!r} (a fraction of a fen is refused, not rounded)", value=value)
    if value < 0:
        raise InvalidInput(field, f"must not be negative, got {value}", value=value)
    if value == 0 and not allow_zero:
        raise InvalidInput(field, "must be more than zero", value=value)
    if value > MAX_AMOUNT_FEN:
        raise InvalidInput(field, f"{value} fen is above the limit of {MAX_AMOUNT_FEN}", value=value)
    return value


def check_signed_fen(field: str, value: Any) -> int:
    """A difference: a whole number of fen, positive or negative, not absurd."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number of fen, got {value!r} (a fraction of a fen is refused, not rounded)", value=value)
    if abs(value) > MAX_AMOUNT_FEN:
        raise InvalidInput(field, f"{value} fen is beyond the limit of ±{MAX_AMOUNT_FEN}", value=value)
    return value


def check_text(field: str, value: Any, max_length: int = 64) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInput(field, f"must be a non-empty string of at most {max_length} characters", value=value)
    return value


def check_period(value: Any) -> tuple[int, int]:
    match = PERIOD_PATTERN.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput("period", f"must be YYYY-MM, got {value!r}", value=value)
    year = int(match.group(1))
    if not FIRST_BUSINESS_YEAR <= year <= LAST_BUSINESS_YEAR:
        raise InvalidInput("period", f"the year of {value!r} is outside the ledger's calendar "
                           f"({FIRST_BUSINESS_YEAR}-{LAST_BUSINESS_YEAR})", value=value)
    return year, int(match.group(2))


# Fields added to a command after it was first used, with their defaults: left out of the
# fingerprint while they hold the default, so that a payload sent before they existed keeps its
# fingerprint (the same business id with the same payload is still a duplicate, not a conflict).
ADDED_FIELDS: dict[str, dict[str, Any]] = {
    "PayOutpatient": {"institution_id": None},
    "SettleInpatient": {"institution_id": None},
    "SettleCrossRegion": {"institution_id": None},
    "RecordExpenditure": {"person_id": None, "claim_id": None},
    "ReverseClaim": {"person_id": None},
}


def fingerprint(command: Any) -> str:
    """A stable digest of a command's payload: the same payload, the same fingerprint. (The JSON
    of ``dataclasses.asdict``, built without its deep copies: a remittance has thousands of lines.)"""
    plain = _plain_fields(command)
    for name, default in ADDED_FIELDS.get(type(command).__name__, {}).items():
        if plain.get(name, default) == default:
            plain.pop(name, None)
    payload = json.dumps(plain, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _plain_fields(value: Any) -> Any:
    """What ``dataclasses.asdict`` gives for a command: dataclasses as dicts, tuples as lists."""
    kind: Any = type(value)
    names = _field_names(kind)
    if names:
        return {name: _plain_fields(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return [_plain_fields(item) for item in value]
    return value


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind)) if is_dataclass(kind) else ()


def check_institution(institution_id: Any) -> None:
    if institution_id is not None:
        check_text("institution_id", institution_id)


@dataclass(frozen=True)
class Enrol:
    region: str
    person_id: str
    category: str
    birth_date: date
    employer_id: str
    enrolled_on: date
    pension_fen: int = 0
    # Months contributed elsewhere before (Social Insurance Law art. 32: contribution years
    # accumulate), as the document named by ``contribution_history_reference`` records them.
    contribution_months_elsewhere: int = 0
    contribution_history_reference: str = ""

    def check(self) -> None:
        check_text("region", self.region)
        check_text("person_id", self.person_id)
        check_text("employer_id", self.employer_id)
        if self.category not in CATEGORIES:
            raise InvalidInput("category", f"unknown category {self.category!r}: one of {', '.join(CATEGORIES)}", value=self.category)
        if self.birth_date >= self.enrolled_on:
            raise InvalidInput("birth_date", "must be before the enrolment date", birth_date=self.birth_date)
        check_fen("pension_fen", self.pension_fen)
        check_months("contribution_months_elsewhere", self.contribution_months_elsewhere)
        if self.contribution_months_elsewhere and not self.contribution_history_reference.strip():
            raise InvalidInput("contribution_history_reference", "months contributed elsewhere need the document that records them "
                               "(a transfer certificate, 参保缴费凭证)", months=self.contribution_months_elsewhere)
        if self.contribution_history_reference:
            check_text("contribution_history_reference", self.contribution_history_reference, 200)


MAX_CONTRIBUTION_MONTHS = 1200  # a hundred years


def check_months(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CONTRIBUTION_MONTHS:
        raise InvalidInput(field, f"must be a whole number of months from 0 to {MAX_CONTRIBUTION_MONTHS}, got {value!r}", value=value)
    return value


@dataclass(frozen=True)
class RemittanceLine:
    person_id: str
    wage_base_fen: int | None = None  # None: computed (laid-off base), 0 for retirees


@dataclass(frozen=True)
class PostRemittance:
    """A monthly remittance from an employer or a re-employment service centre."""

    region: str
    remittance_id: str
    payer_kind: str  # "employer" | "reemployment_centre"
    payer_id: str
    period: str  # YYYY-MM
    received_on: date
    declared_total_fen: int
    lines: tuple[RemittanceLine, ...]

    def check(self) -> None:
        check_text("region", self.region)
        check_text("remittance_id", self.remittance_id)
        check_payer(self.payer_kind, self.payer_id, self.period)
        check_fen("declared_total_fen", self.declared_total_fen)
        check_lines(self.lines)


def check_payer(payer_kind: str, payer_id: str, period: str) -> None:
    check_text("payer_id", payer_id)
    if payer_kind not in ("employer", "reemployment_centre"):
        raise InvalidInput("payer_kind", "must be 'employer' or 'reemployment_centre'", value=payer_kind)
    check_period(period)


def check_lines(lines: tuple[RemittanceLine, ...]) -> None:
    if not lines:
        raise InvalidInput("lines", "a remittance needs at least one line")
    if len(lines) > MAX_LINES_PER_REMITTANCE:
        raise InvalidInput("lines", f"at most {MAX_LINES_PER_REMITTANCE} lines per remittance", count=len(lines))
    seen: set[str] = set()
    for index, line in enumerate(lines):
        check_text(f"lines[{index}].person_id", line.person_id)
        if line.wage_base_fen is not None:
            check_fen(f"lines[{index}].wage_base_fen", line.wage_base_fen)
        if line.person_id in seen:
            raise InvalidInput(f"lines[{index}].person_id", "the same person appears twice in one remittance", person_id=line.person_id)
        seen.add(line.person_id)


@dataclass(frozen=True)
class PostLatePayment(PostRemittance):
    """``Ledger.post_late_payment``: a month's contributions paid after they were due (补缴), for
    people whose month is not recorded yet, with the late fee (滞纳金) the policy computes."""

    late_fee_fen: int = 0

    def check(self) -> None:
        super().check()
        check_fen("late_fee_fen", self.late_fee_fen)


@dataclass(frozen=True)
class CorrectContributions:
    """``Ledger.correct_contributions``: lines of a remittance recorded earlier were on the wrong
    wage base; each line states the right one. The difference is posted (more paid, or refunded
    from the expenditure account), with a late fee on an underpayment found after the due date."""

    region: str
    correction_id: str
    remittance_id: str  # the remittance (or late payment) whose lines are corrected
    payer_kind: str
    payer_id: str
    period: str
    received_on: date
    declared_difference_fen: int  # what the payer pays (+) or is refunded (-), fee excluded
    lines: tuple[RemittanceLine, ...]
    late_fee_fen: int = 0

    def check(self) -> None:
        for field in ("region", "correction_id", "remittance_id"):
            check_text(field, getattr(self, field))
        check_payer(self.payer_kind, self.payer_id, self.period)
        check_signed_fen("declared_difference_fen", self.declared_difference_fen)
        check_fen("late_fee_fen", self.late_fee_fen)
        check_lines(self.lines)
        for index, line in enumerate(self.lines):
            if line.wage_base_fen is None:
                raise InvalidInput(f"lines[{index}].wage_base_fen", "a correction states the right wage base of each line")


@dataclass(frozen=True)
class PayOutpatient:
    """An outpatient visit or a pharmacy purchase, paid by the personal account."""

    region: str
    claim_id: str
    person_id: str
    kind: str  # "outpatient" | "pharmacy"
    on: date
    amount_fen: int
    institution_id: str | None = None  # the designated hospital or pharmacy

    def check(self) -> None:
        check_text("region", self.region)
        check_text("claim_id", self.claim_id)
        check_text("person_id", self.person_id)
        if self.kind not in ("outpatient", "pharmacy"):
            raise InvalidInput("kind", f"must be 'outpatient' or 'pharmacy', got {self.kind!r}", value=self.kind)
        check_fen("amount_fen", self.amount_fen, allow_zero=False)
        check_institution(self.institution_id)


@dataclass(frozen=True)
class SettleInpatient:
    region: str
    claim_id: str
    person_id: str
    hospital_level: int
    admitted_on: date
    discharged_on: date
    total_cost_fen: int
    excluded_fen: int = 0  # items outside the fund's catalogue: the patient's
    institution_id: str | None = None  # the designated hospital

    def check(self) -> None:
        from ledger.policy import check_hospital_level

        check_institution(self.institution_id)
        check_text("region", self.region)
        check_text("claim_id", self.claim_id)
        check_text("person_id", self.person_id)
        check_hospital_level(self.hospital_level)
        check_fen("total_cost_fen", self.total_cost_fen, allow_zero=False)
        check_fen("excluded_fen", self.excluded_fen)
        if self.excluded_fen > self.total_cost_fen:
            raise InvalidInput("excluded_fen", "cannot exceed total_cost_fen", excluded_fen=self.excluded_fen, total_cost_fen=self.total_cost_fen)
        if self.discharged_on < self.admitted_on:
            raise InvalidInput("discharged_on", "is before admitted_on", admitted_on=self.admitted_on, discharged_on=self.discharged_on)


@dataclass(frozen=True)
class SettleSeriousOutpatient:
    """``Ledger.settle_serious_outpatient``: an outpatient bill for a serious or chronic condition
    the region's pooled fund pays (门诊大病), under the condition's deductible and co-pay."""

    region: str
    claim_id: str
    person_id: str
    condition_code: str
    hospital_level: int
    on: date
    total_cost_fen: int
    excluded_fen: int = 0
    institution_id: str | None = None

    def check(self) -> None:
        from ledger.policy import check_hospital_level

        for field in ("region", "claim_id", "person_id", "condition_code"):
            check_text(field, getattr(self, field))
        check_hospital_level(self.hospital_level)
        check_fen("total_cost_fen", self.total_cost_fen, allow_zero=False)
        check_fen("excluded_fen", self.excluded_fen)
        if self.excluded_fen > self.total_cost_fen:
            raise InvalidInput("excluded_fen", "cannot exceed total_cost_fen", excluded_fen=self.excluded_fen, total_cost_fen=self.total_cost_fen)
        check_institution(self.institution_id)


@dataclass(frozen=True)
class CreditRetirees:
    """``Ledger.credit_retirees``: the monthly run that credits every retiree of the region for
    ``period`` (where the policy funds retirees' credits this way), on ``on``."""

    region: str
    period: str  # YYYY-MM
    on: date

    def check(self) -> None:
        check_text("region", self.region)
        check_period(self.period)


# --------------------------------------------------------------------------- fund lifecycle
# Commands of the fund's lifecycle (issue 3). The use case of each is the ``Ledger`` method
# named in its docstring.

FUNDS = ("pooled", "personal")
MEMO_FUNDS = MEMO_FUND_NAMES  # the memo funds, named once in ledger.accounts


@dataclass(frozen=True)
class ChangeCategory:
    """``Ledger.change_category``: e.g. an employee retires."""

    region: str
    person_id: str
    on: date
    category: str
    employer_id: str
    pension_fen: int = 0


@dataclass(frozen=True)
class ReverseClaim:
    """``Ledger.reverse_claim``: a correction of a claim settled earlier (a bill withdrawn or
    settled in error), dated ``on`` when it is made, referencing the claim."""

    region: str
    correction_id: str
    claim_id: str
    on: date
    reason: str
    person_id: str | None = None  # when given, must be the claim's person


@dataclass(frozen=True)
class RecordDeath:
    """``Ledger.record_death``: the balance is paid to the heirs and the account closed."""

    region: str
    person_id: str
    died_on: date
    heirs_reference: str


@dataclass(frozen=True)
class TransferOut:
    """``Ledger.transfer_out``: the whole balance leaves for ``to_region`` (in transit)."""

    region: str
    transfer_id: str
    person_id: str
    to_region: str
    on: date


@dataclass(frozen=True)
class TransferIn:
    """``Ledger.transfer_in``: lands a transfer; ``amount_fen`` must match the transfer-out."""

    region: str
    transfer_id: str
    person_id: str
    from_region: str
    on: date
    amount_fen: int
    contribution_months: int
    category: str = "employee"
    birth_date: date | None = None
    employer_id: str = "unknown"


@dataclass(frozen=True)
class SettleCrossRegion:
    """``Ledger.settle_cross_region``: a person of ``home_region`` treated in ``treating_region``;
    settled under the home region's policy; the home fund owes the treating region."""

    treating_region: str
    home_region: str
    claim_id: str
    person_id: str
    hospital_level: int
    admitted_on: date
    discharged_on: date
    total_cost_fen: int
    excluded_fen: int = 0
    institution_id: str | None = None  # a hospital the treating region designates


@dataclass(frozen=True)
class SettleClearing:
    """``Ledger.settle_clearing``: ``payer_region`` pays ``payee_region`` what it owes."""

    clearing_id: str
    payer_region: str
    payee_region: str
    amount_fen: int
    on: date


@dataclass(frozen=True)
class AnnounceInterestRates:
    """``Ledger.announce_interest_rates``: national rates, effective from a date."""

    announcement_id: str
    effective_from: date
    demand_rate: str  # Decimal as text, e.g. "0.0035"
    three_month_rate: str
    three_year_rate: str


@dataclass(frozen=True)
class PostInterest:
    """``Ledger.post_interest``: interest for ``year`` by the three-rate rule."""

    region: str
    year: int


@dataclass(frozen=True)
class CloseYear:
    """``Ledger.close_year``."""

    region: str
    year: int


@dataclass(frozen=True)
class RecordIncome:
    """``Ledger.record_income``: fiscal subsidy, late fees, other income, subsidy from the upper
    level, remittance from lower levels, bank interest received. ``fund`` is "pooled" or a memo
    fund (personal accounts receive only contributions, interest and transfers)."""

    region: str
    income_id: str
    fund: str
    item: str
    amount_fen: int
    on: date


@dataclass(frozen=True)
class RecordExpenditure:
    """``Ledger.record_expenditure``: subsidy to lower levels, remittance to the upper level,
    other permitted expenditure; anything not permitted is refused."""

    region: str
    expenditure_id: str
    fund: str
    item: str
    amount_fen: int
    on: date
    person_id: str | None = None  # a memo fund's benefit: whom it pays
    claim_id: str | None = None  # a supplementary fund's benefit: the referred claim it pays


@dataclass(frozen=True)
class RegisterMemoBeneficiary:
    """``Ledger.register_memo_beneficiary``: a person a special group's memo fund pays (retired
    cadres and old Red Army soldiers, disabled servicemen of class B and above, civil servants'
    medical subsidy), from ``since``, on the strength of ``reference`` (the entitling document)."""

    region: str
    fund: str
    person_id: str
    since: date
    reference: str


@dataclass(frozen=True)
class MoveBetweenBankAccounts:
    """``Ledger.move_money``: income account → fiscal special account → expenditure account,
    and paying hospitals from the expenditure account."""

    region: str
    movement_id: str
    kind: str  # "income_to_fiscal_special" | "fiscal_special_to_expenditure" | "pay_hospitals"
    amount_fen: int
    on: date


@dataclass(frozen=True)
class BudgetLine:
    item: str
    amount_fen: int


@dataclass(frozen=True)
class SetBudget:
    """``Ledger.set_budget``: ``kind`` is "approved" or "adjusted"; lines replace earlier ones."""

    region: str
    budget_id: str
    fund: str
    year: int
    kind: str
    lines: tuple[BudgetLine, ...]
    on: date
