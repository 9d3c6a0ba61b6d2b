"""Erasure by crypto-shredding (``fund-ledger erase-person``): a dead person's birth date, employer
and heirs' reference, and the refused message that named them, can never be read again; every
total, report and the hash chain stay as they were. Through the command line, on the embedded
store (tests/security/test_at_rest_postgres.py has PostgreSQL)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto import ERASED, NONCE_BYTES, PersonalDataMapper, associated_data, open_refusal, person_key_id
from consumers.dead_letters import list_dead_letters
from ledger.aggregates import BusinessRecord, PersonalAccount
from ledger.application import Ledger
from ledger.commands import Enrol, RecordDeath
from ledger.erasure import ErasePerson, RetentionNotOver, erase_person
from ledger.errors import InvalidInput
from ledger.policy import load_policy_file
from tests.security import people
from tests.security.people import P1_BIRTH, P1_EMPLOYER, P1_HEIRS, P2_BIRTH, REGION

REPO = Path(__file__).resolve().parents[2]
TOTALS = ("balances", "trial-balance", "income", "expenditure", "personal")


class Run:
    """The command line against one embedded store, as the ledger's administrator."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.store = tmp_path / "ledger.sqlite"
        self.keys = tmp_path / "ledger.sqlite.keys.sqlite"  # the default key store beside it (adapters.keys)
        self.dead_letter_file = tmp_path / "dead-letters.jsonl"
        self.policy = people.retention_policy(tmp_path / "policy.toml", years=0)
        self.env = {**{k: v for k, v in os.environ.items() if k != "PERSISTENCE_MODULE" and not k.startswith("POSTGRES_")},
                    "FUND_LEDGER_SQLITE": str(self.store), "PYTHONPATH": str(REPO)}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=self.tmp_path, env=self.env, capture_output=True,
                              text=True, timeout=180)

    def ingest(self, items: list[dict[str, Any]], name: str) -> subprocess.CompletedProcess[str]:
        path = people.write(self.tmp_path / name, items)
        return self("ingest", str(path), "--policy", str(self.policy), "--dead-letter-file", str(self.dead_letter_file))

    def reports(self) -> dict[str, Any]:
        found = {}
        for name in TOTALS:
            done = self("report", name, "--format", "json")
            assert done.returncode == 0, done.stderr
            found[name] = json.loads(done.stdout)
        return found

    def ledger(self) -> Ledger:
        return Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(self.store)})

    def stored_keys(self) -> dict[str, bytes | None]:
        """The key database's rows as they are on disk: the key by id (None once destroyed)."""
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(self.keys)) as connection:
            return {key_id: None if key is None else bytes(key) for key_id, key in connection.execute("SELECT id, key FROM keys")}


@pytest.fixture
def run(tmp_path: Path) -> Run:
    run = Run(tmp_path)
    ingested = run.ingest(people.messages(), "messages.jsonl")
    assert ingested.returncode == 1, ingested.stdout + ingested.stderr  # one line refused: P1 enrolled again
    assert json.loads(ingested.stdout)["dead_letter_codes"] == {"duplicate_business_id": 1}
    return run


def _without_erasure_marks(report: dict[str, Any]) -> dict[str, Any]:
    """The report's figures, without the column that says whose personal data is erased."""
    return {name: [{key: value for key, value in row.items() if key != "personal_data"} for row in rows]
            for name, rows in report["sections"].items()}


def _stored(ledger: Ledger, topic_suffix: str) -> list[dict[str, Any]]:
    return [json.loads(n.state) for n in ledger.recorder.select_notifications(start=1, limit=10_000) if n.topic.endswith(topic_suffix)]


