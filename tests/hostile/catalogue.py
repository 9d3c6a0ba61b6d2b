"""Hostile inputs, every class the ledger was once stopped or bent by, and the good messages
around them: one catalogue for the ingest suite, the Kafka suite and the fuzzer's seeds.

Each line says what must become of it: ``applied``, ``duplicate``, or the refusal code (and
field) of its dead letter. The good lines' books are worked out by hand in ``EXPECTED``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REGION = "210100"
OCCURRED_AT = "2024-05-01T08:00:00+08:00"
# The big payroll: enough people, with long enough ids, that the remittance is over 786 KB (a
# dead letter embedding it in base64 used to pass the broker's 1 MiB limit and stop the consumer).
PAYROLL_PEOPLE = 10_000


@dataclass(frozen=True)
class Line:
    value: bytes
    expect: str  # "applied" | "duplicate" | a dead-letter code
    field: str | None = None  # the refusal's field, when the test checks it
    note: str = ""
    kafka: bool = True  # False: cannot travel through the broker (over its record size)


def message(message_id: str, type_name: str, payload: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"message_id": message_id, "producer": "hostile-suite", "type": type_name, "schema_version": 1,
            "region": REGION, "occurred_at": OCCURRED_AT, "payload": payload, **envelope}


def encode(value: dict[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()


def enrol(person_id: str, birth_date: str = "1980-01-01", enrolled_on: str = "2024-01-01") -> dict[str, Any]:
    return message(f"enrol-{person_id}", "person.enrolled", {"person_id": person_id, "category": "employee", "birth_date": birth_date,
                                                             "employer_id": "E1", "enrolled_on": enrolled_on})


def outpatient(message_id: str, claim_id: str, person_id: str, on: str, amount: Any) -> dict[str, Any]:
    return message(message_id, "claim.outpatient", {"claim_id": claim_id, "person_id": person_id, "kind": "outpatient",
                                                    "on": on, "amount_fen": amount})


_INPATIENT = {"person_id": "P1", "admitted_on": "2024-03-01", "discharged_on": "2024-03-05", "total_cost_fen": 60_000}


def _replace(value: dict[str, Any], old: str, new: str) -> bytes:
    text = json.dumps(value)
    assert old in text, old
    return text.replace(old, new, 1).encode()


EXPECTED = {
    # Worked by hand (policy liaoning_1999_example.toml, version 2024-01). P1 and P2, born
    # 1980-01-01, are 44 in period 2024-01: employee share 2% of 500,000 = 10,000; employer 6% =
    # 30,000, of which the 35-to-45 band's 1% = 5,000 goes to the account and 25,000 to the pooled
    # fund. Each account gets 15,000; the remittance is 2 x 40,000 = 80,000, the pooled fund 50,000.
    # P1 pays an outpatient bill of 3,000: 12,000 left. P2 pays 2,000, which is reversed: 15,000.
    # P3 (enrolled after their claim arrived, no contributions) pays nothing from an empty
    # account: the 500 is out of pocket, the balance 0.
    "balances_fen": {"P1": 12_000, "P2": 15_000, "P3": 0},
    "pooled_fen": 50_000,
}


def good_lines() -> list[Line]:
    return [
        Line(encode(enrol("P1")), "applied"),
        Line(encode(enrol("P2")), "applied"),
        Line(encode(message("rem-2024-01", "contribution.remittance", {
            "remittance_id": "E1-2024-01", "payer_kind": "employer", "payer_id": "E1", "period": "2024-01", "received_on": "2024-01-15",
            "declared_total_fen": 80_000, "lines": [{"person_id": "P1", "wage_base_fen": 500_000},
                                                    {"person_id": "P2", "wage_base_fen": 500_000}]})), "applied"),
        Line(encode(outpatient("op-c1", "C1", "P1", "2024-02-01", 3_000)), "applied"),
        # A reversal that overtakes its claim, and a claim that overtakes its person's enrolment:
        # both deferred, then applied once what they need has landed.
        Line(encode(message("rev-c2", "claim.reversed", {"correction_id": "COR-C2", "claim_id": "C2", "person_id": "P2",
                                                         "on": "2024-02-03", "reason": "bill withdrawn"})), "applied", note="reversal before its claim"),
        Line(encode(outpatient("op-c2", "C2", "P2", "2024-02-02", 2_000)), "applied"),
        Line(encode(outpatient("op-c3", "C3", "P3", "2024-02-04", 500)), "applied", note="claim before its person's enrolment"),
        Line(encode(enrol("P3")), "applied"),
        Line(encode(outpatient("op-c3", "C3", "P3", "2024-02-04", 500)), "duplicate",
             note="a redelivery of the deferred claim, applied before the first copy's retry: that deferral is resolved"),
        Line(encode(outpatient("op-c1", "C1", "P1", "2024-02-01", 3_000)), "duplicate", note="an exact redelivery"),
    ]


def hostile_lines() -> list[Line]:
    claim = outpatient("op-x", "CX", "P1", "2024-02-10", 100)
    bad: list[Line] = [
        Line(b"[" * 1000 + b"]" * 1000, "too_deep", note="nested a thousand deep: once a RecursionError on every restart"),
        Line(b"{\"a\": " * 5000 + b"1" + b"}" * 5000, "too_deep"),
        Line(b"\xff\xfe not utf-8", "not_json"),
        Line(b'{"message_id": ', "not_json"),
        Line(b"\xef\xbb\xbf" + encode(outpatient("op-bom", "CB", "P1", "2024-02-10", 100)), "not_json", note="a byte order mark"),
        Line(b"[1, 2]", "invalid_schema"),
        Line(b"{}", "invalid_schema"),
        Line(_replace(claim, '"amount_fen": 100', '"amount_fen": 100, "amount_fen": 99999999'), "duplicate_key", "amount_fen",
             note="which amount? last-one-wins once booked the second"),
        Line(_replace(claim, '"message_id": "op-x"', '"message_id": "op-x", "message_id": "op-y"'), "duplicate_key", "message_id"),
        Line(_replace(claim, '"amount_fen": 100', '"amount_fen": NaN'), "non_finite_number"),
        Line(_replace(claim, '"amount_fen": 100', '"amount_fen": Infinity'), "non_finite_number"),
        Line(_replace(claim, '"amount_fen": 100', '"amount_fen": -Infinity'), "non_finite_number"),
        Line(encode(outpatient("op-frac", "CF", "P1", "2024-02-10", 12.5)), "invalid_schema", "payload.amount_fen"),
        Line(encode(outpatient("op-huge", "CH", "P1", "2024-02-10", 10**30)), "invalid_schema", "payload.amount_fen"),
        Line(encode(outpatient("op-neg", "CN", "P1", "2024-02-10", -100)), "invalid_schema", "payload.amount_fen"),
        Line(encode(outpatient("op-str", "CS", "P1", "2024-02-10", "100")), "invalid_schema", "payload.amount_fen"),
        Line(_replace(claim, '"amount_fen": 100', '"amount_fen": 1' + "0" * 5000), "invalid_schema", "payload.amount_fen",
             note="5,001 digits: over Python's int conversion limit, once an internal_error"),
        Line(_replace(claim, '"amount_fen": 100', '"amount_fen": 1' + "0" * 5000 + ".0"), "invalid_schema", "payload.amount_fen",
             note="a fraction of 5,003 characters: once not_json ('number out of range'), naming no field"),
        Line(encode(outpatient("op-10bn", "C10BN", "P1", "2024-02-10", 10**12)), "implausible_amount", "amount_fen",
             note="a 10-billion-yuan outpatient bill"),
        Line(encode(outpatient("op-9999", "C9999", "P1", "9999-12-31", 1)), "date_out_of_window", "on",
             note="once made the whole balance carried over and cost the year's interest"),
        Line(encode(outpatient("op-2150", "C2150", "P1", "2150-01-01", 1)), "date_out_of_window", "on"),
        Line(encode(outpatient("op-0001", "C0001", "P1", "0001-01-01", 1)), "date_out_of_window", "on"),
        Line(encode(outpatient("op-early", "CE", "P1", "2023-12-01", 100)), "date_out_of_window", "on", note="before the enrolment"),
        Line(encode(message("op-future", "claim.outpatient", {"claim_id": "CFUT", "person_id": "P1", "kind": "outpatient",
                                                              "on": "2150-01-01", "amount_fen": 1}, occurred_at="2150-01-01T00:00:00+08:00")),
             "date_out_of_window", "occurred_at", note="issued in the future"),
        Line(encode(enrol("P9000", birth_date="9000-01-01")), "invalid_input", "birth_date", note="born in 9000"),
        Line(encode(enrol("P1800", birth_date="1800-01-01")), "date_out_of_window", "birth_date", note="older than anyone"),
        Line(encode(enrol("P-EARLY", enrolled_on="1990-01-01")), "date_out_of_window", "enrolled_on", note="before the region opened"),
        Line(encode(message("interest-2200", "interest.posting_requested", {"year": 2200})), "date_out_of_window", "year"),
        Line(encode(message("rem-0000", "contribution.remittance", {
            "remittance_id": "E1-0000-01", "payer_kind": "employer", "payer_id": "E1", "period": "0000-01", "received_on": "2024-01-15",
            "declared_total_fen": 40_000, "lines": [{"person_id": "P1", "wage_base_fen": 500_000}]})), "invalid_schema", "payload.period",
             note="year 0: once a ValueError in date arithmetic (internal_error)"),
        Line(encode(message("retirees-9999", "retiree_credit.run_requested", {"period": "9999-12", "on": "2024-03-25"})),
             "invalid_schema", "payload.period", note="9999-12: its month's end is past the calendar"),
        Line(encode(message("unknown-type", "claim.dental", {"claim_id": "D1"})), "invalid_schema", "type"),
        Line(encode(message("other-region", "claim.outpatient", claim["payload"], region="999999")), "unknown_region", "region"),
        Line(encode(message("schema-2", "claim.outpatient", claim["payload"], schema_version=2)), "invalid_schema", "schema_version"),
        Line(encode(message("ip-true", "claim.inpatient", {**_INPATIENT, "claim_id": "IPT", "hospital_level": True})), "invalid_schema",
             "payload.hospital_level", note="true was read as level 1 by the strict schema"),
        Line(encode(message("ip-float", "claim.inpatient", {**_INPATIENT, "claim_id": "IPF", "hospital_level": 3.0})), "invalid_schema",
             "payload.hospital_level", note="3.0 was read as level 3"),
        Line(encode(message("schema-true", "claim.outpatient", claim["payload"], schema_version=True)), "invalid_schema", "schema_version",
             note="true was read as version 1"),
        Line(encode(message("by-deferred", "claim.outpatient", claim["payload"], producer="deferred")), "invalid_schema", "producer",
             note="the ledger's own name for its deferrals: applied, it once made dead-letters fail (KeyError)"),
        Line(encode(message("by-dead-letters", "claim.outpatient", claim["payload"], producer="dead-letters")), "invalid_schema",
             "producer", note="the ledger's own name for its dead letters"),
        Line(encode(message("extra", "claim.outpatient", {**claim["payload"], "discount_fen": 5})), "invalid_schema",
             "payload.discount_fen"),
        Line(encode(outpatient("op-c1", "C1", "P1", "2024-02-01", 3_001)), "message_conflict", "message_id",
             note="an applied message id again with another payload"),
        Line(encode(message("ctl-\x1b]0;pwned\x07", "claim.outpatient", claim["payload"])), "invalid_schema", "message_id",
             note="a terminal escape in an id"),
        Line(encode(message("death-ctl", "person.deceased", {"person_id": "P2", "died_on": "2024-03-01",
                                                             "heirs_reference": "will \x1b[2J\u202e 1"})),
             "invalid_schema", "payload.heirs_reference", note="a terminal escape in free text"),
        Line(_replace(claim, '"claim_id": "CX"', '"claim_id": "C\\ud800"'), "not_json", note="a lone surrogate"),
        Line(encode(message("enrol-ctl", "person.enrolled", {**enrol("P-CTL")["payload"], "contribution_months_elsewhere": 12,
                                                             "contribution_history_reference": "cert \x1b]0;pwned\x07 \u202e1202"})),
             "invalid_schema", "payload.contribution_history_reference", note="a terminal escape in a certificate's reference"),
        Line(encode(message("memo-ctl", "memo_fund.beneficiary_registered", {"fund": "civil_servant_subsidy", "person_id": "P1",
                                                                             "since": "2024-01-01", "reference": "HR \x1b[2J\x00 \u202eevil"})),
             "invalid_schema", "payload.reference", note="NUL, an escape and a bidi override in a memo fund's reference"),
        Line(encode(outpatient("op-nobody", "CNB", "NOBODY", "2024-02-10", 100)), "unknown_person", "person_id",
             note="never enrolled: tried again, then dead-lettered"),
        Line(b'{"message_id": "' + b"x" * 990_000 + b'"', "not_json", note="a refusal of 990 KB"),
        Line(b'{"pad": "' + b"x" * 1_040_000 + b'"}', "too_large", note="over the message limit, under the broker's"),
        Line(b'{"pad": "' + b"x" * 2_500_000 + b'"}', "too_large", note="over 2 MB: kept in part, its true size recorded",
             kafka=False),
    ]
    return bad


def payroll_id(index: int) -> str:
    return f"PAYROLL-{index:05d}-" + "X" * 40


def big_payroll_lines(people: int = PAYROLL_PEOPLE) -> list[Line]:
    """``people`` enrolments, then one remittance for all of them whose declared total is a fen
    short: a refusal over 786 KB."""
    lines = [Line(encode(enrol(payroll_id(i), birth_date="1990-06-15")), "applied") for i in range(people)]
    remittance = encode(message("payroll-big", "contribution.remittance", {
        "remittance_id": "BIG-2024-01", "payer_kind": "employer", "payer_id": "E1", "period": "2024-01", "received_on": "2024-01-15",
        "declared_total_fen": 1, "lines": [{"person_id": payroll_id(i), "wage_base_fen": 500_000} for i in range(people)]}))
    assert people < PAYROLL_PEOPLE or 786_000 < len(remittance) < 1_000_000, len(remittance)
    lines.append(Line(remittance, "declared_total_mismatch", "declared_total_fen", note="a large payroll with a wrong total"))
    return lines


def catalogue(people: int = PAYROLL_PEOPLE) -> list[Line]:
    """The whole run: hostile lines between good ones, in an order that exercises deferral."""
    good = good_lines()
    hostile = hostile_lines()
    ordered = [*good[:4], *hostile[:12], *good[4:7], *hostile[12:], *good[7:], *big_payroll_lines(people)]
    return ordered
