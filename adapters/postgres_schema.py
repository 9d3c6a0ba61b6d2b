"""The ledger's tables on PostgreSQL, created and secured by a migration run as the database's
owner, never by the application.

Three roles (``deploy/postgres`` creates them; none is a superuser):

- the **owner** (``fund_owner``) owns the database and runs ``migrate``: the library's tables
  (events, tracking, snapshots), the events' ``chain_hash`` column, the lock function and the
  trigger below, and the grants;
- the **application** (``fund_app``) may SELECT and INSERT stored events and snapshots, write
  its Kafka positions, and create and write its own projection tables (``proj_*``): it has no
  UPDATE, DELETE or TRUNCATE privilege on the events, and a trigger refuses those statements to
  anyone, the owner included (only a superuser can disable it, and ``fund-ledger verify`` then
  finds what was changed through the hash chain);
- **finance** (``fund_finance``) may read everything and write nothing.

``LOCK TABLE ... IN EXCLUSIVE MODE`` needs UPDATE, DELETE or TRUNCATE privilege, which the
application does not hold: it takes the lock through ``<events table>_lock()``, a ``SECURITY
DEFINER`` function of the owner that does only that.

The roles' names come from ``FUND_LEDGER_APP_ROLE`` and ``FUND_LEDGER_FINANCE_ROLE`` (defaults
above); a role that does not exist is skipped, so a single-role development database still works.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import structlog
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters import chain
from ledger.errors import LedgerError

logger = structlog.get_logger()

# 2: the position and chain-hash CHECKs below; a database at 1 is migrated again when the owner
# opens it (else ``NotMigrated`` says to run ``fund-ledger migrate``), so they are never missing.
SCHEMA_VERSION = 2
DEFAULT_APP_ROLE = "fund_app"
DEFAULT_FINANCE_ROLE = "fund_finance"
BACKFILL_BATCH = 5_000


class NotMigrated(LedgerError):
    """The database has not been migrated and the connected role may not do it."""

    code = "store_not_migrated"


def lock_function_name(events_table: str) -> str:
    return f"{events_table}_lock"


def version_table(events_table: str) -> str:
    return events_table.removesuffix("_events") + "_schema"


def role_names(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    source = os.environ if env is None else env
    return (source.get("FUND_LEDGER_APP_ROLE") or DEFAULT_APP_ROLE, source.get("FUND_LEDGER_FINANCE_ROLE") or DEFAULT_FINANCE_ROLE)


def migrated_version(recorder: Any) -> int:
    """The schema version the database is at (0: never migrated)."""
    datastore = recorder.datastore
    name = f'"{datastore.schema}"."{version_table(recorder.events_table_name)}"'
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (name,))
        row = cursor.fetchone()
        if not row or not row["present"]:
            return 0
        cursor.execute(SQL("SELECT COALESCE(MAX(version), 0) AS version FROM {}.{}").format(
            Identifier(datastore.schema), Identifier(version_table(recorder.events_table_name))))
        found = cursor.fetchone()
        return int(found["version"]) if found else 0


def may_migrate(recorder: Any) -> bool:
    """Whether the connected role owns the database (or is a superuser)."""
    with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT r.rolsuper OR d.datdba = r.oid AS may FROM pg_roles r, pg_database d "
                       "WHERE r.rolname = current_user AND d.datname = current_database()")
        row = cursor.fetchone()
        return bool(row and row["may"])


def ensure_migrated(recorder: Any) -> None:
    """Migrate the database if it is behind and the connected role owns it; otherwise refuse
    with what to do."""
    if migrated_version(recorder) >= SCHEMA_VERSION:
        return
    if not may_migrate(recorder):
        raise NotMigrated(
            "database", "the PostgreSQL database has not been migrated, and this role may not do it: run `fund-ledger migrate` "
            "with the owner's credentials (eval \"$(deploy/postgres/env.sh --owner)\")")
    migrate(recorder)


def migrate(recorder: Any, env: Mapping[str, str] | None = None) -> list[str]:
    """Create and secure the ledger's tables (idempotent). Returns what was done, for people."""
    from eventsourcing.postgres import PostgresAggregateRecorder, PostgresProcessRecorder

    datastore = recorder.datastore
    events, tracking = recorder.events_table_name, recorder.tracking_table_name
    snapshots = events.removesuffix("_events") + "_snapshots"
    done = []
    PostgresProcessRecorder(datastore, events_table_name=events, tracking_table_name=tracking).create_table()
    PostgresAggregateRecorder(datastore, events_table_name=snapshots).create_table()
    done.append(f"tables {events}, {tracking}, {snapshots}")
    q = _Names(datastore.schema, events, tracking, snapshots, version_table(events))
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(SQL("ALTER TABLE {events} ADD COLUMN IF NOT EXISTS chain_hash bytea").format(events=q.events))
        cursor.execute(SQL("CREATE TABLE IF NOT EXISTS {version} (version integer PRIMARY KEY, "
                           "migrated_at timestamptz NOT NULL DEFAULT now())").format(version=q.version))
    backfilled = backfill(recorder)
    if backfilled:
        done.append(f"chained {backfilled} events stored before the chain")
    unchained = _unchained_events(datastore, q)
    if unchained:
        done.append(f"{unchained} events without a chain hash among chained ones (edited around the recorder): left as they are "
                    "for fund-ledger verify to report, never chained again; chain_hash stays nullable")
        logger.error("postgres.unchained_events", database_schema=datastore.schema, events=unchained)
    app, finance = role_names(env)
    present = _existing_roles(datastore, (app, finance))
    with datastore.transaction(commit=True) as cursor:
        for statement in _secure_statements(q, datastore.schema, app if app in present else None,
                                            finance if finance in present else None, hashes_complete=not unchained):
            cursor.execute(statement)
        cursor.execute(SQL("INSERT INTO {version} (version) VALUES (%s) ON CONFLICT DO NOTHING").format(version=q.version),
                       (SCHEMA_VERSION,))
    done.append("chain column, append-only trigger, lock function")
    done.append(f"grants: application role {app if app in present else '(absent)'}, finance role {finance if finance in present else '(absent)'}")
    logger.info("postgres.migrated", database_schema=datastore.schema, events=events, version=SCHEMA_VERSION,
                app_role=app if app in present else None, finance_role=finance if finance in present else None)
    return done


