"""Where the benchmarks run: the project's PostgreSQL (a fresh database per benchmark), its
Kafka broker, and a description of the machine for the record."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from ledger.settings import ledger_env

REPO = Path(__file__).resolve().parents[1]
DATABASE_PREFIX = "bench_"


def postgres_settings(role: str = "app") -> dict[str, str]:
    """The ``POSTGRES_*`` variables for the project's server as ``role`` (app, owner, superuser:
    ``deploy/postgres/env.sh``)."""
    out = subprocess.run([str(REPO / "deploy/postgres/env.sh"), f"--{role}", "--eventsourcing"], check=True,
                         capture_output=True, text=True).stdout
    settings = dict(re.findall(r"export (\w+)=['\"]?([^'\"\n]*)['\"]?", out))
    overrides = {k: v for k, v in os.environ.items() if k.startswith("POSTGRES_") and k not in ("POSTGRES_USER", "POSTGRES_PASSWORD")}
    return {**settings, **overrides}


def admin_connection(settings: dict[str, str] | None = None, dbname: str | None = None) -> psycopg.Connection:
    """A connection as the superuser (``settings``: another role's)."""
    settings = settings or postgres_settings("superuser")
    return psycopg.connect(host=settings["POSTGRES_HOST"], port=int(settings["POSTGRES_PORT"]),
                           user=settings["POSTGRES_USER"], password=settings["POSTGRES_PASSWORD"],
                           dbname=dbname or settings["POSTGRES_DBNAME"], autocommit=True)


@dataclass
class Database:
    name: str
    settings: dict[str, str]  # the application role's
    owner_settings: dict[str, str]

    @property
    def environ(self) -> dict[str, str]:
        """Environment variables that point the ledger (and its CLI) at this database."""
        return {**self.settings, "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": self.name}

    def ledger_env(self) -> dict[str, str]:
        return ledger_env(self.environ)

    def owner_ledger_env(self) -> dict[str, str]:
        """As the database's owner (a plain ``eventsourcing`` application creates its own tables)."""
        return ledger_env({**self.environ, "POSTGRES_USER": self.owner_settings["POSTGRES_USER"],
                           "POSTGRES_PASSWORD": self.owner_settings["POSTGRES_PASSWORD"]})

    def connect(self) -> psycopg.Connection:
        """As the owner."""
        return admin_connection(self.owner_settings, self.name)


@contextmanager
def fresh_database(label: str, keep: bool = False, migrate: bool = True) -> Iterator[Database]:
    """A new database owned by the owner role and migrated by it (``fund-ledger migrate``), used by
    the application role; dropped afterwards (``WITH (FORCE)`` closes leftover sessions).
    ``migrate=False``: left empty (for a baseline that creates its own tables, as the owner)."""
    from ledger.application import Ledger

    settings, owner = postgres_settings("app"), postgres_settings("owner")
    name = f"{DATABASE_PREFIX}{label}_{uuid.uuid4().hex[:8]}"
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner["POSTGRES_USER"]}"')
    try:
        database = Database(name, settings, owner)
        if migrate:
            Ledger(env=database.owner_ledger_env()).close()  # the migration, as the owner
        yield database
    finally:
        if not keep:
            with admin_connection() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _drop_key_file(name, settings)


def _drop_key_file(name: str, settings: dict[str, str]) -> None:
    """The database's default key store (adapters.keys: a key database, or a key file) goes with it."""
    from adapters.keys import FileKeyStore, SQLiteKeyStore, key_store_from_env

    store = key_store_from_env(ledger_env({**settings, "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": name}))
    if "FUND_LEDGER_KEYS" in os.environ:
        return
    if isinstance(store, FileKeyStore):
        store.path.unlink(missing_ok=True)
        store.lock_path.unlink(missing_ok=True)
    elif isinstance(store, SQLiteKeyStore):
        for path in (store.path, store.path.with_name(store.path.name + "-journal")):
            path.unlink(missing_ok=True)


def drop_leftover_databases() -> list[str]:
    """Databases left by an interrupted run."""
    with admin_connection() as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                (DATABASE_PREFIX + "%",))]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return names


def kafka_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"


def kafka_settings(role: str) -> dict[str, str]:
    """A Kafka principal's client settings (``deploy/kafka/env.sh``): admin, ledger, or a service."""
    flags = [f"--{role}"] if role in ("admin", "ledger", "auditor") else ["--service", role]
    out = subprocess.run([str(REPO / "deploy/kafka/env.sh"), *flags], check=True, capture_output=True, text=True).stdout
    return dict(re.findall(r"export (\w+)=['\"]?([^'\"\n]*)['\"]?", out))


def unique_prefix(label: str) -> str:
    """A topic prefix (and group id) of its own, so runs never see each other's records, with
    its topics and the production ACLs made by the operator (the broker creates no topic)."""
    from consumers.kafka_admin import setup
    from consumers.kafka_io import KafkaSecurity

    prefix = f"bench-{label}-{uuid.uuid4().hex[:8]}."
    setup(kafka_bootstrap(), prefix=prefix, security=KafkaSecurity.from_env(kafka_settings("admin")))
    return prefix


def settle(db: Database) -> None:
    """Before a timed phase: ``VACUUM (ANALYZE)`` the database and ``CHECKPOINT`` the server, so
    what a burst of inserts left the server to do (autovacuum of the new rows, a checkpoint) is
    not done during the measurement (a year-end run measured 32 s settled, 70 s right after the
    setup's 300,000 events)."""
    with admin_connection(dbname=db.name) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def postgres_server_pid() -> int | None:
    """The PostgreSQL server's process (its ``postmaster.pid``), to count its CPU."""
    with admin_connection() as conn:
        data_directory = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    try:
        return int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kafka_broker_pid() -> int | None:
    """The broker's process (``deploy/kafka``'s pid file), to count its CPU."""
    try:
        return int((Path(os.environ.get("KAFKA_RUN_DIR") or REPO / ".run/kafka") / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------- the machine
def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def _memory_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 / 1024 if match else 0.0


def _kafka_version() -> str:
    lib = Path(os.environ.get("KAFKA_RUN_DIR") or REPO / ".run/kafka") / "lib"
    for jar in sorted(lib.glob("kafka_2.13-*.jar")):
        return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar") + " (KRaft, single node, kafka_2.13)"
    return "unknown"


def machine() -> dict[str, str]:
    with admin_connection() as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        pg_settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                       for name in ("fsync", "synchronous_commit", "shared_buffers")}
    import eventsourcing
    import kafka
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{_memory_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": f"{pg_version} (fsync={pg_settings['fsync']}, synchronous_commit={pg_settings['synchronous_commit']}, "
                      f"shared_buffers={pg_settings['shared_buffers']}; loopback)",
        "kafka": _kafka_version(),
        "libraries": f"eventsourcing {eventsourcing.__version__ if hasattr(eventsourcing, '__version__') else _dist('eventsourcing')}, "
                     f"kafka-python {kafka.__version__}, psycopg {psycopg.__version__}",
    }


def _commit() -> str:
    """The code measured: HEAD, and whether the working tree differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
    measured = ("ledger", "adapters", "consumers", "projections", "cli", "api", "bench")
    dirty = git("status", "--porcelain", "--", *measured)
    return git("rev-parse", "--short", "HEAD") + (f" + uncommitted changes in {'/'.join(measured)}" if dirty else "")


def _dist(name: str) -> str:
    from importlib.metadata import version
    return version(name)
