"""The message contract without Kafka: schemas, routing, generated docs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from consumers import contract, docgen, handlers, schemas, wire
from consumers.refusals import MessageRefused, refusal
from ledger.commands import MAX_AMOUNT_FEN

REPO = Path(__file__).resolve().parents[2]
OUTPATIENT = contract.MESSAGE_TYPES["claim.outpatient"].example
REMITTANCE = contract.MESSAGE_TYPES["contribution.remittance"].example


def _with(message: dict[str, object], path: str, value: object) -> bytes:
    changed = copy.deepcopy(message)
    *parents, last = path.split(".")
    target: object = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value  # type: ignore[index]
    return json.dumps(changed).encode()


def _refused(raw: bytes) -> dict[str, object]:
    with pytest.raises(ValidationError) as caught:
        schemas.parse_message(raw)
    return refusal(caught.value)


@pytest.mark.parametrize("name", sorted(contract.MESSAGE_TYPES))
def test_every_documented_example_is_valid_and_routed_by_region_and_business_id(name: str) -> None:
    kind = contract.MESSAGE_TYPES[name]
    message = schemas.parse_message(json.dumps(kind.example))
    topic, key = contract.route(message, "staging.")
    assert topic == "staging." + kind.topic
    assert key.startswith(message.region + "/") and len(key) > 7


def test_the_sample_file_is_valid_line_by_line() -> None:
    lines = (REPO / "examples" / "messages.jsonl").read_bytes().splitlines()
    assert len(lines) >= 10
    for line in lines:
        schemas.parse_message(line)


@pytest.mark.parametrize("amount", [12.5, 100.0, "100", True, None])
def test_money_must_be_a_whole_number_of_fen_never_rounded(amount: object) -> None:
    reason = _refused(_with(OUTPATIENT, "payload.amount_fen", amount))
    assert (reason["code"], reason["field"]) == ("invalid_schema", "payload.amount_fen")


def test_a_fraction_of_a_fen_says_so() -> None:
    reason = _refused(_with(OUTPATIENT, "payload.amount_fen", 0.5))
    assert "fraction of a fen" in str(reason["reason"])


@pytest.mark.parametrize("amount", [-1, 0, MAX_AMOUNT_FEN + 1])
def test_claim_amounts_are_positive_and_bounded(amount: int) -> None:
    assert _refused(_with(OUTPATIENT, "payload.amount_fen", amount))["field"] == "payload.amount_fen"


def test_zero_and_the_maximum_are_accepted_where_zero_is_allowed() -> None:
    for value in (0, MAX_AMOUNT_FEN):
        schemas.parse_message(_with(REMITTANCE, "payload.lines.0.wage_base_fen", value))


@pytest.mark.parametrize("path", ["surprise", "payload.surprise", "payload.lines.0.surprise"])
def test_unknown_fields_are_refused_at_every_level(path: str) -> None:
    message = copy.deepcopy(REMITTANCE)
    if path == "surprise":
        message["surprise"] = 1
    elif path == "payload.surprise":
        message["payload"]["surprise"] = 1
    else:
        message["payload"]["lines"][0]["surprise"] = 1
    reason = _refused(json.dumps(message).encode())
    assert reason["field"] == path.replace("lines.0", "lines[0]")


@pytest.mark.parametrize(("path", "value"), [
    ("payload.claim_id", "C" * 65), ("payload.claim_id", ""), ("payload.claim_id", "has space"),
    ("message_id", "m" * 129), ("region", "21010"), ("region", 210100), ("schema_version", 2),
    ("occurred_at", "2024-03-15T09:30:00"), ("payload.on", "15/03/2024"), ("payload.kind", "dental"),
])
def test_strings_ids_dates_and_versions_are_checked(path: str, value: object) -> None:
    assert _refused(_with(OUTPATIENT, path, value))["code"] == "invalid_schema"


@pytest.mark.parametrize("period", ["0000-01", "9999-12", "0001-01", "1989-12", "2201-01", "2024-13", "2024-1"])
def test_a_period_is_a_month_of_the_years_the_ledger_books(period: str) -> None:
    """Year 0000 and 9999-12 once passed the schema and reached date arithmetic (internal_error)."""
    reason = _refused(_with(REMITTANCE, "payload.period", period))
    assert (reason["code"], reason["field"]) == ("invalid_schema", "payload.period")
    assert reason["reason"] == "must be a month YYYY-MM of a year from 1990 to 2200"


def test_the_first_and_last_months_of_the_ledger_s_years_are_periods() -> None:
    for period in ("1990-01", "2099-12", "2200-12"):
        schemas.parse_message(_with(REMITTANCE, "payload.period", period))


@pytest.mark.parametrize("digits", [101, 4_301, 100_000])  # the limit is 100
def test_a_number_of_too_many_digits_is_refused_naming_its_field(digits: int) -> None:
    """Python refuses to convert an integer of more than 4,300 digits (a ValueError, once an
    internal_error): the strict reader refuses any over ``MAX_INTEGER_DIGITS``, naming where."""
    raw = _with(REMITTANCE, "payload.lines.0.wage_base_fen", 0).replace(b'"wage_base_fen": 0', b'"wage_base_fen": -' + b"9" * digits)
    with pytest.raises(MessageRefused) as caught:
        wire.read_json(raw)
    reason = refusal(caught.value)
    assert (reason["code"], reason["field"]) == ("invalid_schema", "payload.lines[0].wage_base_fen")
    assert f"{digits} digits" in str(reason["reason"])


@pytest.mark.parametrize("number", ["1" + "0" * 5000 + ".0", "0." + "0" * 200 + "1", "-" + "9" * 150 + "e5"])
def test_a_fraction_of_too_many_digits_is_refused_naming_its_field(number: str) -> None:
    """pydantic's reader refused a 5,000-digit fraction as not_json ("number out of range"), naming no field."""
    raw = _with(OUTPATIENT, "payload.amount_fen", 0).replace(b'"amount_fen": 0', b'"amount_fen": ' + number.encode())
    with pytest.raises(MessageRefused) as caught:
        wire.read_json(raw)
    reason = refusal(caught.value)
    assert (reason["code"], reason["field"]) == ("invalid_schema", "payload.amount_fen")
    assert f"written with {len(number.lstrip('-'))} characters" in str(reason["reason"])


