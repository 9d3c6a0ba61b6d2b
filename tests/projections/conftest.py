"""Fixtures for the projection tests: a ledger on a SQLite file (projections in the file beside
it), and a fresh PostgreSQL database per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger
from projections.projector import Projector
from projections.store import ProjectionStore, open_store
from tests.conftest import _postgres_settings, fresh_database


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
    with fresh_database(_postgres_settings(), "fund_ledger_proj") as settings:
        yield settings