def test_an_erased_persons_fields_cannot_be_decrypted_and_every_total_is_unchanged(run: Run) -> None:
    keys_before = run.stored_keys()
    p1_key = keys_before[person_key_id(REGION, "P1")]
    assert p1_key is not None
    before = run.reports()

    dry = run("erase-person", REGION, "P1")
    assert dry.returncode == 0 and json.loads(dry.stdout)["dry_run"] is True
    assert run.stored_keys() == keys_before  # a dry run destroys nothing

    erased = run("erase-person", REGION, "P1", "--yes")
    assert erased.returncode == 0, erased.stderr
    summary = json.loads(erased.stdout)
    assert (summary["erased"], summary["person_key"], summary["closed_by"], summary["closed_on"]) == (True, "destroyed", "death", "2024-02-28")
    assert summary["dead_letters_erased"] == ["file:messages.jsonl:0:4@" + _line_digest(people.DUPLICATE_ENROLMENT)]

    # The key's bytes are gone from the key database; nothing left there opens P1's fields.
    assert p1_key not in run.keys.read_bytes() and run.stored_keys()[person_key_id(REGION, "P1")] is None
    remaining = [key for key in run.stored_keys().values() if key is not None]
    assert remaining
    ledger = run.ledger()
    try:
        [enrolled] = [state for state in _stored(ledger, "PersonalAccount.Enrolled") if state["person_id"] == "P1"]
        for place, plaintext in (("birth_date", P1_BIRTH), ("employer_id", P1_EMPLOYER)):
            sealed = enrolled[place]
            raw, aad = base64.b64decode(sealed["data"]), associated_data(sealed["key"], place)
            # The key that was destroyed did open it (the test looks at the right ciphertext) ...
            assert plaintext.encode() in AESGCM(p1_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
            for key in remaining:  # ... and no key that is left does.
                with pytest.raises(InvalidTag):
                    AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)

        p1 = ledger.personal_account(REGION, "P1")
        assert (p1.birth_date, p1.employer_id, p1.balance_fen, p1.is_closed) == (ERASED, ERASED, 0, True)
        assert [e.heirs_reference for e in ledger.events.get(p1.id) if isinstance(e, PersonalAccount.Inherited)] == [ERASED]
        death = ledger.repository.get(BusinessRecord.id_for("death", REGION, "P1"))
        assert death.outcome["heirs_reference"] == ERASED and death.outcome["paid_to_heirs_fen"] == 20_000
        p2 = ledger.personal_account(REGION, "P2")
        assert (p2.birth_date, p2.employer_id, p2.balance_fen) == (date.fromisoformat(P2_BIRTH), P1_EMPLOYER, people.EXPECTED["P2"])
        assert ledger.pooled_fund(REGION).balance_fen == people.EXPECTED["pooled_fen"]
        [dead] = list_dead_letters(ledger)
        assert (dead["code"], dead["value_b64"], dead["reason"], dead["sha256"]) == ("duplicate_business_id", ERASED, ERASED, ERASED)
        [in_file] = [json.loads(line) for line in run.dead_letter_file.read_text().splitlines()]
        assert open_refusal(ledger.mapper, in_file)["value_b64"] == ERASED
    finally:
        ledger.close()

    for text in (run.store.read_bytes(), run.dead_letter_file.read_bytes()):
        assert P1_BIRTH.encode() not in text and P1_HEIRS.encode() not in text
    verified = run("verify")
    assert verified.returncode == 0 and "PASS" in verified.stdout, verified.stdout + verified.stderr
    replayed = run("replay")
    assert replayed.returncode == 0 and "PASS" in replayed.stdout, replayed.stdout + replayed.stderr
    after = run.reports()
    assert {name: _without_erasure_marks(report) for name, report in after.items()} == \
        {name: _without_erasure_marks(report) for name, report in before.items()}
    [row] = [row for row in after["personal"]["sections"]["accounts"] if row["person_id"] == "P1"]
    assert row["personal_data"] == f"erased {date.today().isoformat()}"  # the report shows P1 as erased

    again = run("erase-person", REGION, "P1", "--yes")
    assert again.returncode == 0 and json.loads(again.stdout)["already"] is True
    republished = run("dead-letters", "--republish", summary["dead_letters_erased"][0])  # nothing left to send
    assert republished.returncode == 1 and json.loads(republished.stderr)["code"] == "original_unreadable", republished.stderr


