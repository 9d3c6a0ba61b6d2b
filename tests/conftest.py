"""Shared fixtures: an in-memory ledger with the default region open, and a PostgreSQL
environment with a fresh database for each test (``deploy/postgres/start.sh``)."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.policy import load_policy_file

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """A ledger on the in-memory store with the default policy's region opened."""
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(load_policy_file())
    yield app
    app.close()


def _postgres_settings() -> dict[str, str]:
    started = subprocess.run([str(REPO / "deploy/postgres/start.sh")], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        pytest.fail(f"deploy/postgres/start.sh failed:\n{started.stdout}\n{started.stderr}")
    printed = subprocess.run([str(REPO / "deploy/postgres/env.sh"), "--eventsourcing"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    settings: dict[str, str] = {}
    for line in printed.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export":
            name, _, value = words[1].partition("=")
            settings[name] = value
    return settings


@pytest.fixture(scope="session")
def postgres_server() -> dict[str, str]:
    """The local PostgreSQL server (started once per session) and its settings."""
    return _postgres_settings()


@contextmanager
def fresh_database(settings: dict[str, str], prefix: str = "fund_ledger_test") -> Iterator[dict[str, str]]:
    """A database of its own on the local server, dropped afterwards: the settings to use it."""
    import psycopg

    database = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = dict(host=settings["POSTGRES_HOST"], port=settings["POSTGRES_PORT"], user=settings["POSTGRES_USER"],
                 password=settings["POSTGRES_PASSWORD"], dbname=settings["POSTGRES_DBNAME"], autocommit=True)
    with psycopg.connect(**admin) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        yield {**settings, "POSTGRES_DBNAME": database, "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "2"}
    finally:
        with psycopg.connect(**admin) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def postgres_env(postgres_server: dict[str, str]) -> Iterator[dict[str, str]]:
    """Settings for ``Ledger(env=...)`` on the local PostgreSQL, with a database of its own
    that is created for this test and dropped after it: tests never see each other's events."""
    with fresh_database(postgres_server) as settings:
        yield settings