class _Names:
    def __init__(self, schema: str, events: str, tracking: str, snapshots: str, version: str) -> None:
        self.raw_events = events
        self.events = Identifier(schema, events)
        self.tracking = Identifier(schema, tracking)
        self.snapshots = Identifier(schema, snapshots)
        self.version = Identifier(schema, version)
        self.sequence = Identifier(schema, f"{events}_notification_id_seq")
        self.lock = Identifier(schema, lock_function_name(events))
        self.refuse = Identifier(schema, f"{events}_refuse_change")


def _existing_roles(datastore: Any, names: tuple[str, ...]) -> set[str]:
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(names),))
        return {row["rolname"] for row in cursor.fetchall()}


def _unchained_events(datastore: Any, q: _Names) -> int:
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(SQL("SELECT COUNT(*) AS n FROM {events} WHERE chain_hash IS NULL").format(events=q.events))
        row = cursor.fetchone()
        return int(row["n"]) if row else 0


def _secure_statements(q: _Names, schema: str, app: str | None, finance: str | None,
                       hashes_complete: bool = True) -> list[Composed | SQL]:
    statements: list[Composed | SQL] = [
        SQL("ALTER TABLE {events} ALTER COLUMN chain_hash SET NOT NULL").format(events=q.events),
        SQL("CREATE OR REPLACE FUNCTION {lock}() RETURNS void LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp AS $$ BEGIN LOCK TABLE {events} IN EXCLUSIVE MODE; END $$").format(
            lock=q.lock, events=q.events),
        SQL("REVOKE ALL ON FUNCTION {lock}() FROM PUBLIC").format(lock=q.lock),
        SQL("CREATE OR REPLACE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'stored events are append-only: % on % refused', TG_OP, TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$").format(refuse=q.refuse),
        SQL("DROP TRIGGER IF EXISTS append_only ON {events}").format(events=q.events),
        SQL("CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {events} FOR EACH ROW EXECUTE FUNCTION {refuse}()").format(
            events=q.events, refuse=q.refuse),
        # A row the recorder never writes (position 0 or below: the chain check used to skip it while
        # the library folded it into its aggregate). NOT VALID: rows already stored are not
        # checked here (``verify`` reports them), so an existing store still migrates.
        SQL("DO $$ BEGIN ALTER TABLE {events} ADD CONSTRAINT {positive} CHECK (notification_id >= {first}) NOT VALID; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$").format(
            events=q.events, positive=Identifier(f"{q.raw_events}_positions"), first=Literal(chain.FIRST_POSITION)),
        # A row without a chain hash of 32 bytes (the application role may INSERT): the next save
        # would have nothing to chain on. NOT VALID, as above: a row already without one stays for verify.
        SQL("DO $$ BEGIN ALTER TABLE {events} ADD CONSTRAINT {hashed} CHECK (chain_hash IS NOT NULL AND "
            "octet_length(chain_hash) = {size}) NOT VALID; EXCEPTION WHEN duplicate_object THEN NULL; END $$").format(
            events=q.events, hashed=Identifier(f"{q.raw_events}_chain_hashes"), size=Literal(chain.HASH_BYTES)),
        SQL("DROP TRIGGER IF EXISTS append_only_truncate ON {events}").format(events=q.events),
        SQL("CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {events} FOR EACH STATEMENT EXECUTE FUNCTION {refuse}()").format(
            events=q.events, refuse=q.refuse),
        SQL("REVOKE ALL ON {events}, {tracking}, {snapshots}, {version} FROM PUBLIC").format(
            events=q.events, tracking=q.tracking, snapshots=q.snapshots, version=q.version),
        # Temporary tables for the application alone (its projections stage rows in them): by
        # default every role may make them, finance, which writes nothing, included.
        SQL("DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$"),
    ]
    if not hashes_complete:  # (it would fail on them; verify reports them)
        statements = statements[1:]
    if app is not None:
        role = Identifier(app)
        statements += [
            SQL("REVOKE ALL ON {events}, {tracking}, {snapshots}, {version} FROM {role}").format(
                events=q.events, tracking=q.tracking, snapshots=q.snapshots, version=q.version, role=role),
            SQL("GRANT SELECT, INSERT ON {events}, {snapshots} TO {role}").format(events=q.events, snapshots=q.snapshots, role=role),
            SQL("GRANT SELECT, INSERT, UPDATE ON {tracking} TO {role}").format(tracking=q.tracking, role=role),
            SQL("GRANT SELECT ON {version} TO {role}").format(version=q.version, role=role),
            SQL("GRANT USAGE ON SEQUENCE {sequence} TO {role}").format(sequence=q.sequence, role=role),
            SQL("GRANT EXECUTE ON FUNCTION {lock}() TO {role}").format(lock=q.lock, role=role),
            # The projections (proj_*) are the application's own tables, rebuilt by replay.
            SQL("GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}").format(schema=Identifier(schema), role=role),
            SQL("DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), {name}); END $$").format(
                name=Literal(app)),
        ]
    if finance is not None:
        role = Identifier(finance)
        statements += [
            SQL("GRANT USAGE ON SCHEMA {schema} TO {role}").format(schema=Identifier(schema), role=role),
            SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}").format(schema=Identifier(schema), role=role),
        ]
        if app is not None:
            statements.append(SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {app} IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}").format(
                app=Identifier(app), schema=Identifier(schema), role=role))
    return statements


