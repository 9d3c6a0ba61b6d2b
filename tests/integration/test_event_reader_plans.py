"""The batch reads of ``adapters/event_reader.py`` look each wanted aggregate up in the primary
key, however the planner judges the tables.

Found with the setup of a large load (5,000 new persons a unit of work): once the events table
passed about 60,000 rows, before the statistics caught up, PostgreSQL planned the read of the
last snapshots as a parallel scan of the whole events table and the read of the events after a
version as a merge join walking the whole primary key, both JIT-compiled. The server's time a
unit then grew with the table (about 0.3 s to 0.9 s of its CPU a unit of work from 60,000 to
100,000 accounts). These tests ask the server for its plan of both reads over a table of that size,
never analysed and then analysed, with a large load's number of ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.event_reader import events_after_statement, latest_snapshot_statement
from ledger.application import Ledger
from tests.conftest import connect

pytestmark = pytest.mark.postgres

STORED_EVENTS = 120_000  # rows in the events table: past the size where the plain joins went wrong
WANTED = 5_000  # ids in one read: a unit of work of the large load


@pytest.fixture
def filled(postgres_env: dict[str, str]) -> Iterator[tuple[Ledger, Any]]:
    """A ledger on a database whose events table holds ``STORED_EVENTS`` rows (one event each
    of as many aggregates, written by SQL: these tests are about the plans, not the events) and
    whose snapshots' table holds a snapshot of a tenth of them; never analysed."""
    ledger = Ledger(env=postgres_env)
    events, snapshots = ledger.recorder.events_table_name, ledger.snapshots.recorder.events_table_name
    with connect(postgres_env, "owner") as connection:
        connection.execute(f"INSERT INTO {events} (originator_id, originator_version, topic, state, chain_hash) "  # noqa: S608
                           "SELECT gen_random_uuid(), 1, 'test:Event', '\\x00', sha256('\\x00'::bytea) "  # a hash of 32 bytes, as the store requires
                           "FROM generate_series(1, %s)",
                           (STORED_EVENTS,))
        connection.execute(f"INSERT INTO {snapshots} (originator_id, originator_version, topic, state) "  # noqa: S608
                           f"SELECT originator_id, 1, 'test:Snapshot', '\\x00' FROM {events} WHERE mod(notification_id, 10) = 0")
        try:
            yield ledger, connection
        finally:
            ledger.close()


def _plan(connection: Any, statement: Any, params: tuple[Any, ...]) -> dict[str, Any]:
    explained = connection.execute(b"EXPLAIN (FORMAT JSON) " + statement.as_bytes(connection), params).fetchone()[0]
    return explained[0]["Plan"]  # type: ignore[no-any-return]


def _scans_of(node: dict[str, Any], tables: set[str]) -> Iterator[dict[str, Any]]:
    if node.get("Relation Name") in tables:
        yield node
    for child in node.get("Plans", ()):
        yield from _scans_of(child, tables)


def _whole_table_scans(connection: Any, statement: Any, params: tuple[Any, ...], tables: set[str]) -> list[str]:
    """Each scan of ``tables`` in the plan that is not a lookup by key: a scan with no index
    condition reads the whole table (or the whole index)."""
    return [f"{scan['Node Type']} on {scan['Relation Name']}"
            for scan in _scans_of(_plan(connection, statement, params), tables)
            if "Index Cond" not in scan and "Recheck Cond" not in scan]


def _wanted(connection: Any, table: str) -> list[uuid.UUID]:
    """Half stored ids, half new ones (persons enrolled in the unit of work)."""
    stored = [row[0] for row in connection.execute(f"SELECT originator_id FROM {table} ORDER BY random() LIMIT %s",  # noqa: S608
                                                   (WANTED // 2,))]
    return stored + [uuid.uuid4() for _ in range(WANTED - len(stored))]


@pytest.mark.parametrize("analysed", [False, True], ids=["never analysed", "analysed"])
def test_the_events_after_a_version_are_read_by_key_whatever_the_statistics(filled: tuple[Ledger, Any], analysed: bool) -> None:
    ledger, connection = filled
    events = ledger.recorder.events_table_name
    if analysed:
        connection.execute(f"ANALYZE {events}")
    wanted = _wanted(connection, events)
    statement = events_after_statement(ledger.recorder)
    assert _whole_table_scans(connection, statement, (wanted, [0] * len(wanted)), {events}) == []


@pytest.mark.parametrize("analysed", [False, True], ids=["never analysed", "analysed"])
def test_the_last_snapshots_are_read_by_key_whatever_the_statistics(filled: tuple[Ledger, Any], analysed: bool) -> None:
    ledger, connection = filled
    events, snapshots = ledger.recorder.events_table_name, ledger.snapshots.recorder.events_table_name
    if analysed:
        connection.execute(f"ANALYZE {events}")
        connection.execute(f"ANALYZE {snapshots}")
    statement = latest_snapshot_statement(ledger.snapshots.recorder, events)
    assert _whole_table_scans(connection, statement, (_wanted(connection, snapshots),), {events, snapshots}) == []


def test_the_readers_still_find_what_is_stored_and_nothing_else(filled: tuple[Ledger, Any]) -> None:
    """What the reads return on that table: each stored id's events in order of version and its
    snapshot, nothing for a new id."""
    ledger, connection = filled
    events, snapshots = ledger.recorder.events_table_name, ledger.snapshots.recorder.events_table_name
    with_snapshot = _wanted(connection, snapshots)
    stored, new = with_snapshot[:WANTED // 2], with_snapshot[WANTED // 2:]
    longer = stored[:20]  # versions 3 and then 2 stored after their first: stored out of order
    for version in (3, 2):
        connection.execute(f"INSERT INTO {events} (originator_id, originator_version, topic, state, chain_hash) "  # noqa: S608
                           "SELECT id, %s, 'test:Event', '\\x00', sha256('\\x00'::bytea) FROM unnest(%s::uuid[]) AS id", (version, longer))
    found = ledger.events_after({aggregate_id: 0 for aggregate_id in with_snapshot})
    assert set(found) == set(stored)
    assert all([event.originator_version for event in found[i]] == ([1, 2, 3] if i in longer else [1]) for i in stored)
    assert {i: [event.originator_version for event in events] for i, events in ledger.events_after(
        {aggregate_id: 1 for aggregate_id in stored}).items()} == {i: [2, 3] for i in longer}
    latest = ledger.latest_snapshots(with_snapshot)  # type: ignore[misc]
    assert set(latest) == set(stored)
    assert all(latest[i].originator_version == 1 and latest[i].topic == "test:Snapshot" for i in stored)
    assert not set(latest) & set(new)
