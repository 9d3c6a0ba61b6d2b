"""The message contract: one JSON message per Kafka record, validated here, at the edge.

Every message is an envelope (``message_id``, ``producer``, ``type``, ``schema_version``,
``region``, ``occurred_at``) around a ``payload`` whose shape depends on ``type``. These pydantic
models are the source of truth: ``docs/schemas/*.json`` are generated from them
(``python -m consumers.docgen``) and ``docs/messages.md`` documents each type with an example.

Rules that hold for every field (STYLE.md, "Pydantic at the edge"):

- unknown fields are refused (``extra="forbid"``), at every level;
- validation is strict: a number is never read from a string, a string never from a number;
- money is an integer number of fen, ``0 <= fen <= MAX_AMOUNT_FEN``: ``1.5`` and even ``100.0`` are
  refused, never rounded (a fraction of a fen cannot be booked, and a float has already lost
  exactness for large amounts);
- strings have length limits; ids are ASCII without spaces;
- instants carry a time zone; dates are ``YYYY-MM-DD``.

Messages are always validated from their raw bytes (``parse_message``), in JSON mode, which is
where strict pydantic reads ISO dates from strings.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    create_model,
)
from pydantic_core import PydanticCustomError

from ledger.commands import FUNDS, MAX_AMOUNT_FEN, MEMO_FUNDS
from ledger.rules import CATEGORIES

SCHEMA_VERSION = 1
# Kafka refuses records over 1 MiB by default (``message.max.bytes``); a remittance line is
# about 60 bytes of JSON, so 10,000 lines stay well under it. Larger payrolls are split into
# several remittances with their own ids.
MAX_LINES_PER_REMITTANCE_MESSAGE = 10_000
MAX_BUDGET_LINES = 200
MAX_MESSAGE_BYTES = 1_000_000

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
REGION_PATTERN = r"^[0-9]{6}$"
RegionCode = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
# Free text (a reason, a reference): any printable character, Chinese included; never a control
# character (terminal escapes, NUL) nor a Unicode line or paragraph separator (U+2028, U+2029: a
# line break to str.splitlines, so to whoever reads a log or a report a line at a time) nor a
# bidirectional override, which would reach every screen and file the text is shown in.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$"
OPTIONAL_TEXT_PATTERN = TEXT_PATTERN.replace("]+$", "]*$")  # the same, where empty means none given
Text = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=TEXT_PATTERN)]
# A month of the years the ledger books (``Year``): 1990-01 to 2200-12. A year like 0000 or 9999
# is refused here, naming the field, before it can reach date arithmetic.
PERIOD_PATTERN = r"^(199[0-9]|20[0-9]{2}|21[0-9]{2}|2200)-(0[1-9]|1[0-2])$"
Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
# Decimal rates travel as text so they stay exact: "0.0035", "1", "0.0275".
RateText = Annotated[str, StringConstraints(max_length=12, pattern=r"^(0(\.[0-9]{1,10})?|1(\.0{1,10})?)$")]
ItemCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
Fen = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT_FEN, description="whole fen (1 yuan = 100 fen)")]
PositiveFen = Annotated[int, Field(strict=True, gt=0, le=MAX_AMOUNT_FEN, description="whole fen, more than zero")]
SignedFen = Annotated[int, Field(strict=True, ge=-MAX_AMOUNT_FEN, le=MAX_AMOUNT_FEN, description="whole fen, positive or negative")]
Year = Annotated[int, Field(strict=True, ge=1990, le=2200)]
Category = Literal["employee", "retiree", "laid_off"]
Fund = Literal["pooled", "personal", "retired_cadres", "disabled_servicemen", "civil_servant_subsidy", "enterprise_supplementary",
               "large_amount_supplementary"]
MemoFundName = Literal["retired_cadres", "disabled_servicemen", "civil_servant_subsidy"]
# Spelt out for type checkers and JSON Schema; they must stay the ledger's own lists.
assert get_args(Category) == CATEGORIES, (get_args(Category), CATEGORIES)
assert get_args(Fund) == FUNDS + MEMO_FUNDS, (get_args(Fund), FUNDS + MEMO_FUNDS)

_JSON_KINDS: dict[type, str] = {str: "a string", list: "an array", dict: "an object"}


def _integer(value: Any) -> Any:
    """An integer literal's value must be a JSON integer: pydantic matches ``Literal[1, 2, 3]`` by
    equality, even strict, so ``true`` passed as 1 and ``3.0`` as 3 (a strict ``int`` refuses both)."""
    if type(value) is not int:
        given = json.dumps(value) if isinstance(value, (bool, float)) or value is None else _JSON_KINDS.get(type(value), "another value")
        raise PydanticCustomError("int_type", "Input should be a valid integer, not {given}", {"given": given})
    return value


HospitalLevel = Annotated[Literal[1, 2, 3], BeforeValidator(_integer)]
# The sources under which the ledger records its own refusals (``consumers.handlers``: dead
# letters and deferrals), in the namespace of (producer, message id): a message from a producer of
# that name would be recorded among them (and once made ``fund-ledger dead-letters`` fail).
RESERVED_PRODUCERS = ("dead-letters", "deferred")


def _not_reserved(name: str) -> str:
    if name in RESERVED_PRODUCERS:
        raise PydanticCustomError("producer_reserved", "'{name}' is reserved: the ledger records its own refusals under it",
                                  {"name": name})
    return name


Producer = Annotated[Id, AfterValidator(_not_reserved)]


INSTITUTION_NOTE = ("the designated hospital or pharmacy: required where the region keeps a registry of designated "
                    "institutions (Liao 1999 §III(2))")
# Payload fields added after a type was first published, with their defaults: left out of the
# message digest while they hold the default, so a message sent before they existed, sent again,
# is still the same message (acknowledged, not a conflict).
ADDED_FIELDS: dict[str, dict[str, Any]] = {
    "claim.outpatient": {"institution_id": None},
    "claim.inpatient": {"institution_id": None},
    "claim.cross_region": {"institution_id": None},
    "expenditure.recorded": {"person_id": None, "claim_id": None},
    "person.enrolled": {"contribution_months_elsewhere": 0, "contribution_history_reference": ""},
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------- persons
class PersonEnrolled(Strict):
    """An insured person joins the region's scheme (employee, retiree, or laid-off worker)."""

    person_id: Id
    category: Category
    birth_date: date
    employer_id: Id = Field(description="the employer, or the re-employment service centre of a laid-off worker")
    enrolled_on: date
    pension_fen: Fen = Field(0, description="monthly pension of a retiree, when the region's retiree credit depends on it")
    contribution_months_elsewhere: Annotated[int, Field(strict=True, ge=0, le=1200)] = Field(
        0, description="months contributed elsewhere before (contribution years accumulate: Social Insurance Law art. 32)")
    contribution_history_reference: Annotated[str, StringConstraints(max_length=200, pattern=OPTIONAL_TEXT_PATTERN)] = Field(
        "", description="the document recording those months (a transfer certificate); required with them")


