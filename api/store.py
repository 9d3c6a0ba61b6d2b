"""The service's own tables: bearer tokens (stored hashed) and the access log.

They live beside the ledger: in its PostgreSQL database (written with the application role,
readable by the finance role like every table the application creates), or, on the embedded
default, in a SQLite file beside the ledger's (``<ledger file stem>.api.sqlite``,
``FUND_LEDGER_API_SQLITE`` to move it). Nothing here touches the event log.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from projections.store import beside_ledger

POSTGRES_TABLES = (
    "CREATE TABLE IF NOT EXISTS api_tokens (token_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
    "regions TEXT NOT NULL, secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL, revoked_at TEXT, "
    "expires_at TEXT)",
    "CREATE TABLE IF NOT EXISTS api_access_log (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, token_id TEXT, who TEXT NOT NULL, "
    "role TEXT, method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL, status INTEGER NOT NULL, duration_ms INTEGER NOT NULL, "
    "client TEXT)",
    "CREATE INDEX IF NOT EXISTS api_access_log_at_idx ON api_access_log (at)",
)
SQLITE_TABLES = tuple(statement.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT") for statement in POSTGRES_TABLES)


def api_sqlite_path(env: Mapping[str, str]) -> Path:
    return beside_ledger(env, "FUND_LEDGER_API_SQLITE", ".api.sqlite")


class ApiStore:
    """A small connection to the service's tables (``?`` placeholders on both databases)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.dialect = "postgres" if env.get("PERSISTENCE_MODULE", "").endswith("postgres") else "sqlite"
        self._lock = threading.Lock()
        self._pool: Any = None
        self._sqlite: sqlite3.Connection | None = None
        if self.dialect == "postgres":
            from psycopg_pool import ConnectionPool

            conninfo = (f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} dbname={env['POSTGRES_DBNAME']} "
                        f"user={env['POSTGRES_USER']} connect_timeout={env.get('POSTGRES_CONNECT_TIMEOUT', '10')}")
            # Connections are checked before use: one broken by a database restart is replaced.
            self._pool = ConnectionPool(conninfo, min_size=1, max_size=4, open=True, timeout=10, check=ConnectionPool.check_connection,
                                        kwargs={"password": env["POSTGRES_PASSWORD"], "autocommit": True})
            self.description = f"PostgreSQL {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
        else:
            path = api_sqlite_path(env)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
            self._sqlite.row_factory = sqlite3.Row
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            path.chmod(0o600)
            self.description = f"SQLite file {path}"

    def create_tables(self) -> None:
        for statement in POSTGRES_TABLES if self.dialect == "postgres" else SQLITE_TABLES:
            self.execute(statement)
        self._add_column("api_tokens", "expires_at TEXT")  # tables made before tokens expired

    def _add_column(self, table: str, column: str) -> None:
        """``column`` added to ``table`` if it lacks it (looked for first: a process whose role does
        not own the table, finding it there, changes nothing)."""
        name = column.split()[0]
        if self.dialect == "postgres":
            present = {row["column_name"] for row in self.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema()", (table,))}
        else:
            present = {row["name"] for row in self.query(f"PRAGMA table_info({table})")}
        if name not in present:
            self.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        if self._pool is not None:
            with self._pool.connection() as connection:
                return connection.execute(statement.replace("?", "%s"), tuple(params)).rowcount
        assert self._sqlite is not None
        with self._lock:
            return self._sqlite.execute(statement, tuple(params)).rowcount

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self._pool is not None:
            from psycopg.rows import dict_row

            with self._pool.connection() as connection:
                cursor = connection.cursor(row_factory=dict_row)
                return list(cursor.execute(statement.replace("?", "%s"), tuple(params)).fetchall())
        assert self._sqlite is not None
        with self._lock:
            return [dict(row) for row in self._sqlite.execute(statement, tuple(params)).fetchall()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._sqlite is not None:
            self._sqlite.close()
