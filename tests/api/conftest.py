"""One running service (and its database) for all the API tests: building the books takes a
while, and every test here only reads them (or makes tokens of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.service import RunningService, running_service
from tests.conftest import _postgres_settings, fresh_database
from tests.projections.conftest import projector, sqlite_env, sqlite_ledger, store  # noqa: F401 - the same fixtures here

ARTEFACTS = Path(__file__).resolve().parents[2] / ".run" / "test-artefacts" / "api"


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with fresh_database(_postgres_settings(), "fund_ledger_api") as settings, \
            running_service(settings, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="session")
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS
