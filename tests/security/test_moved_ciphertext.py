"""A sealed personal field copied from one person's event into another's is refused, not opened
under the first person's key: the seal binds the key id and the field's name, and the key id is
read from the value itself, so the event's own person must be checked. The stored format is as
before: values sealed under their own person's key open as they always did."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.commands import Enrol
from ledger.policy import load_policy_file
from ledger.settings import SettingsError

REGION = "210100"


def _two_people(path: Path) -> dict[str, str]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path / "ledger.sqlite")}
    ledger = Ledger(env=env)
    try:
        ledger.open_region(load_policy_file())
        ledger.enrol(Enrol(REGION, "P1", "employee", date(1971, 5, 20), "E92", date(2024, 1, 1), 0))
        ledger.enrol(Enrol(REGION, "P2", "employee", date(2000, 7, 13), "E26", date(2024, 1, 1), 0))
    finally:
        ledger.close()
    return env


def _enrolment(connection: sqlite3.Connection, person_id: str) -> dict[str, object]:
    (state,) = connection.execute("SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 1",
                                  (PersonalAccount.id_for(REGION, person_id).hex,)).fetchone()
    return json.loads(state)  # type: ignore[no-any-return]


@pytest.mark.parametrize("field", ["birth_date", "employer_id"])
def test_a_sealed_field_moved_to_another_persons_event_is_refused_naming_it(tmp_path: Path, field: str) -> None:
    env = _two_people(tmp_path)
    with sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None) as connection:
        connection.execute("DROP TRIGGER stored_events_no_update")  # what anyone holding the file can do
        p1, p2 = _enrolment(connection, "P1"), _enrolment(connection, "P2")
        p2[field] = p1[field]
        connection.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 1",
                           (json.dumps(p2, separators=(",", ":")).encode(), PersonalAccount.id_for(REGION, "P2").hex))
        connection.execute("DELETE FROM stored_snapshots")  # always safe: accounts are folded from their events
    ledger = Ledger(env=env)
    try:
        assert ledger.personal_account(REGION, "P1").birth_date == date(1971, 5, 20)  # its own values open as before
        with pytest.raises(SettingsError, match=f"the sealed value at {field} is under the key person/"
                                                f"{PersonalAccount.id_for(REGION, 'P1')}, not its event's own person/"
                                                f"{PersonalAccount.id_for(REGION, 'P2')}: it was moved from another person's event"):
            ledger.personal_account(REGION, "P2")
    finally:
        ledger.close()


def test_values_sealed_under_their_own_persons_key_open_as_before(tmp_path: Path) -> None:
    env = _two_people(tmp_path)
    ledger = Ledger(env=env)
    try:
        accounts = [ledger.personal_account(REGION, person) for person in ("P1", "P2")]
        assert [(a.birth_date, a.employer_id) for a in accounts] == [(date(1971, 5, 20), "E92"), (date(2000, 7, 13), "E26")]
        decoded = [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(start=1, limit=1000)]
        assert decoded  # every event, records included, opens with its own keys
    finally:
        ledger.close()


# ---------------------------------------------------------------------------- events that name no person
# The ledger never seals a value in an event that names no person (``seal_event`` raises), nor a
# record's fingerprint or outcome when the outcome names no one: a sealed value found there was
# copied from a person's event, and was opened under that person's key (the owner check was
# skipped when the event's own key was None).
RECORD_TOPIC = "ledger.aggregates:BusinessRecord.Recorded"
POLICY_BOOK_OPENED = "ledger.aggregates:PolicyBook.Opened"


def _decode(ledger: Ledger, originator_id: object, topic: str, state: dict[str, object]) -> object:
    from eventsourcing.persistence import StoredEvent

    return ledger.mapper.to_domain_event(StoredEvent(originator_id=originator_id, originator_version=1, topic=topic,  # type: ignore[arg-type]
                                                     state=json.dumps(state, separators=(",", ":")).encode()))


def _p1_values(env: dict[str, str], ledger: Ledger) -> tuple[dict[str, object], dict[str, object]]:
    """P1's sealed birth date (from its enrolment) and a fingerprint sealed under P1's key (as a
    record about P1 keeps one)."""
    from adapters.crypto import person_key_id

    with sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None) as connection:
        birth_date = _enrolment(connection, "P1")["birth_date"]
    fingerprint = ledger.mapper.policy.sealer.seal(person_key_id(REGION, "P1"), "fingerprint", "0" * 64)  # type: ignore[attr-defined]
    return birth_date, fingerprint  # type: ignore[return-value]


def _policy_book_id(env: dict[str, str]) -> str:
    with sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None) as connection:
        (originator_id,) = connection.execute("SELECT originator_id FROM stored_events WHERE topic = ?", (POLICY_BOOK_OPENED,)).fetchone()
    return str(originator_id)


def test_a_sealed_field_moved_into_an_event_that_names_no_person_is_refused(tmp_path: Path) -> None:
    env = _two_people(tmp_path)
    ledger = Ledger(env=env)
    try:
        birth_date, _ = _p1_values(env, ledger)
        state = {"originator_topic": "ledger.aggregates:PolicyBook", "region": REGION, "region_name": "x", "birth_date": birth_date}
        with pytest.raises(SettingsError, match="the sealed value at birth_date .* is in an event that names no person"):
            _decode(ledger, _policy_book_id(env), POLICY_BOOK_OPENED, state)
    finally:
        ledger.close()


def test_a_fingerprint_sealed_under_a_person_in_a_record_that_names_no_person_is_refused(tmp_path: Path) -> None:
    env = _two_people(tmp_path)
    ledger = Ledger(env=env)
    try:
        birth_date, fingerprint = _p1_values(env, ledger)
        record = {"originator_topic": "ledger.aggregates:BusinessRecord", "region": REGION, "kind": "remittance",
                  "business_key": "R1", "on": {"_type_": "date_iso", "_data_": "2024-01-15"}, "postings": [],
                  "outcome": {"remittance_id": "R1"}}
        with pytest.raises(SettingsError, match="the sealed value at fingerprint .* names no person"):
            _decode(ledger, "00000000-0000-0000-0000-000000000001", RECORD_TOPIC, {**record, "fingerprint": fingerprint})
        with pytest.raises(SettingsError, match="the sealed value at outcome.birth_date .* names no person"):
            _decode(ledger, "00000000-0000-0000-0000-000000000001", RECORD_TOPIC,
                    {**record, "fingerprint": "0" * 64, "outcome": {"remittance_id": "R1", "birth_date": birth_date}})
    finally:
        ledger.close()


def test_a_state_inside_a_state_opens_nothing_of_another_person(tmp_path: Path) -> None:
    """An event holding a ``state`` and a ``topic`` (a snapshot's shape) had that inner state
    opened without any owner check: P1's birth date inside a policy book's event, or inside P2's."""
    env = _two_people(tmp_path)
    ledger = Ledger(env=env)
    try:
        birth_date, _ = _p1_values(env, ledger)
        inner = {"topic": "ledger.aggregates:PolicyBook", "state": {"region": REGION, "birth_date": birth_date}}
        with pytest.raises(SettingsError, match="the sealed value at birth_date .* names no person"):
            _decode(ledger, _policy_book_id(env), POLICY_BOOK_OPENED, {"region": REGION, **inner})
        into_p2 = {"topic": "ledger.aggregates:PersonalAccount", "state": {"region": REGION, "person_id": "P2", "birth_date": birth_date}}
        with pytest.raises(SettingsError, match="it was moved from another person's event"):
            _decode(ledger, str(PersonalAccount.id_for(REGION, "P2")), "ledger.aggregates:PersonalAccount.Enrolled", into_p2)
    finally:
        ledger.close()