class PersonCategoryChanged(Strict):
    """E.g. an employee retires, or changes employer."""

    person_id: Id
    on: date
    category: Category
    employer_id: Id
    pension_fen: Fen = 0


class PersonDeceased(Strict):
    """The account balance is paid to the heirs and the account closed."""

    person_id: Id
    died_on: date
    heirs_reference: Text


# --------------------------------------------------------------------------- contributions
class RemittanceLine(Strict):
    person_id: Id
    wage_base_fen: Fen | None = Field(
        None, description="monthly wage base; omit for a laid-off worker (the policy's base applies) or a retiree")


class ContributionRemittance(Strict):
    """A monthly remittance from an employer or a re-employment service centre."""

    remittance_id: Id
    payer_kind: Literal["employer", "reemployment_centre"]
    payer_id: Id
    period: Period
    received_on: date
    declared_total_fen: Fen = Field(description="what the payer says it pays: must equal what the policy computes, to the fen")
    lines: list[RemittanceLine] = Field(min_length=1, max_length=MAX_LINES_PER_REMITTANCE_MESSAGE)


class ContributionLatePayment(ContributionRemittance):
    """A month's contributions paid after their due date (补缴), for people whose month is not
    recorded yet, with the late fee (滞纳金) the region's policy computes (Social Insurance Law art.
    86: 0.05% a day of the amount overdue); the fee is the pooled fund's other income."""

    late_fee_fen: Fen = Field(description="the late fee: must equal what the policy computes, to the fen")


class CorrectedLine(Strict):
    person_id: Id
    wage_base_fen: Fen = Field(description="the right monthly wage base")