def test_a_message_about_an_erased_person_is_refused_as_for_a_closed_account(run: Run) -> None:
    assert run("erase-person", REGION, "P1", "--yes").returncode == 0
    late = people.message("his-P1-late", "his", "claim.outpatient", {"claim_id": "OP-P1-late", "person_id": "P1", "kind": "outpatient",
                                                                    "on": "2024-03-05", "amount_fen": 100}, "2024-03-05")
    again = people.enrolment("P1", P1_BIRTH, P1_EMPLOYER, message_id="hr-P1-third")
    done = run.ingest([late, again], "late.jsonl")
    assert json.loads(done.stdout)["dead_letter_codes"] == {"account_closed": 1, "duplicate_business_id": 1}, done.stdout
    assert "Traceback" not in done.stderr


def test_erasure_waits_for_the_retention_period_and_a_closed_account() -> None:
    """The shipped policy keeps personal data 30 years after the account closed: a death on
    2024-02-28 is erasable from 2054-02-28, not a day before; an open account never."""
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        ledger.open_region(load_policy_file())
        ledger.enrol(Enrol(REGION, "P1", "employee", date.fromisoformat(P1_BIRTH), P1_EMPLOYER, date(2024, 1, 1), 0))
        with pytest.raises(InvalidInput, match="the personal account is open"):
            erase_person(ledger, ErasePerson(REGION, "P1", date(2060, 1, 1)))
        ledger.record_death(RecordDeath(REGION, "P1", date(2024, 2, 28), "probate 2024-001"))
        with pytest.raises(RetentionNotOver, match="erasable from 2054-02-28"):
            erase_person(ledger, ErasePerson(REGION, "P1", date(2054, 2, 27)))
        assert erase_person(ledger, ErasePerson(REGION, "P1", date(2054, 2, 28)))["erased"] is True
        assert ledger.personal_account(REGION, "P1").closed_reason == "personal data erased on 2054-02-28"
    finally:
        ledger.close()


def test_erase_person_without_keys_is_refused_in_one_line(run: Run) -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "erase-person", REGION, "P1", "--yes"], cwd=run.tmp_path,
                          env={**run.env, "FUND_LEDGER_KEYS": "none"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: erase-person needs the ledger's key store"), done.stderr
    ledger = run.ledger()
    try:
        assert ledger.personal_account(REGION, "P1").birth_date == date.fromisoformat(P1_BIRTH)
    finally:
        ledger.close()


def _line_digest(item: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(people.line_of(item)).hexdigest()[:12]


def test_the_mapper_is_the_ledgers() -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        assert isinstance(ledger.mapper, PersonalDataMapper)
    finally:
        ledger.close()


def test_fields_recorded_in_clear_before_encryption_are_named_as_not_erasable(tmp_path: Path) -> None:
    """A ledger that kept personal data before this version: its events are append-only and
    chained, so erasure cannot change them; erase-person says which fields stay."""
    from bench.encryption import PlainLedger
    from consumers.erasure import erase
    from ledger.policy import load_policy_file as load

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "old.sqlite")}
    policy = load(people.retention_policy(tmp_path / "policy.toml", years=0))
    old = PlainLedger(env=env)
    try:
        old.open_region(policy)
        old.enrol(Enrol(REGION, "P1", "employee", date.fromisoformat(P1_BIRTH), P1_EMPLOYER, date(2024, 1, 1), 0))
        old.record_death(RecordDeath(REGION, "P1", date(2024, 2, 28), P1_HEIRS))
    finally:
        old.close()
    ledger = Ledger(env=env)
    try:
        erasure = erase(ledger, REGION, "P1")
    finally:
        ledger.close()
    assert erasure.as_dict()["not_erasable"]["fields"] == ["v1.birth_date", "v1.employer_id", "v1.pension_fen", "v2.heirs_reference"]
