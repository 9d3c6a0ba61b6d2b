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