class ContributionCorrection(Strict):
    """Lines of a remittance recorded earlier were on the wrong wage base: each line states the
    right one. The difference of each share is posted (paid in, or refunded from the expenditure
    account); the month still counts once."""

    correction_id: Id
    remittance_id: Id = Field(description="the remittance (or late payment) whose lines are corrected")
    payer_kind: Literal["employer", "reemployment_centre"]
    payer_id: Id
    period: Period
    received_on: date
    declared_difference_fen: SignedFen = Field(
        description="what the payer pays in (+) or is refunded (-), late fee excluded: must equal what the policy computes")
    late_fee_fen: Fen = Field(0, description="late fee on an underpayment found after the due date")
    lines: list[CorrectedLine] = Field(min_length=1, max_length=MAX_LINES_PER_REMITTANCE_MESSAGE)


# --------------------------------------------------------------------------- claims
class OutpatientClaim(Strict):
    """An outpatient visit or a pharmacy purchase: paid by the personal account while it lasts."""

    claim_id: Id
    person_id: Id
    kind: Literal["outpatient", "pharmacy"]
    on: date
    amount_fen: PositiveFen
    institution_id: Id | None = Field(None, description=INSTITUTION_NOTE)


class InpatientClaim(Strict):
    """An inpatient bill, settled under the region's policy in force on admission."""

    claim_id: Id
    person_id: Id
    hospital_level: HospitalLevel
    admitted_on: date
    discharged_on: date
    total_cost_fen: PositiveFen
    excluded_fen: Fen = Field(0, description="items outside the fund's catalogue: the patient's")
    institution_id: Id | None = Field(None, description=INSTITUTION_NOTE)


class SeriousOutpatientClaim(Strict):
    """An outpatient bill for a serious or chronic condition the region's pooled fund pays
    (门诊大病): the condition's yearly deductible and co-pay, the pooled part within the annual
    ceiling it shares with stays; the account pays the patient's part while it lasts."""

    claim_id: Id
    person_id: Id
    condition_code: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        description="a condition listed in the region's policy (serious_outpatient_conditions)")
    hospital_level: HospitalLevel
    on: date
    total_cost_fen: PositiveFen
    excluded_fen: Fen = Field(0, description="items outside the fund's catalogue: the patient's")
    institution_id: Id | None = Field(None, description=INSTITUTION_NOTE)


class ClaimReversal(Strict):
    """A correction of a claim settled earlier (withdrawn, or settled in error), dated when it is
    made: what the funds paid comes back; the claim's own events are never changed."""

    correction_id: Id
    claim_id: Id
    person_id: Id = Field(description="the claim's person: the key that keeps the reversal after its claim in one partition")
    on: date
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TEXT_PATTERN)]


class CrossRegionSettlement(Strict):
    """A bill of a person of the envelope's region (the home region) treated in another region and
    settled there directly; the home fund owes the treating region."""

    treating_region: RegionCode
    claim_id: Id
    person_id: Id
    hospital_level: HospitalLevel
    admitted_on: date
    discharged_on: date
    total_cost_fen: PositiveFen
    excluded_fen: Fen = 0
    institution_id: Id | None = Field(None, description="the hospital, designated by the treating region where it keeps a registry")


# --------------------------------------------------------------------------- transfers
class TransferOut(Strict):
    """The person leaves the envelope's region: the whole account balance goes in transit."""

    transfer_id: Id
    person_id: Id
    to_region: RegionCode
    on: date


class TransferIn(Strict):
    """The person arrives in the envelope's region; ``amount_fen`` must match the transfer-out."""

    transfer_id: Id
    person_id: Id
    from_region: RegionCode
    on: date
    amount_fen: Fen
    contribution_months: Annotated[int, Field(strict=True, ge=0, le=1200)]
    category: Category = "employee"
    birth_date: date | None = None
    employer_id: Id = "unknown"


# --------------------------------------------------------------------------- fund
class ClearingSettled(Strict):
    """The envelope's region (the payer) pays another region what cross-region settlement made it owe."""

    clearing_id: Id
    payee_region: RegionCode
    amount_fen: PositiveFen
    on: date


class InterestRatesAnnounced(Strict):
    """National deposit rates (annual, as exact decimal text). Envelope region: ``000000``."""

    announcement_id: Id
    effective_from: date
    demand_rate: RateText
    three_month_rate: RateText
    three_year_rate: RateText


class InterestPostingRequested(Strict):
    """Post the year's interest by the three-rate rule."""

    year: Year


