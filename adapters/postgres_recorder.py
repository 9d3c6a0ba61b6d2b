"""The PostgreSQL process recorder: writes a save without pipeline mode, and chains every event.

``eventsourcing`` writes each save in psycopg's pipeline mode: the table lock, the notify, the
INSERT of every event (one array parameter) and the tracking row are sent together and synced.
With a large save (measured here: 10,000 events of 500 bytes, 5 MB) the connection hangs, the
server waiting in ``ClientRead`` for the rest of a statement the client never finishes sending,
the failure reported upstream as psycopg/psycopg#685. The ledger's saves are large by design (a
batch of remittances, a year's interest), so this recorder sends the statements of a save in
one transaction one after the other.

Each save of up to ``SEND_CHUNK_BYTES`` is two round trips (three with a tracking row):

1. ``SET LOCAL lock_timeout``; the events table's ``EXCLUSIVE`` lock, taken through the owner's
   ``SECURITY DEFINER`` function (``adapters.postgres_schema``: the application role holds no
   UPDATE, DELETE or TRUNCATE privilege, which ``LOCK TABLE`` in that mode requires); the
   ``NOTIFY``; then, in a statement of its own so that it sees every save committed before the
   lock was granted, the chain head (the last event's position and hash) and the positions of the
   new events, drawn from the table's sequence. One simple-query message.
2. The INSERT of the events with their positions and chain hashes, computed here from the stored
   bytes already in hand (``adapters.chain``): one array per column, sent in binary (``%b``). In
   text, every byte of every event is written out in hex and read back by the server: a save of
   4,000 events spent six times longer sending its arrays than in binary.

The lock is held until the commit, so positions are assigned, chained and committed in one
order: what the projections rely on, and what makes the chain a chain.

A save's INSERT is sent in statements of at most ``SEND_CHUNK_BYTES`` of event state each (one
round trip each, in the save's one transaction). The client library keeps, with each connection,
a send buffer the size of the largest statement it sent, and never shrinks it; the pool hands its
connections out in turn, so with one statement a save (some 20 MB for a month of 20,000
remittance lines) each of them came to hold one (the consumer's RSS rose about 20 MiB a month at
20,000 accounts). The release before this one replaced the pool's connections after every large
save instead: four to eight new sessions a save, each a SCRAM handshake (6.5 ms of the client's
CPU here) and a server process started.

What this process has seen of the log (``written_by_others``): the position through which every
event was either saved by this recorder or reported as someone else's. A save whose head (read
under the lock) is that position moves it to the save's last event; ``written_by_others`` reads
the head, and names the aggregates of the events past the position, so that a process holding
aggregates in memory (the ledger's cache) evicts those and trusts the rest without asking the
store for the events after each of them (``ledger.unit_of_work``: a consumer's batch of 20,000
accounts was one index probe an account, at every batch, for events that a single writer never
finds).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresProcessRecorder
from psycopg.sql import SQL, Identifier, Literal

from adapters import chain
from adapters.postgres_schema import lock_function_name

# The event state one INSERT statement sends at most (see the module's docstring).
SEND_CHUNK_BYTES = 1 << 20
# Past this many events stored by others since this process last looked, ``written_by_others``
# names none and its caller forgets everything it holds (cheaper than reading their ids).
MAX_OTHERS_EVENTS = 100_000

# The chain head and the positions of ``count`` new events, read after the lock is granted.
HEAD_AND_POSITIONS = (
    "SELECT (SELECT notification_id FROM {schema}.{table} ORDER BY notification_id DESC LIMIT 1) AS head_position, "
    "(SELECT chain_hash FROM {schema}.{table} ORDER BY notification_id DESC LIMIT 1) AS head_hash, "
    "ARRAY(SELECT nextval(pg_get_serial_sequence({qualified}, 'notification_id')) FROM generate_series(1, {count})) AS positions")


class ChainedPostgresProcessRecorder(PostgresProcessRecorder):
    keeps_chain = True
    writes_from_any_thread = True  # its connections come from a pool (``consumers.save_behind``)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen_through: int | None = None  # see the module's docstring
        self._seen_lock = threading.Lock()
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        self._others_statement = SQL("SELECT DISTINCT originator_id FROM {schema}.{table} "
                                     "WHERE notification_id > %s AND notification_id <= %s").format(schema=schema, table=table)
        self.chain_insert_statement = SQL(
            "INSERT INTO {schema}.{table} (notification_id, originator_id, originator_version, topic, state, chain_hash) "
            "SELECT * FROM unnest(%b::bigint[], %b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[], %b::bytea[])"
        ).format(schema=schema, table=table, id_type=SQL(self.datastore.originator_id_type))
        self._head_names = {"schema": schema, "table": table,
                            "qualified": Literal(f'"{self.datastore.schema}"."{self.events_table_name}"')}
        self._lock_statement = SQL("SET LOCAL lock_timeout = '{timeout}s'; SELECT {schema}.{function}(); NOTIFY {channel}; ").format(
            timeout=SQL(str(int(self.datastore.lock_timeout))), schema=schema,
            function=Identifier(lock_function_name(self.events_table_name)), channel=Identifier(self.channel_name))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = [chain.as_uuid(e.originator_id) for e in stored_events]
        with self.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)  # the tracking row, if any
            if not stored_events:
                return []
            head_statement = SQL(HEAD_AND_POSITIONS).format(count=Literal(len(stored_events)), **self._head_names)
            cursor.execute(self._lock_statement + head_statement)
            while cursor.nextset():  # the head is the last statement's result
                pass
            found = cursor.fetchone()
            assert found is not None
            positions = sorted(found["positions"])
            if found["head_position"] is not None and positions[0] <= found["head_position"]:
                raise IntegrityError(f"position {positions[0]} is not after the head {found['head_position']}")
            head_before = found["head_position"] or 0
            if found["head_position"] is not None and found["head_hash"] is None:
                # Never from zeros again: the ledger's own next event would look like a second break.
                raise chain.UnhashedHead(found["head_position"])
            previous = bytes(found["head_hash"]) if found["head_hash"] is not None else chain.GENESIS
            hashes = chain.chain_hashes(previous, [(p, i, e.originator_version, e.topic, e.state)
                                                   for p, i, e in zip(positions, ids, stored_events, strict=True)])
            originator_ids: list[Any] = ids if self.datastore.originator_id_type == "uuid" else [str(i) for i in ids]
            for part in send_chunks(stored_events):
                cursor.execute(self.chain_insert_statement, (
                    positions[part], originator_ids[part], [e.originator_version for e in stored_events[part]],
                    [e.topic for e in stored_events[part]], [e.state for e in stored_events[part]], hashes[part]))
        with self._seen_lock:  # committed: nobody wrote between the head read under the lock and these
            if self.seen_through == head_before:
                self.seen_through = positions[-1]
        return positions

    def written_by_others(self) -> list[UUID] | None:
        """The aggregates of the events stored since this process last looked, other than by its
        own saves that followed straight on (see the module's docstring); from then on it has
        seen the log through its head now. ``None`` when that cannot be told: the first call, or
        more than ``MAX_OTHERS_EVENTS`` events since the last."""
        with self._seen_lock:
            head, seen = self.max_notification_id() or 0, self.seen_through
            if seen is None or head - seen > MAX_OTHERS_EVENTS:
                self.seen_through = head
                return None
            if head <= seen:
                return []
            with self.datastore.get_connection() as connection, connection.cursor() as cursor:
                cursor.execute(self._others_statement, (seen, head))
                others = [chain.as_uuid(row["originator_id"]) for row in cursor.fetchall()]
            self.seen_through = head  # only once they are named: a failed read leaves them to the next look
            return others

    def create_table(self) -> None:
        """The tables are created by the migration (``adapters.postgres_schema.migrate``), run as
        the database's owner: the application role may not create or alter them."""
        from adapters.postgres_schema import ensure_migrated

        ensure_migrated(self)


class BulkPostgresAggregateRecorder(PostgresAggregateRecorder):
    """The snapshots' recorder: a save's rows in one ``INSERT ... SELECT unnest``, one array a
    column, sent in binary. The library's sends an array of a composite type in text (each state
    written out in hex): 114 us of the client's CPU a personal account's snapshot of 1.6 KB, which
    a month that snapshots every account pays 20,000 times. Sent in statements of at most
    ``SEND_CHUNK_BYTES``, as the events are. A version already there keeps what it has: a
    row someone else put first at an account's next snapshot cannot fail the whole save's others."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bulk_insert_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "ON CONFLICT (originator_id, originator_version) DO NOTHING"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name),
                 id_type=SQL(self.datastore.originator_id_type))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return None
        ids = [chain.as_uuid(e.originator_id) for e in stored_events]
        originator_ids: list[Any] = ids if self.datastore.originator_id_type == "uuid" else [str(i) for i in ids]
        with self.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            for part in send_chunks(stored_events):
                cursor.execute(self.bulk_insert_statement, (
                    originator_ids[part], [e.originator_version for e in stored_events[part]],
                    [e.topic for e in stored_events[part]], [e.state for e in stored_events[part]]))
        return None


def send_chunks(stored_events: Sequence[StoredEvent], limit_bytes: int | None = None) -> list[slice]:
    """Consecutive slices of ``stored_events``, each of at most ``limit_bytes`` (default
    ``SEND_CHUNK_BYTES``) of state, or one event if that event alone is larger: the statements a
    save is sent in (see the module's docstring)."""
    limit = SEND_CHUNK_BYTES if limit_bytes is None else limit_bytes
    parts: list[slice] = []
    start, size = 0, 0
    for index, event in enumerate(stored_events):
        if index > start and size + len(event.state) > limit:
            parts.append(slice(start, index))
            start, size = index, 0
        size += len(event.state)
    if start < len(stored_events):
        parts.append(slice(start, len(stored_events)))
    return parts


def snapshot_recorder(factory: Any) -> BulkPostgresAggregateRecorder:
    """What ``PostgresFactory.aggregate_recorder("snapshots")`` builds, with this recorder class."""
    recorder = BulkPostgresAggregateRecorder(datastore=factory.datastore, events_table_name=(factory.env.name.lower() or "stored") + "_snapshots")
    if factory.env_create_table():
        recorder.create_table()
    return recorder


def process_recorder(factory: Any) -> ChainedPostgresProcessRecorder:
    """What ``PostgresFactory.process_recorder()`` builds, with this recorder class; the
    database is checked to be migrated (and migrated, when the connected role may)."""
    name = factory.env.name.lower()
    recorder = ChainedPostgresProcessRecorder(
        datastore=factory.datastore,
        events_table_name=(name or "stored") + "_events",
        tracking_table_name=(name or "notification") + "_tracking",
    )
    recorder.create_table()
    return recorder