def test_a_number_of_as_many_digits_as_allowed_is_read_for_the_schema_to_judge() -> None:
    raw = _with(OUTPATIENT, "payload.amount_fen", 10 ** (wire.MAX_INTEGER_DIGITS - 1))
    assert wire.read_json(raw)["payload"]["amount_fen"] == 10 ** (wire.MAX_INTEGER_DIGITS - 1)
    assert _refused(raw)["field"] == "payload.amount_fen"


@pytest.mark.parametrize("level", [True, False, 3.0, 1.0, "3", None, 4])
def test_a_hospital_level_is_one_of_the_integers_1_2_3(level: object) -> None:
    """A literal's value is matched by equality, even in strict mode: true was level 1, 3.0 level 3."""
    example = contract.MESSAGE_TYPES["claim.inpatient"].example
    reason = _refused(_with(example, "payload.hospital_level", level))
    assert (reason["code"], reason["field"]) == ("invalid_schema", "payload.hospital_level")
    assert isinstance(level, int) or "valid integer" in str(reason["reason"])


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_the_schema_version_is_the_integer_1(version: object) -> None:
    reason = _refused(_with(OUTPATIENT, "schema_version", version))
    assert (reason["code"], reason["field"]) == ("invalid_schema", "schema_version")


@pytest.mark.parametrize(("type_name", "path"), [("person.enrolled", "payload.contribution_history_reference"),
                                                   ("memo_fund.beneficiary_registered", "payload.reference"),
                                                   ("person.deceased", "payload.heirs_reference"), ("claim.reversed", "payload.reason")])
@pytest.mark.parametrize("text", ["cert \x1b]0;pwned\x07", "HR\x00", "bell\x07", "\u202eevil", "tab\there", "\x9b2J",
                                  'x\u2028{"event": "forged"}', "para\u2029graph"])  # U+2028/9: line breaks to str.splitlines
def test_free_text_refuses_control_characters_and_bidirectional_overrides(type_name: str, path: str, text: str) -> None:
    """Every free-text field, as the README promises (a reference once took ESC, NUL, BEL and a
    bidirectional override to every screen and report that showed it)."""
    reason = _refused(_with(contract.MESSAGE_TYPES[type_name].example, path, text))
    assert (reason["code"], reason["field"]) == ("invalid_schema", path)
    assert str(reason["reason"]).startswith("must not contain control characters")


def test_free_text_takes_any_printable_text_and_an_absent_reference_may_be_empty() -> None:
    enrolled = contract.MESSAGE_TYPES["person.enrolled"].example
    for text in ("转移接续凭证 No. 12/2023 (辽宁)", ""):
        schemas.parse_message(_with(enrolled, "payload.contribution_history_reference", text))
    schemas.parse_message(_with(contract.MESSAGE_TYPES["memo_fund.beneficiary_registered"].example, "payload.reference", "人社厅 2024-17"))


