"""Fixtures for the projection tests: a ledger on a SQLite file (projections in the file beside
it), and a fresh PostgreSQL database per test module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger
from projections.projector import Projector
from projections.store import ProjectionStore, open_store
from tests.conftest import _postgres_settings


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}


@pytest.fixture
def sqlite_ledger(sqlite_env: dict[str, str]) -> Iterator[Ledger]:
    ledger = Ledger(env=sqlite_env)
    yield ledger
    ledger.close()


@pytest.fixture
def store(sqlite_ledger: Ledger) -> Iterator[ProjectionStore]:
    projection_store = open_store(sqlite_ledger)
    yield projection_store
    projection_store.close()


@pytest.fixture
def projector(sqlite_ledger: Ledger, store: ProjectionStore) -> Projector:
    return Projector(sqlite_ledger, store, batch_size=3)


@pytest.fixture(scope="module")
def postgres_module_env() -> Iterator[dict[str, str]]:
    """A database of its own for one test module, dropped after it."""
    import psycopg

    settings = _postgres_settings()
    database = f"fund_ledger_proj_{uuid.uuid4().hex[:12]}"
    admin = dict(host=settings["POSTGRES_HOST"], port=settings["POSTGRES_PORT"], user=settings["POSTGRES_USER"],
                 password=settings["POSTGRES_PASSWORD"], dbname=settings["POSTGRES_DBNAME"], autocommit=True)
    with psycopg.connect(**admin) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    yield {**settings, "POSTGRES_DBNAME": database, "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "2"}
    with psycopg.connect(**admin) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
