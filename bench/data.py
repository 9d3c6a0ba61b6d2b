"""Deterministic workloads: persons, their enrolment messages, monthly remittances.

Everyone is an employee of region 210100 (the shipped example policy), enrolled on 1 January
2024; employer ``E0000`` employs persons 0-199, ``E0001`` 200-399, and so on, so one remittance
has ``LINES_PER_REMITTANCE`` lines. Declared totals are computed with the ledger's own rule
(``ledger.rules.contribution_split``) so that every remittance is accepted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ledger.commands import Enrol, PostRemittance, RemittanceLine
from ledger.policy import PolicyVersion, load_policy_file
from ledger.rules import age_on, contribution_split

REGION = "210100"
YEAR = 2024
LINES_PER_REMITTANCE = 200
ENROLLED_ON = date(YEAR, 1, 1)


@dataclass(frozen=True)
class Person:
    person_id: str
    birth_date: date
    employer_id: str
    wage_base_fen: int


def person(index: int) -> Person:
    # Ages 25-59 on enrolment (all three employer-share bands), wage bases 3,000-9,000 yuan.
    birth = date(1965 + index % 35, 1 + index % 12, 1 + index % 28)
    return Person(f"P{index:07d}", birth, f"E{index // LINES_PER_REMITTANCE:04d}", 300_000 + (index * 7919) % 600_000)


def persons(count: int) -> list[Person]:
    return [person(i) for i in range(count)]


def policy() -> PolicyVersion:
    return load_policy_file().versions[-1]


def enrol_command(p: Person) -> Enrol:
    return Enrol(REGION, p.person_id, "employee", p.birth_date, p.employer_id, ENROLLED_ON)


def remittances(people: list[Person], month: int) -> Iterator[PostRemittance]:
    """One remittance per employer for ``month`` of ``YEAR``."""
    rules = policy()
    period_start = date(YEAR, month, 1)
    for start in range(0, len(people), LINES_PER_REMITTANCE):
        group = people[start:start + LINES_PER_REMITTANCE]
        total_fen = sum(contribution_split(rules, "employee", age_on(p.birth_date, period_start), p.wage_base_fen).payable_fen
                        for p in group)
        employer = group[0].employer_id
        yield PostRemittance(REGION, f"{employer}-{YEAR}-{month:02d}", "employer", employer, f"{YEAR}-{month:02d}",
                             date(YEAR, month, 15), total_fen,
                             tuple(RemittanceLine(p.person_id, p.wage_base_fen) for p in group))


# ---------------------------------------------------------------------------- messages (docs/messages.md)
def _envelope(message_id: str, producer: str, kind: str, payload: dict[str, object], issued_on: date) -> bytes:
    """A message issued on the day of its business date (the ledger refuses business dates much
    later than a message's ``occurred_at``)."""
    return json.dumps({"message_id": message_id, "producer": producer, "type": kind, "schema_version": 1, "region": REGION,
                       "occurred_at": f"{issued_on.isoformat()}T09:00:00+08:00", "payload": payload}, separators=(",", ":")).encode()


def enrolment_messages(people: list[Person]) -> list[bytes]:
    return [_envelope(f"hr-{p.person_id}", "hr", "person.enrolled", {
        "person_id": p.person_id, "category": "employee", "birth_date": p.birth_date.isoformat(),
        "employer_id": p.employer_id, "enrolled_on": ENROLLED_ON.isoformat()}, ENROLLED_ON) for p in people]


def remittance_messages(people: list[Person], months: int) -> list[bytes]:
    out = []
    for month in range(1, months + 1):
        for r in remittances(people, month):
            out.append(_envelope(f"tax-{r.remittance_id}", "tax", "contribution.remittance", {
                "remittance_id": r.remittance_id, "payer_kind": r.payer_kind, "payer_id": r.payer_id, "period": r.period,
                "received_on": r.received_on.isoformat(), "declared_total_fen": r.declared_total_fen,
                "lines": [{"person_id": line.person_id, "wage_base_fen": line.wage_base_fen} for line in r.lines]}, r.received_on))
    return out


def write_jsonl(path: Path, messages: list[bytes]) -> Path:
    """The messages, one a line, in a file for its owner alone (0600 in a 0700 directory): they
    carry birth dates and employers, made up but shaped as a person's."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file an earlier run made 0644
    with os.fdopen(descriptor, "wb") as file:
        file.write(b"".join(m + b"\n" for m in messages))
    return path