class RetireeCreditRunRequested(Strict):
    """Credit every retiree of the region for ``period`` from the pooled fund, where the region's
    policy funds retirees' credits by a monthly run: once per person and month (sent again, it
    credits only retirees not credited yet)."""

    period: Period
    on: date = Field(description="the day the credits are booked")


class YearCloseRequested(Strict):
    """Close the year: current-year balances become carried-over balances."""

    year: Year


class IncomeRecorded(Strict):
    """Fiscal subsidy, late fees, subsidy from the upper level, remittance from lower levels, other."""

    income_id: Id
    fund: Fund
    item: ItemCode
    amount_fen: PositiveFen
    on: date


class ExpenditureRecorded(Strict):
    """Subsidy to lower levels, remittance to the upper level, other permitted expenditure; a memo
    fund's benefit, traceable to a person: a special group's fund pays a person registered with it
    (``person_id``), a supplementary fund pays against a claim referred to it above the ceiling
    (``claim_id``)."""

    expenditure_id: Id
    fund: Fund
    item: ItemCode
    amount_fen: PositiveFen
    on: date
    person_id: Id | None = Field(None, description="a memo fund's benefit: whom it pays")
    claim_id: Id | None = Field(None, description="a supplementary fund's benefit: the claim referred to it above the ceiling")


class MemoBeneficiaryRegistered(Strict):
    """A person a special group's memo fund pays (retired cadres and old Red Army soldiers outside
    the basic scheme, disabled servicemen of class B and above, civil servants insured in it),
    from ``since``, on the strength of ``reference``."""

    fund: MemoFundName
    person_id: Id
    since: date
    reference: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TEXT_PATTERN)]


class BankMovement(Strict):
    """Money between the region's bank accounts (the "two lines")."""

    movement_id: Id
    kind: Literal["income_to_fiscal_special", "fiscal_special_to_expenditure", "pay_hospitals"]
    amount_fen: PositiveFen
    on: date


class BudgetLine(Strict):
    item: ItemCode
    amount_fen: Fen


class BudgetSet(Strict):
    """A budget approved, or adjusted through the same path: its lines replace those items of the
    fund's budget for the year. Each approval or adjustment has its own ``budget_id``."""

    budget_id: Id
    fund: Fund
    year: Year
    lines: list[BudgetLine] = Field(min_length=1, max_length=MAX_BUDGET_LINES)
    on: date


# --------------------------------------------------------------------------- envelope
class Envelope(Strict):
    message_id: MessageId = Field(description="unique per producer; the same id again is a redelivery")
    producer: Producer = Field(description="the sending system; (producer, message_id) identifies a message; not "
                               + " or ".join(RESERVED_PRODUCERS) + " (the ledger's own records)",
                               json_schema_extra={"not": {"enum": list(RESERVED_PRODUCERS)}})
    type: str
    schema_version: Annotated[Literal[1], BeforeValidator(_integer)]
    region: RegionCode = Field(description="the pooling region (6-digit division code) the message is about")
    occurred_at: AwareDatetime = Field(description="when it happened at the producer, with a time zone")


PAYLOADS: dict[str, type[Strict]] = {
    "person.enrolled": PersonEnrolled,
    "person.category_changed": PersonCategoryChanged,
    "person.deceased": PersonDeceased,
    "contribution.remittance": ContributionRemittance,
    "contribution.late_payment": ContributionLatePayment,
    "contribution.corrected": ContributionCorrection,
    "claim.outpatient": OutpatientClaim,
    "claim.inpatient": InpatientClaim,
    "claim.serious_outpatient": SeriousOutpatientClaim,
    "claim.reversed": ClaimReversal,
    "claim.cross_region": CrossRegionSettlement,
    "transfer.out": TransferOut,
    "transfer.in": TransferIn,
    "clearing.settled": ClearingSettled,
    "interest.rates_announced": InterestRatesAnnounced,
    "interest.posting_requested": InterestPostingRequested,
    "year.close_requested": YearCloseRequested,
    "retiree_credit.run_requested": RetireeCreditRunRequested,
    "income.recorded": IncomeRecorded,
    "expenditure.recorded": ExpenditureRecorded,
    "memo_fund.beneficiary_registered": MemoBeneficiaryRegistered,
    "bank.movement": BankMovement,
    "budget.approved": BudgetSet,
    "budget.adjusted": BudgetSet,
}


def _message_class_name(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.replace(".", "_").split("_")) + "Message"


