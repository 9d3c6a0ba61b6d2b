"""``verify`` reads every row the ledger reads: a row at position 0 or below (which the library
folds into its aggregate, whatever its position) is a break, each aggregate's versions must be
1..n once in log order, and the SQLite store refuses a row before position 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import UUID

import pytest

from adapters import chain
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from tests.audit.sqlite_file import raw, scenario_file, verified
from tests.integration.test_stores import REGION

P1 = PersonalAccount.id_for(REGION, "P1")


def _last_event_of(connection: sqlite3.Connection, account: UUID) -> tuple[int, str, bytes]:
    version, topic, state = connection.execute(
        "SELECT originator_version, topic, state FROM stored_events WHERE originator_id = ? "
        "ORDER BY originator_version DESC LIMIT 1", (account.hex,)).fetchone()
    return version, topic, bytes(state)


def _insert(connection: sqlite3.Connection, position: int, previous: bytes, version: int, topic: str, state: bytes) -> None:
    """A row with a hash that links correctly to ``previous``: the attacker knows the algorithm."""
    forged = chain.link(previous, position, P1, version, topic, state)
    connection.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state, chain_hash) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (position, P1.hex, version, topic, state, forged))


def test_an_event_at_position_zero_is_a_break_and_a_version_out_of_order(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with raw(env, "stored_events_positions") as connection:
        version, topic, state = _last_event_of(connection, P1)  # P1's last credit, again, as its next version
        _insert(connection, 0, chain.GENESIS, version + 1, topic, state)
    ledger = Ledger(env=env)
    try:
        assert ledger.personal_account(REGION, "P1").version == version + 1  # the library folds it in
        whole = chain.check_whole_chain(ledger.recorder)  # what replay and attest check
        assert whole is not None and whole.first_break is not None and whole.first_break.position == 0
    finally:
        ledger.close()
    result = verified(env)
    assert not result.passed
    assert result.first_break is not None and result.first_break.position == 0
    assert "never writes" in result.first_break.reason
    assert any(f"position 0: {P1} v{version + 1} where v1 was due" in text
               for text in result.violations["aggregate versions not 1..n in log order"])


def test_negative_positions_are_read_too(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with raw(env, "stored_events_positions") as connection:
        version, topic, state = _last_event_of(connection, P1)
        _insert(connection, -7, chain.GENESIS, version + 1, topic, state)
    result = verified(env)
    assert result.first_break is not None and result.first_break.position == -7
    assert "aggregate versions not 1..n in log order" in result.counts


def test_a_version_skipped_is_reported_though_the_chain_links(tmp_path: Path) -> None:
    """A row appended after the head with a correct link, as version n+2 of an account: the chain
    is intact, the books balance, but the aggregate's versions are not 1..n."""
    env = scenario_file(tmp_path)
    with raw(env) as connection:
        version, topic, state = _last_event_of(connection, P1)
        head, previous = connection.execute("SELECT rowid, chain_hash FROM stored_events ORDER BY rowid DESC LIMIT 1").fetchone()
        _insert(connection, head + 1, bytes(previous), version + 2, topic, state)
    result = verified(env)
    assert result.first_break is None
    assert result.violations["aggregate versions not 1..n in log order"] == [
        f"position {head + 1}: {P1} v{version + 2} where v{version + 1} was due: a version missing, repeated or out of order "
        "(inserted or moved around the recorder)"]


@pytest.mark.parametrize("position", [0, -1])
def test_the_sqlite_store_refuses_a_row_before_position_one(tmp_path: Path, position: int) -> None:
    env = scenario_file(tmp_path)
    with raw(env) as connection:
        version, topic, state = _last_event_of(connection, P1)
        with pytest.raises(sqlite3.IntegrityError, match="numbered from 1"):
            _insert(connection, position, chain.GENESIS, version + 1, topic, state)
        assert connection.execute("SELECT COUNT(*) FROM stored_events WHERE rowid < 1").fetchone()[0] == 0
