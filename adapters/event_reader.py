"""Reading the stored events of many aggregates in one round trip.

``eventsourcing``'s recorders read one aggregate per query. A remittance of 200 lines touches
200 personal accounts; read one by one, that is 200 round trips to PostgreSQL, which bounded the
ledger at about 1,200 lines a second (``docs/benchmarks.md``). ``events_after`` reads the events
of every aggregate in a batch, after the version each is known at, in one query;
``latest_snapshots`` reads the last snapshot of each, from the snapshots' table, in one more.

The queries read the library's own tables (events or snapshots: originator_id,
originator_version, topic, state), the same columns its ``select_events`` reads.

On PostgreSQL each wanted id is looked up in the table's primary key, whatever the planner
believes of the table: the lookup is a ``LATERAL`` subquery with an ``ORDER BY``, which the
planner cannot fold into a join. Written as a plain join, a few thousand ids on a table the
statistics misjudged (one never analysed, early in a large load) were planned as a merge join
walking the whole primary key or a parallel scan of the whole table, JIT-compiled: the server's
time a query grew with the table (docs/benchmarks.md, "The curve").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, StoredEvent

EventsAfter = Callable[[Mapping[UUID, int]], dict[UUID, list[StoredEvent]]]
LatestSnapshots = Callable[[Sequence[UUID]], dict[UUID, StoredEvent]]

SQLITE_CHUNK = 500  # ids per statement, well under SQLite's limit on bound parameters


def reader_for(recorder: AggregateRecorder) -> EventsAfter:
    """The fastest way this recorder offers to read many aggregates' events."""
    from eventsourcing.postgres import PostgresAggregateRecorder
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if isinstance(recorder, PostgresAggregateRecorder):
        return _postgres_reader(recorder)
    if isinstance(recorder, SQLiteAggregateRecorder):
        return _sqlite_reader(recorder)
    return _one_by_one_reader(recorder)


def latest_reader_for(recorder: AggregateRecorder, events_table: str) -> LatestSnapshots:
    """The fastest way this (snapshots') recorder offers to read many aggregates' last snapshot
    at a version their events reach (in ``events_table``): a row at a version an aggregate never
    had (someone else's) cannot hide its real snapshots."""
    from eventsourcing.postgres import PostgresAggregateRecorder
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if isinstance(recorder, PostgresAggregateRecorder):
        return _postgres_latest(recorder, events_table)
    if isinstance(recorder, SQLiteAggregateRecorder):
        return _sqlite_latest(recorder, events_table)
    return _one_by_one_latest(recorder)


