"""An event's originator id must be stored as the ledger writes it: the library finds an
aggregate's events by that exact text, while the chain hashes the UUID's bytes, so the same UUID
spelt otherwise (upper-case hex, dashes) hid the event from its aggregate and ``verify`` passed
with the same head."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import UUID

import pytest

from adapters import chain
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from tests.audit.sqlite_file import raw, scenario_file, verified
from tests.audit.tamper import C1_POSITION
from tests.integration.test_stores import REGION

P1 = PersonalAccount.id_for(REGION, "P1")


@pytest.mark.parametrize("spelling", [str.upper, lambda text: str(UUID(text))], ids=["upper-case", "dashes"])
def test_an_id_spelt_otherwise_is_a_break_at_its_event(tmp_path: Path, spelling: object) -> None:
    env = scenario_file(tmp_path)
    with raw(env, "stored_events_no_update") as connection:
        stored = connection.execute("SELECT originator_id FROM stored_events WHERE rowid = ?", (C1_POSITION,)).fetchone()[0]
        assert stored == P1.hex  # C1's ClaimPaid, on P1's account
        respelt = spelling(stored)  # type: ignore[operator]
        connection.execute("UPDATE stored_events SET originator_id = ? WHERE rowid = ?", (respelt, C1_POSITION))
    ledger = Ledger(env=env)
    try:
        whole = chain.check_whole_chain(ledger.recorder)  # what replay and attest check
        assert whole is not None and whole.first_break is not None and whole.first_break.position == C1_POSITION
    finally:
        ledger.close()
    result = verified(env)
    assert not result.passed and "hash chain broken" in result.counts
    assert result.first_break is not None and result.first_break.position == C1_POSITION
    assert f"originator id stored as {respelt!r}, not as the ledger writes it ({P1.hex!r})" in result.first_break.reason


def test_the_sqlite_store_refuses_an_id_spelt_otherwise(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with raw(env) as connection:
        head, previous = connection.execute("SELECT rowid, chain_hash FROM stored_events ORDER BY rowid DESC LIMIT 1").fetchone()
        for respelt in (P1.hex.upper(), str(P1), P1.bytes):
            with pytest.raises(sqlite3.IntegrityError, match="32 lower-case hex digits"):
                connection.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state, chain_hash) "
                                   "VALUES (?, ?, 99, 'topic', X'7B7D', ?)", (head + 1, respelt, previous))


def test_the_stored_id_is_read_with_its_problem() -> None:
    assert chain.stored_uuid(P1.hex) == (P1, None)
    assert chain.stored_uuid(P1) == (P1, None)  # a PostgreSQL uuid column: no spelling to get wrong
    assert chain.stored_uuid(str(P1), str) == (P1, None)  # a PostgreSQL text column
    for wrong, spelling in ((P1.hex.upper(), chain.sqlite_spelling), (str(P1), chain.sqlite_spelling), (P1.hex, str)):
        found, problem = chain.stored_uuid(wrong, spelling)
        assert found == P1 and problem is not None and "not as the ledger writes it" in problem
    assert chain.stored_uuid("not a uuid")[0] == UUID(int=0)
