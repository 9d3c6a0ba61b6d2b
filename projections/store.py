"""Where the projection tables live, and the one transaction that writes rows and position.

- PostgreSQL (``PERSISTENCE_MODULE=eventsourcing.postgres``): the ledger's own database and
  connection pool; tables ``proj_*``; positions in ``proj_tracking`` (a
  ``PostgresTrackingRecorder``).
- SQLite (the embedded default): a file beside the ledger's, ``<ledger file stem>.projections.sqlite``
  (or ``FUND_LEDGER_PROJECTIONS_SQLITE``), so the projector never holds the ledger's write lock;
  positions in that file's ``tracking`` table (a ``SQLiteTrackingRecorder``).
- In memory: a private shared-cache SQLite database (as-of queries, the popo store in tests).

The position of a projection is a row ``(application_name, notification_id)`` in the tracking
table, written by the library's ``_insert_tracking`` in the same transaction as the rows, and
only if the stored position is still the one the batch was read after (``advance_position``, a
compare-and-set under a lock): a batch read by two projectors is committed by one of them only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from ledger.errors import LedgerError
from projections import schema

logger = structlog.get_logger()

POSTGRES_TRACKING_TABLE = "proj_tracking"
BULK_ROWS_MIN = 20  # below it, an INSERT per row costs less than a staging table's round trips


class ProjectionsNotReady(LedgerError):
    """A reader found the projection tables missing, or views of another version: only the
    projector (the application's role, which owns them) makes them."""

    code = "projections_not_ready"


class PositionMoved(LedgerError):
    """Another projector committed to these tables since this batch was read: the batch is
    discarded (its transaction rolled back) and the log read again from the stored position."""

    code = "projections_position_moved"


def tracking_name(prefix: str) -> str:
    """The ``application_name`` under which a set of tables keeps its position."""
    return "projections" if prefix == schema.LIVE_PREFIX else f"projections:{prefix}"


def plain(value: Any) -> Any:
    """One representation for both databases: integral numbers as ``int``, dates as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, date):
        return value.isoformat()
    return value


class ProjectionStore:
    """A database holding one or more prefixed sets of projection tables."""

    def __init__(self, datastore: PostgresDatastore | SQLiteDatastore, dialect: str, description: str,
                 create_table: bool = True) -> None:
        self.datastore = datastore
        self.dialect = dialect
        self.description = description
        self._current: set[str] = set()  # prefixes whose tables and views this store found (or made) current
        self.tracking: TrackingRecorder
        if dialect == "postgres":
            assert isinstance(datastore, PostgresDatastore)
            self.tracking = PostgresTrackingRecorder(datastore, tracking_table_name=POSTGRES_TRACKING_TABLE)
            self.tracking_table = POSTGRES_TRACKING_TABLE
        else:
            assert isinstance(datastore, SQLiteDatastore)
            self.tracking = SQLiteTrackingRecorder(datastore)
            self.tracking_table = "tracking"
        if create_table:  # a read-only role (``CREATE_TABLE=n``) reads the tables the application made
            with self._one_process_making_tables():
                self.tracking.create_table()

    def _one_process_making_tables(self) -> AbstractContextManager[None]:
        """On SQLite, processes opening one file at once make its tables in turn
        (``adapters.sqlite_recorder``); on PostgreSQL, the library's own creation."""
        if isinstance(self.datastore, SQLiteDatastore):
            from adapters.sqlite_recorder import one_process_making_tables

            return one_process_making_tables(self.datastore)
        return nullcontext()

    # ------------------------------------------------------------------ SQL
    def sql(self, statement: str) -> str:
        """Our statements use ``?`` placeholders; psycopg wants ``%s``."""
        return statement.replace("?", "%s") if self.dialect == "postgres" else statement

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One committed transaction (rolled back if the block raises)."""
        if self.dialect == "postgres":
            with self.datastore.transaction(commit=True) as cursor:  # type: ignore[call-arg]
                yield cursor
        else:
            with self.datastore.transaction(commit=True) as cursor:
                yield cursor

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(self.sql(statement), tuple(params))

    def executemany(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cursor.executemany(self.sql(statement), [tuple(row) for row in rows])

    def take_statistics(self, table: str) -> None:
        """Have PostgreSQL's planner statistics of ``table`` taken now (``ANALYZE``, a sample of
        its committed rows), rather than whenever autovacuum comes by: a table never analysed is
        planned blind, and a lookup of some hundred keys can then be planned as a scan of all its
        rows. In a transaction of its own, committed at once: its lock is not held through the
        caller's batch (another replay worker's ``ANALYZE`` of the same table would wait for it).
        Nothing to do on SQLite, whose planner uses the primary key for such lookups."""
        if self.dialect == "postgres":
            with self.transaction() as cursor:
                cursor.execute(f"ANALYZE {table}")

    def copy_rows(self, cursor: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` into ``table``: with ``COPY`` on PostgreSQL (several times faster than
        an ``INSERT`` per row), ``executemany`` on SQLite."""
        if not rows:
            return
        if self.dialect == "postgres":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", [tuple(row) for row in rows])

    def upsert_rows(self, cursor: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], on_conflict: str) -> None:
        """Insert ``rows`` into ``table``, resolving a key already there by ``on_conflict`` (an
        ``ON CONFLICT ...`` clause; the rows' keys are distinct). On PostgreSQL a batch of more
        than a few rows goes through ``COPY`` into a session's staging table and one
        ``INSERT ... SELECT``: one statement, not one per row (three times faster for a batch's
        personal accounts)."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect == "postgres" and len(rows) >= BULK_ROWS_MIN:
            staging = f"staging_{table}"
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS")
            self.copy_rows(cursor, staging, columns, rows)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} {on_conflict}")
            cursor.execute(f"TRUNCATE {staging}")  # for a second write of the table in the same transaction
            return
        marks = ", ".join("?" * len(columns))
        cursor.executemany(self.sql(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}"), [tuple(row) for row in rows])

    def fetch(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor.execute(self.sql(statement), tuple(params))
        # sqlite3.Row iterates over values, so .keys() it is.
        return [{key: plain(row[key]) for key in row.keys()} for row in cursor.fetchall()]  # noqa: SIM118

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Read rows in a transaction of their own."""
        with self.transaction() as cursor:
            return self.fetch(cursor, statement, params)

    # ------------------------------------------------------------------ tables and positions
    def has_relation(self, cursor: Any, name: str) -> bool:
        if self.dialect == "postgres":
            rows = self.fetch(cursor, "SELECT to_regclass(?) IS NOT NULL AS present", (name,))
            return bool(rows[0]["present"])
        return bool(self.fetch(cursor, "SELECT name FROM sqlite_master WHERE name = ?", (name,)))

    def columns_of(self, cursor: Any, name: str) -> set[str]:
        if self.dialect == "postgres":
            rows = self.fetch(cursor, "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                      "AND table_schema = current_schema()", (name,))
            return {row["column_name"] for row in rows}
        return {row["name"] for row in self.fetch(cursor, f"PRAGMA table_info({name})")}

    def ensure_tables(self, prefix: str) -> None:
        """Create the tables and views if missing, and make again the views an older version of
        this code defined: for a writer only (the projector, whose role owns the tables; a reader
        calls ``check_readable``). A set built before one of its tables or columns existed is
        dropped, position and all, to be rebuilt from position 0 by the next catch-up: a table or
        column added later would otherwise miss the events already applied.

        One transaction under a lock of the set (``_lock_set``), the state read after the lock:
        processes starting together make the tables and views in turn, and the second finds them
        made (nothing to do), never a "relation already exists"."""
        with self.transaction() as cursor:
            self._lock_set(cursor, prefix)
            present = [self.has_relation(cursor, prefix + table.name) for table in schema.TABLES]
            outdated = any(present) and (not all(present) or any(
                self.columns_of(cursor, prefix + table.name) != set(table.column_names) for table in schema.TABLES))
            if outdated:
                self._drop(cursor, prefix)
            if outdated or not all(present):
                for statement in schema.create_statements(prefix):
                    if statement.startswith("CREATE VIEW"):
                        cursor.execute(statement.replace("CREATE VIEW", "DROP VIEW IF EXISTS").split(" AS ")[0])
                    cursor.execute(statement)
                self._mark_views(cursor, prefix, schema.view_names(prefix))
                stale = []
            else:
                stale = self._stale_views(cursor, prefix)
            if stale:  # tables of this version, views of an older one (they hold no rows)
                expected = self._view_statements(prefix)
                for name in stale:
                    cursor.execute(f"DROP VIEW IF EXISTS {name}")
                    cursor.execute(expected[name])
                self._mark_views(cursor, prefix, stale)
                logger.info("projections.views_remade", prefix=prefix, views=stale)
        self._current.add(prefix)

    def _lock_set(self, cursor: Any, prefix: str) -> None:
        """Hold, until the transaction ends, the lock that orders the writers of the set's tables
        and views: on PostgreSQL a transaction-scoped advisory lock of the set, on SQLite the
        file's write lock (a write first thing, as ``begin_batch``)."""
        if self.dialect == "postgres":
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{self.tracking_table}:tables:{prefix}",))
        else:
            self.execute(cursor, f"UPDATE {self.tracking_table} SET notification_id = notification_id WHERE application_name = ?",
                         (tracking_name(prefix),))

    def check_readable(self, prefix: str) -> None:
        """For a reader (the finance role, ``report --no-catch-up``, the service): the set's tables
        are there and its views are this version's, else ``ProjectionsNotReady`` saying that the
        projector must run. Reads only: a reader never makes or remakes a relation (it owns
        none). Once found current, not looked at again by this store."""
        if prefix in self._current:
            return
        with self.transaction() as cursor:
            missing = [prefix + table.name for table in schema.TABLES if not self.has_relation(cursor, prefix + table.name)]
            stale = [] if missing else self._stale_views(cursor, prefix)
        if missing:
            raise ProjectionsNotReady(
                "projections", f"the projection tables are not built ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} "
                f"missing): run `fund-ledger project` once with the application's role", missing=missing)
        if stale:
            raise ProjectionsNotReady(
                "projections", f"the views {', '.join(stale)} were made by another version of fund-ledger: run `fund-ledger "
                f"project` once with the application's role (it makes them again; the tables are kept)", stale_views=stale)
        self._current.add(prefix)

    def _view_statements(self, prefix: str) -> dict[str, str]:
        return {prefix + name: f"CREATE VIEW {prefix}{name} AS {body}" for name, body in schema.view_definitions(prefix).items()}

    def _view_marks(self, prefix: str) -> dict[str, str]:
        """Each view's name and the digest of its definition (what this code would create)."""
        return {prefix + name: "fund-ledger view " + hashlib.sha256(body.encode()).hexdigest()[:16]
                for name, body in schema.view_definitions(prefix).items()}

    def _mark_views(self, cursor: Any, prefix: str, names: Sequence[str]) -> None:
        """On PostgreSQL, each view's comment is the digest of its definition (``_stale_views``
        compares it; SQLite keeps the statement itself)."""
        if self.dialect == "postgres":
            marks = self._view_marks(prefix)
            for name in names:
                cursor.execute(f"COMMENT ON VIEW {name} IS '{marks[name]}'")

    def _stale_views(self, cursor: Any, prefix: str) -> list[str]:
        """The set's views missing or defined otherwise than by this code (read only)."""
        if self.dialect == "postgres":
            marks = self._view_marks(prefix)
            stored = {row["name"]: row["mark"] for row in self.fetch(
                cursor, "SELECT name, obj_description(to_regclass(name), 'pg_class') AS mark FROM unnest(?::text[]) AS name",
                (list(marks),))}
            return [name for name, mark in marks.items() if stored.get(name) != mark]
        expected = self._view_statements(prefix)
        stored = {row["name"]: row["sql"] for row in self.fetch(cursor, "SELECT name, sql FROM sqlite_master WHERE type = 'view'")}
        return [name for name, statement in expected.items() if stored.get(name) != statement]

    def defer_statement_keys(self, prefix: str) -> Callable[[], None]:
        """For tables about to be built from position 0: drop the statements' key and index now
        (PostgreSQL), and return what builds them again, once, after the load: sorting a table
        into an index once is cheaper than keeping the index in order through every insert. The
        statements are only ever inserted, so nothing needs the key meanwhile. A no-op on SQLite."""
        if self.dialect != "postgres":
            return lambda: None
        table = prefix + schema.PERSONAL_STATEMENTS.name
        keys = ", ".join(schema.PERSONAL_STATEMENTS.key)
        date_index = next(index.format(p=prefix) for index in schema.INDEXES if "personal_statements" in index)
        with self.transaction() as cursor:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey")
            cursor.execute(f"DROP INDEX IF EXISTS {prefix}personal_statements_date_idx")

        def build_again() -> None:
            with self.transaction() as cursor:
                if not self.fetch(cursor, "SELECT 1 AS present FROM pg_constraint WHERE conname = ?", (f"{table}_pkey",)):
                    cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({keys})")
                cursor.execute(date_index)
        return build_again

    def drop_tables(self, prefix: str) -> None:
        """Drop a set of tables and forget its position (the only way to start it again)."""
        with self.transaction() as cursor:
            self._lock_set(cursor, prefix)
            self._drop(cursor, prefix)

    def _drop(self, cursor: Any, prefix: str) -> None:
        for statement in schema.drop_statements(prefix):
            cursor.execute(statement)
        self.execute(cursor, f"DELETE FROM {self.tracking_table} WHERE application_name = ?", (tracking_name(prefix),))
        self._current.discard(prefix)

    def position(self, prefix: str) -> int:
        """The notification id of the last event applied to these tables (0: none)."""
        return self.tracking.max_tracking_id(tracking_name(prefix)) or 0

    def write_position(self, cursor: Any, prefix: str, position: int) -> None:
        self.tracking._insert_tracking(cursor, Tracking(tracking_name(prefix), position))  # type: ignore[attr-defined]

    def begin_batch(self, cursor: Any, prefix: str) -> None:
        """First thing in a batch's transaction. On SQLite, take the file's write lock now (a
        no-op ``UPDATE``): the batch then reads rows and the position after any other writer's
        commit, and waits for it, rather than reading first and failing to write (WAL refuses a
        write on a snapshot another commit has passed). On PostgreSQL nothing: the rows' own locks
        and ``advance_position`` at the end order two batches."""
        if self.dialect != "postgres":
            self.execute(cursor, f"UPDATE {self.tracking_table} SET notification_id = notification_id WHERE application_name = ?",
                         (tracking_name(prefix),))

    def advance_position(self, cursor: Any, prefix: str, after: int | None, position: int, first: int) -> None:
        """Move the tables' position to ``position``, in the batch's transaction, only if it is
        still ``after``, the position the batch (events ``first`` to ``position``) was read after
        (``None``: only if no event of the batch is applied yet). Otherwise ``PositionMoved``:
        another projector committed since, and this batch would count its events again (or skip
        some). On PostgreSQL the check holds a transaction lock of this set's position (an
        advisory lock), so a second batch checks only once the first has committed or rolled
        back; on SQLite the batch holds the file's write lock (``begin_batch``)."""
        name = tracking_name(prefix)
        if self.dialect == "postgres":
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{self.tracking_table}:{name}",))
        # A statement after the lock: under READ COMMITTED it sees every commit made before it.
        stored = self.tracking._max_tracking_id(name, cursor) or 0  # type: ignore[attr-defined]
        if stored != after if after is not None else stored >= first:
            raise PositionMoved(
                "position", f"the tracking position of {name} is {stored}, not {after if after is not None else 'before ' + str(first)} "
                f"where this batch was read: another projector committed since; the batch is discarded",
                stored=stored, after=after, first=first, end=position)
        self.write_position(cursor, prefix, position)

    def close(self) -> None:
        if self.dialect != "postgres":  # the PostgreSQL pool is the ledger's: it closes it
            self.datastore.close()


def beside_ledger(env: Mapping[str, str], variable: str, suffix: str) -> Path:
    """A SQLite file beside the embedded ledger's (``<stem><suffix>``), or where ``variable`` says."""
    explicit = env.get(variable)
    if explicit:
        return Path(explicit)
    ledger_path = Path(env["SQLITE_DBNAME"])
    return ledger_path.with_name(ledger_path.stem + suffix)


def projections_sqlite_path(env: Mapping[str, str]) -> Path:
    return beside_ledger(env, "FUND_LEDGER_PROJECTIONS_SQLITE", ".projections.sqlite")


def memory_store() -> ProjectionStore:
    """A private in-memory database (lives as long as the store)."""
    name = f"file:projections-{uuid.uuid4().hex}?mode=memory&cache=shared"
    return ProjectionStore(SQLiteDatastore(name), "sqlite", "in memory")


def open_store(ledger: Any) -> ProjectionStore:
    """The projection store that goes with a ledger's event store."""
    env = ledger.env
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("postgres"):
        datastore = ledger.factory.datastore
        return ProjectionStore(datastore, "postgres", f"PostgreSQL database {env.get('POSTGRES_DBNAME')}",
                               create_table=ledger.factory.env_create_table())
    if module.endswith("sqlite") and ":memory:" not in env.get("SQLITE_DBNAME", "") and "mode=memory" not in env.get("SQLITE_DBNAME", ""):
        path = projections_sqlite_path(env)
        path.parent.mkdir(parents=True, exist_ok=True)
        return ProjectionStore(SQLiteDatastore(str(path)), "sqlite", f"SQLite file {path}")
    return memory_store()