def _one_by_one_latest(recorder: AggregateRecorder) -> LatestSnapshots:
    def latest(ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        found = {}
        for aggregate_id in ids:
            last = recorder.select_events(aggregate_id, desc=True, limit=1)
            if last:
                found[aggregate_id] = last[0]
        return found

    return latest


def _one_by_one_reader(recorder: AggregateRecorder) -> EventsAfter:
    def events_after(versions: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        found = {}
        for aggregate_id, version in versions.items():
            events = list(recorder.select_events(aggregate_id, gt=version or None))
            if events:
                found[aggregate_id] = events
        return found

    return events_after


def events_after_statement(recorder: Any) -> Any:
    """The events of many aggregates after a version each: the ids and versions as two arrays.
    Not sorted as a whole (a few thousand states sorted by the server spill to disk): each
    aggregate's events are put in order by ``_postgres_reader``."""
    from psycopg.sql import SQL, Identifier

    datastore = recorder.datastore
    return SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state "
        "FROM unnest(%s::{id_type}[], %s::bigint[]) AS wanted(id, after) "
        "CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE originator_id = wanted.id AND originator_version > wanted.after ORDER BY originator_version) AS e"
    ).format(
        schema=Identifier(datastore.schema),
        table=Identifier(recorder.events_table_name),
        id_type=SQL(datastore.originator_id_type),
    )


def _postgres_reader(recorder: Any) -> EventsAfter:
    datastore = recorder.datastore
    statement = events_after_statement(recorder)

    def events_after(versions: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        if not versions:
            return {}
        ids = list(versions)
        found: dict[UUID, list[StoredEvent]] = defaultdict(list)
        for originator_id, stored in _postgres_rows(datastore, statement, _as_ids(datastore, ids), [versions[i] for i in ids]):
            found[originator_id].append(stored)
        for events in found.values():
            events.sort(key=_version)  # in order already, as a rule: a list in order costs one pass
        return dict(found)

    return events_after


def _version(stored: StoredEvent) -> int:
    return stored.originator_version


def latest_snapshot_statement(recorder: Any, events_table: str) -> Any:
    """The last snapshot of each of many aggregates (the ids as an array) at a version their
    events reach."""
    from psycopg.sql import SQL, Identifier

    datastore = recorder.datastore
    return SQL(
        "SELECT s.originator_id, s.originator_version, s.topic, s.state "
        "FROM unnest(%s::{id_type}[]) AS wanted(id) "
        "CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state FROM {schema}.{table} AS snapshot "
        "WHERE snapshot.originator_id = wanted.id AND EXISTS (SELECT 1 FROM {schema}.{events} AS e "
        "WHERE e.originator_id = snapshot.originator_id AND e.originator_version = snapshot.originator_version) "
        "ORDER BY snapshot.originator_version DESC LIMIT 1) AS s"
    ).format(
        schema=Identifier(datastore.schema),
        table=Identifier(recorder.events_table_name),
        events=Identifier(events_table),
        id_type=SQL(datastore.originator_id_type),
    )


def _postgres_latest(recorder: Any, events_table: str) -> LatestSnapshots:
    datastore = recorder.datastore
    statement = latest_snapshot_statement(recorder, events_table)

    def latest(ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        if not ids:
            return {}
        return dict(_postgres_rows(datastore, statement, _as_ids(datastore, ids)))

    return latest


def _as_ids(datastore: Any, ids: Sequence[UUID]) -> list[Any]:
    return list(ids) if datastore.originator_id_type == "uuid" else [str(i) for i in ids]


def _postgres_rows(datastore: Any, statement: Any, *params: Any) -> list[tuple[UUID, StoredEvent]]:
    """The stored events (or snapshots) a statement selects (originator_id, originator_version,
    topic, state), each with its aggregate's id."""
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        originator_id = row["originator_id"] if isinstance(row["originator_id"], UUID) else UUID(row["originator_id"])
        found.append((originator_id, StoredEvent(originator_id, row["originator_version"], row["topic"], bytes(row["state"]))))
    return found


def _sqlite_latest(recorder: Any, events_table: str) -> LatestSnapshots:
    table = recorder.events_table_name

    def latest(ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        found: dict[UUID, StoredEvent] = {}
        for start in range(0, len(ids), SQLITE_CHUNK):
            chunk = ids[start:start + SQLITE_CHUNK]
            marks = ",".join("?" * len(chunk))
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT originator_id, originator_version, topic, state FROM {table} AS s "  # noqa: S608 (fixed table name)
                    f"WHERE originator_id IN ({marks}) AND originator_version = "
                    f"(SELECT MAX(t.originator_version) FROM {table} AS t WHERE t.originator_id = s.originator_id AND EXISTS "
                    f"(SELECT 1 FROM {events_table} AS e WHERE e.originator_id = t.originator_id "
                    f"AND e.originator_version = t.originator_version))",
                    [i.hex for i in chunk],
                )
                rows = cursor.fetchall()
            for row in rows:
                originator_id = UUID(row["originator_id"])
                found[originator_id] = StoredEvent(originator_id, row["originator_version"], row["topic"], row["state"])
        return found

    return latest


def _sqlite_reader(recorder: Any) -> EventsAfter:
    table = recorder.events_table_name

    def events_after(versions: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        found: dict[UUID, list[StoredEvent]] = defaultdict(list)
        ids = list(versions)
        for start in range(0, len(ids), SQLITE_CHUNK):
            chunk = ids[start:start + SQLITE_CHUNK]
            marks = ",".join("?" * len(chunk))
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT originator_id, originator_version, topic, state FROM {table} "  # noqa: S608 (fixed table name)
                    f"WHERE originator_id IN ({marks}) ORDER BY originator_id, originator_version",
                    [i.hex for i in chunk],
                )
                rows = cursor.fetchall()
            for row in rows:
                originator_id = UUID(row["originator_id"])
                if row["originator_version"] > versions[originator_id]:
                    found[originator_id].append(StoredEvent(originator_id, row["originator_version"], row["topic"], row["state"]))
        return dict(found)

    return events_after