def backfill(recorder: Any) -> int:
    """Chain the events stored before the chain existed (a database from an earlier version),
    in log order. Only a table never chained (no row has a hash), and only before the
    append-only trigger exists: a row added, or a hash removed, around the recorder later stays
    unchained, for ``verify`` to report; re-chaining every row would make an edited history
    pass ``verify`` and overwrite the evidence."""
    datastore = recorder.datastore
    q = Identifier(datastore.schema, recorder.events_table_name)
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT COUNT(*) AS n FROM pg_trigger WHERE tgname = 'append_only' AND tgrelid = to_regclass(%s)",
                       (f'"{datastore.schema}"."{recorder.events_table_name}"',))
        row = cursor.fetchone()
        if row and row["n"]:
            return 0
        cursor.execute(SQL("LOCK TABLE {events} IN EXCLUSIVE MODE").format(events=q))
        cursor.execute(SQL("SELECT EXISTS (SELECT 1 FROM {events} WHERE chain_hash IS NOT NULL) AS chained").format(events=q))
        chained = cursor.fetchone()
        if chained and chained["chained"]:
            return 0
        previous, count = chain.GENESIS, 0
        after: int | None = None
        while True:
            cursor.execute(SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {events} "
                               "WHERE %s::bigint IS NULL OR notification_id > %s ORDER BY notification_id LIMIT %s").format(events=q),
                           (after, after, BACKFILL_BATCH))
            rows = [(r["notification_id"], chain.as_uuid(r["originator_id"]), r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in cursor.fetchall()]
            if not rows:
                break
            hashes = chain.chain_hashes(previous, rows)
            cursor.executemany(SQL("UPDATE {events} SET chain_hash = %s WHERE notification_id = %s").format(events=q),
                               [(h, r[0]) for h, r in zip(hashes, rows, strict=True)])
            previous, after, count = hashes[-1], rows[-1][0], count + len(rows)
    return count
