"""The SQLite process recorder of the embedded store, with the hash chain (``adapters.chain``).

A save is one SQLite transaction: the head (last row and its hash) is read, the events are
inserted with explicit positions (``rowid``) and their chain hashes, then the tracking row. A
second writer process that saved in between makes this transaction's first write fail (SQLite
allows one writer; a stale read cannot be written on), so the chain never forks. Triggers refuse
UPDATE and DELETE of stored events, as on PostgreSQL, and a row at a position before the first,
with its originator id spelt otherwise than the recorder writes it, without a chain hash of 32
bytes, or with a column of another type than the recorder writes; a save on a file whose last row
has no hash is refused (``chain.UnhashedHead``). A file can always be edited with other tools,
which is what ``fund-ledger verify`` and the anchors are for.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder

from adapters import chain


@contextmanager
def one_process_making_tables(datastore: SQLiteDatastore) -> Iterator[None]:
    """Processes that open one file at once make its tables one at a time: an exclusive ``flock``
    of a lock file beside it (``<file>.lock``, owner-only). Not of the database file itself: a
    process that closes any descriptor of that file drops every ``fcntl`` lock SQLite holds on it
    (its connections' too), and the file is corrupted. Without it, two consumers started
    together on a fresh file both found no tracking table, and the second failed to record the
    library's ``__migration__`` row (or found the database locked) and stopped."""
    pool = datastore.pool
    if pool.is_sqlite_memory_mode or pool.db_name.startswith("file:"):
        yield  # in memory: one process; a URI: no plain path to lock beside
        return
    descriptor = os.open(pool.db_name + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


class ChainedSQLiteProcessRecorder(SQLiteProcessRecorder):
    keeps_chain = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.events_table_name
        self.insert_events_statement = (
            f"INSERT INTO {table} (rowid, originator_id, originator_version, topic, state, chain_hash) VALUES (?,?,?,?,?,?)")
        self.head_statement = f"SELECT rowid AS position, chain_hash FROM {table} ORDER BY rowid DESC LIMIT 1"  # noqa: S608

    def create_table(self) -> None:
        """The library's tables, then the chain column, the chain of a file written before it
        existed, and the append-only triggers; one process at a time."""
        with one_process_making_tables(self.datastore):
            self._create_tables()

    def _create_tables(self) -> None:
        super().create_table()
        table = self.events_table_name
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"PRAGMA table_info({table})")
            if chain.CHAIN_COLUMN not in {row["name"] for row in c.fetchall()}:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {chain.CHAIN_COLUMN} BLOB")
            c.execute("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name = ?", (f"{table}_no_update",))
            if not c.fetchone()["n"]:
                self._backfill(c)
            for operation in ("UPDATE", "DELETE"):
                c.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                          f"BEGIN SELECT RAISE(ABORT, 'stored events are append-only: {operation} refused'); END")
            self._create_insert_checks(c)

    def _create_insert_checks(self, c: SQLiteCursor) -> None:
        """Refuse a row the recorder never writes, inserted by other means: at a position before
        the first (``rowid`` 0 or below, which the chain check used to skip while the library
        folded it into its aggregate), or with its originator id spelt otherwise than 32
        lower-case hex digits (``chain.sqlite_spelling``: the library finds an aggregate's events
        by that text, so an id spelt otherwise hides the event). After the insert: a ``BEFORE
        INSERT`` trigger does not know the ``rowid`` yet."""
        table = self.events_table_name
        c.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_positions AFTER INSERT ON {table} "
                  f"WHEN NEW.rowid < {chain.FIRST_POSITION} BEGIN "
                  f"SELECT RAISE(ABORT, 'stored events are numbered from {chain.FIRST_POSITION}: position refused'); END")
        c.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_originator_ids AFTER INSERT ON {table} "
                  "WHEN typeof(NEW.originator_id) != 'text' OR length(NEW.originator_id) != 32 "
                  "OR NEW.originator_id GLOB '*[^0-9a-f]*' BEGIN "
                  "SELECT RAISE(ABORT, 'stored events have their originator id as 32 lower-case hex digits: id refused'); END")
        # A row without its chain hash (which left the next save nothing to chain on), or with a
        # column of a type the recorder never writes (a text version: ``verify`` reports it as a break).
        c.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_chain_hashes AFTER INSERT ON {table} "
                  f"WHEN typeof(NEW.{chain.CHAIN_COLUMN}) != 'blob' OR length(NEW.{chain.CHAIN_COLUMN}) != {chain.HASH_BYTES} BEGIN "
                  f"SELECT RAISE(ABORT, 'stored events carry a chain hash of {chain.HASH_BYTES} bytes: row refused'); END")
        c.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_column_types AFTER INSERT ON {table} "
                  "WHEN typeof(NEW.originator_version) != 'integer' OR typeof(NEW.topic) != 'text' OR typeof(NEW.state) != 'blob' BEGIN "
                  "SELECT RAISE(ABORT, 'stored events have an integer version, a text topic and a blob state: row refused'); END")

    def _backfill(self, c: SQLiteCursor) -> None:
        """Chain the events of a file written before the chain existed, in log order: only a file
        never chained (no row has a hash), and only before the triggers exist. A file where some
        rows have a hash and others none was edited around the recorder (a hash removed, a row
        added): nothing is chained again, so ``verify`` reports those rows and the evidence stays
        (re-chaining every row made an edited history pass ``verify``)."""
        table = self.events_table_name
        c.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {chain.CHAIN_COLUMN} IS NOT NULL) AS chained, "  # noqa: S608
                  f"EXISTS (SELECT 1 FROM {table}) AS stored")
        found = c.fetchone()
        if found["chained"] or not found["stored"]:
            return
        c.execute(f"SELECT rowid AS position, originator_id, originator_version, topic, state FROM {table} ORDER BY rowid")  # noqa: S608
        rows = [(r["position"], chain.as_uuid(r["originator_id"]), r["originator_version"], r["topic"], chain.as_bytes(r["state"]))
                for r in c.fetchall()]
        hashes = chain.chain_hashes(chain.GENESIS, rows)
        c.executemany(f"UPDATE {table} SET chain_hash = ? WHERE rowid = ?",  # noqa: S608
                      [(h, row[0]) for h, row in zip(hashes, rows, strict=True)])

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        positions: list[int] = []
        if stored_events:
            c.execute(self.head_statement)
            last = c.fetchone()
            if last is not None and last["chain_hash"] is None:
                raise chain.UnhashedHead(last["position"])  # (PostgreSQL's recorder refuses it alike)
            head_position, previous = (last["position"], chain.as_bytes(last["chain_hash"])) if last else (0, chain.GENESIS)
            positions = list(range(head_position + 1, head_position + 1 + len(stored_events)))
            ids = [chain.as_uuid(e.originator_id) for e in stored_events]
            hashes = chain.chain_hashes(previous, [(p, i, e.originator_version, e.topic, e.state)
                                                   for p, i, e in zip(positions, ids, stored_events, strict=True)])
            c.executemany(self.insert_events_statement, [
                (p, i.hex, e.originator_version, e.topic, e.state, h)
                for p, i, e, h in zip(positions, ids, stored_events, hashes, strict=True)])
        tracking = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return positions


def process_recorder(factory: Any) -> ChainedSQLiteProcessRecorder:
    """What ``SQLiteFactory.process_recorder()`` builds, with this recorder class."""
    recorder = ChainedSQLiteProcessRecorder(datastore=factory.datastore)
    if factory.env_create_table():
        recorder.create_table()
    return recorder
