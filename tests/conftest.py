"""Shared fixtures: an in-memory ledger with the default region open, and a PostgreSQL
environment with a fresh database for each test (``deploy/postgres/start.sh``), migrated by the
owner role and used by the application role, as in production (``adapters.postgres_schema``)."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.policy import load_policy_file
from tests.security.log_watch import (  # noqa: F401 - no person's id in any log line of a run
    pytest_configure,
    pytest_runtest_setup,
    pytest_sessionfinish,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """A ledger on the in-memory store with the default policy's region opened."""
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(load_policy_file())
    yield app
    app.close()


ROLES = ("app", "owner", "finance", "superuser")


def exported(printed: str) -> dict[str, str]:
    """The ``export NAME=value`` lines of a script's output (``deploy/*/env.sh``), as a mapping."""
    settings: dict[str, str] = {}
    for line in printed.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export":
            name, _, value = words[1].partition("=")
            settings[name] = value
    return settings


def _role_settings(role: str) -> dict[str, str]:
    """``deploy/postgres/env.sh --<role> --eventsourcing``, as a mapping."""
    return exported(subprocess.run([str(REPO / "deploy/postgres/env.sh"), f"--{role}", "--eventsourcing"],
                                   capture_output=True, text=True, check=True, timeout=30).stdout)


_ROLE_SETTINGS: dict[str, dict[str, str]] = {}


def _postgres_settings() -> dict[str, str]:
    """Start the server (once per process) and return the application role's settings."""
    if not _ROLE_SETTINGS:
        started = subprocess.run([str(REPO / "deploy/postgres/start.sh")], capture_output=True, text=True, timeout=180)
        if started.returncode != 0:
            pytest.fail(f"deploy/postgres/start.sh failed:\n{started.stdout}\n{started.stderr}")
        _ROLE_SETTINGS.update({role: _role_settings(role) for role in ROLES})
    return dict(_ROLE_SETTINGS["app"])


def as_role(settings: dict[str, str], role: str) -> dict[str, str]:
    """The same database's settings for another role: app, owner, finance or superuser."""
    _postgres_settings()
    credentials = _ROLE_SETTINGS[role]
    return {**settings, "POSTGRES_USER": credentials["POSTGRES_USER"], "POSTGRES_PASSWORD": credentials["POSTGRES_PASSWORD"]}


def connect(settings: dict[str, str], role: str | None = None) -> Any:
    """A psycopg connection (autocommit) to the settings' database, as ``role`` if given."""
    import psycopg

    chosen = as_role(settings, role) if role else settings
    return psycopg.connect(host=chosen["POSTGRES_HOST"], port=chosen["POSTGRES_PORT"], user=chosen["POSTGRES_USER"],
                           password=chosen["POSTGRES_PASSWORD"], dbname=chosen["POSTGRES_DBNAME"], autocommit=True)


@pytest.fixture(scope="session")
def postgres_server() -> dict[str, str]:
    """The local PostgreSQL server (started once per session) and the application role's settings."""
    return _postgres_settings()


@contextmanager
def fresh_database(settings: dict[str, str], prefix: str = "fund_ledger_test") -> Iterator[dict[str, str]]:
    """A database of its own on the local server, owned by the owner role and migrated by it
    (``adapters.postgres_schema``), dropped afterwards: the application role's settings to use it."""
    database = f"{prefix}_{uuid.uuid4().hex[:12]}"
    app = {**_postgres_settings(), **{k: v for k, v in settings.items() if k not in ("POSTGRES_USER", "POSTGRES_PASSWORD")},
           "POSTGRES_DBNAME": database, "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "2"}
    owner = as_role(app, "owner")
    with connect({**app, "POSTGRES_DBNAME": "postgres"}, "superuser") as connection:
        connection.execute(f'CREATE DATABASE "{database}" OWNER "{owner["POSTGRES_USER"]}"')
    try:
        Ledger(env={**owner, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}).close()  # migrates, as the owner
        yield app
    finally:
        with connect({**app, "POSTGRES_DBNAME": "postgres"}, "superuser") as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def postgres_env(postgres_server: dict[str, str]) -> Iterator[dict[str, str]]:
    """Settings for ``Ledger(env=...)`` on the local PostgreSQL, as the application role, with a
    database of its own that is created for this test and dropped after it: tests never see each
    other's events."""
    with fresh_database(postgres_server) as settings:
        yield settings