def test_an_unknown_type_and_broken_json_are_refused_with_their_own_codes() -> None:
    assert _refused(_with(OUTPATIENT, "type", "claim.dental"))["code"] == "invalid_schema"
    assert _refused(b'{"message_id": ')["code"] == "not_json"


def test_a_remittance_has_at_least_one_line_and_a_bounded_number() -> None:
    assert _refused(_with(REMITTANCE, "payload.lines", []))["field"] == "payload.lines"
    many = [{"person_id": f"P{i}", "wage_base_fen": 1} for i in range(schemas.MAX_LINES_PER_REMITTANCE_MESSAGE + 1)]
    assert _refused(_with(REMITTANCE, "payload.lines", many))["field"] == "payload.lines"


@given(st.integers(min_value=0, max_value=MAX_AMOUNT_FEN))
def test_any_whole_amount_in_range_is_kept_exactly(amount: int) -> None:
    message = schemas.parse_message(_with(REMITTANCE, "payload.declared_total_fen", amount))
    assert schemas.payload_of(message).declared_total_fen == amount  # type: ignore[attr-defined]


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e12).filter(lambda x: x != int(x)))
def test_any_fractional_amount_is_refused(amount: float) -> None:
    with pytest.raises(ValidationError):
        schemas.parse_message(_with(REMITTANCE, "payload.declared_total_fen", amount))


def test_the_digest_names_the_content_not_the_delivery() -> None:
    first = schemas.parse_message(json.dumps(OUTPATIENT))
    restamped = schemas.parse_message(_with(OUTPATIENT, "occurred_at", "2025-01-01T00:00:00Z"))
    changed = schemas.parse_message(_with(OUTPATIENT, "payload.amount_fen", 4651))
    assert schemas.message_digest(first) == schemas.message_digest(restamped)
    assert schemas.message_digest(first) != schemas.message_digest(changed)


def test_every_ledger_command_has_a_message_type() -> None:
    import dataclasses

    from ledger import commands

    command_classes = {c for c in vars(commands).values()
                       if dataclasses.is_dataclass(c) and isinstance(c, type) and hasattr(c, "__doc__")
                       and c.__name__ not in ("RemittanceLine", "BudgetLine")}
    built = set()
    for kind in contract.MESSAGE_TYPES.values():
        message = schemas.parse_message(json.dumps(kind.example))
        built.add(type(kind.build(message, schemas.payload_of(message))))
    assert command_classes <= built, command_classes - built


def test_published_schemas_and_messages_doc_are_up_to_date() -> None:
    assert docgen.main(["--check"]) == 0, "run: python -m consumers.docgen"


def test_a_reversal_travels_with_its_claim_in_one_partition() -> None:
    """Keyed by the claim's person, as the claim is: Kafka keeps the two in order."""
    claim = schemas.parse_message(json.dumps(contract.MESSAGE_TYPES["claim.inpatient"].example))
    reversal = schemas.parse_message(json.dumps(contract.MESSAGE_TYPES["claim.reversed"].example))
    assert contract.route(reversal) == contract.route(claim) == ("ledger.claims", "210100/P000123")


@pytest.mark.parametrize(("number", "said"), [
    ("1e400", "1e400 is too large to read as a number"), ("-1E+400", "-1E+400 is too large to read as a number"),
    ("1.7976931348623157e309", "is too large to read as a number"), ("1e-400", "1e-400 is a fraction too small to read"),
    ("1e20", "written as an integer, got 1e+20"), ("100.0", "written as an integer, got 100.0"),
    ("12.5", "got 12.5: a fraction of a fen"),
])
def test_a_float_out_of_range_or_whole_is_refused_for_what_it_is(number: str, said: str) -> None:
    """1e400 was refused naming its field, but as "got inf: a fraction of a fen"; 1e-400 as
    "got 0.0" and 1e20 as a fraction of a fen, which they are not."""
    raw = _with(OUTPATIENT, "payload.amount_fen", 0).replace(b'"amount_fen": 0', b'"amount_fen": ' + number.encode())
    with pytest.raises((MessageRefused, ValidationError)) as caught:
        handlers.read_message(raw)
    reason = refusal(caught.value)
    assert (reason["code"], reason["field"]) == ("invalid_schema", "payload.amount_fen")
    assert said in str(reason["reason"]) and "inf" not in str(reason["reason"])
    if number not in ("12.5", "1e-400"):
        assert "fraction" not in str(reason["reason"])
