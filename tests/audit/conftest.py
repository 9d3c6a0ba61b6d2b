"""Fixtures of the audit tests: a PostgreSQL database of their own per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _postgres_settings, fresh_database


@pytest.fixture(scope="module")
def postgres_module_env() -> Iterator[dict[str, str]]:
    with fresh_database(_postgres_settings(), "fund_ledger_audit") as settings:
        yield settings
