"""Fixtures of the consumer tests that need no broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.runtime import open_ledger
from ledger.application import Ledger


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A ledger on an embedded SQLite file of its own, opened as the consumer opens it."""
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    monkeypatch.setenv("FUND_LEDGER_SQLITE", str(tmp_path / "ledger.sqlite"))
    ledger = open_ledger()
    yield ledger
    ledger.close()