def _message_model(type_name: str, payload: type[Strict]) -> type[Envelope]:
    tag: Any = Literal[type_name]  # a literal built at run time, one per type
    model: type[Envelope] = create_model(
        _message_class_name(type_name), __base__=Envelope, __doc__=payload.__doc__, type=(tag, ...), payload=(payload, ...),
    )
    return model


MESSAGE_MODELS: dict[str, type[Envelope]] = {name: _message_model(name, payload) for name, payload in PAYLOADS.items()}
# A discriminated union on ``type``: an unknown type is refused with the list of known ones.
_ANY_MESSAGE: Any = Annotated[Union[tuple(MESSAGE_MODELS.values())], Field(discriminator="type")]  # noqa: UP007 - built at run time
_ADAPTER: TypeAdapter[Any] = TypeAdapter(_ANY_MESSAGE)


def parse_message(raw: bytes | str) -> Envelope:
    """Validate one message from its raw bytes. Raises ``pydantic.ValidationError``."""
    message: Envelope = _ADAPTER.validate_json(raw)
    return message


def payload_of(message: Envelope) -> Strict:
    payload: Strict = message.payload  # type: ignore[attr-defined]
    return payload


def message_digest(message: Envelope) -> str:
    """What makes two deliveries of one ``message_id`` the same message: type, region and payload.

    ``occurred_at`` and ``schema_version`` are left out on purpose: a producer that re-sends a
    message may stamp it again, and that is still the same order to the ledger.
    """
    content = message.model_dump(mode="json", include={"type", "region", "payload"})
    for name, default in ADDED_FIELDS.get(message.type, {}).items():
        if content["payload"].get(name, default) == default:
            content["payload"].pop(name, None)
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def message_json_schema(type_name: str) -> dict[str, Any]:
    schema = MESSAGE_MODELS[type_name].model_json_schema()
    schema["$id"] = f"https://fund-ledger.example/schemas/{type_name}.v{SCHEMA_VERSION}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def any_message_json_schema() -> dict[str, Any]:
    schema = _ADAPTER.json_schema()
    schema["title"] = "Message"
    schema["$id"] = f"https://fund-ledger.example/schemas/message.v{SCHEMA_VERSION}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


class DeadLetterProvenance(BaseModel):
    model_config = ConfigDict(extra="allow")

    topic: str = Field(description="the topic it was read from, or file:<name> for `fund-ledger ingest`")
    partition: int
    offset: int = Field(description="the record's offset, or the line number in a file")
    key: str | None = None
    message_id: str | None = Field(None, description="when the envelope could be read")
    producer: str | None = None
    type: str | None = None
    region: str | None = None
    republished_from: str | None = Field(None, description="the dead letter this message was re-published from")


class DeadLetterRecord(BaseModel):
    """What the ledger's store keeps of a message it refused (``fund-ledger dead-letters --json``):
    the reason, where it came from, and the original bytes and headers."""

    model_config = ConfigDict(extra="forbid")

    dead_letter_id: str = Field(description="<topic>:<partition>:<offset> (file lines add @<sha256 prefix of the line>)")
    code: str = Field(description="a refusal code: see the README's list (not_json, invalid_schema, unknown_person, ...)")
    field: str = Field(description="where in the message, e.g. payload.lines[3].person_id; empty when about the whole message")
    reason: str
    context: dict[str, Any]
    provenance: DeadLetterProvenance
    headers: list[list[str]] = Field(description="the record's headers as [name, base64 value]")
    value_b64: str = Field(description="the record's value, byte for byte, in base64 (a file line over 2 MB: its first 2 MB)")
    size_bytes: int = Field(description="the size of the whole original value")
    sha256: str = Field(description="SHA-256 of the whole original value, hex")
    value_truncated: bool = Field(False, description="true when value_b64 holds only the beginning of the original")
    dead_lettered_at: AwareDatetime


class DeadLetterNotice(BaseModel):
    """What the consumer publishes to ``ledger.dead-letters`` (key: ``dead_letter_id``) for a
    message it refused: a reference to the original, which the ledger's store keeps
    (``fund-ledger dead-letters --show ID``), with its refusal code and provenance, and none of its
    content (no excerpt, no reason in words, no digest: personal data stays in the store, where it
    is encrypted). Bounded in size whatever the original's size, so a refusal always fits its topic."""

    model_config = ConfigDict(extra="forbid")

    dead_letter_id: str
    code: str
    field: str
    provenance: DeadLetterProvenance
    size_bytes: int
    original: str = Field(description="where the original is kept")
    dead_lettered_at: AwareDatetime
