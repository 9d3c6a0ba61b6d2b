"""Kafka tests: the real broker (deploy/kafka/start.sh: SASL SCRAM over TLS, ACLs), unique topics
per test with the production ACLs under the test's prefix (made as the admin principal), the
consumer run as a real process (``python -m cli.main consume``, as the ledger's principal)
against a SQLite file in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka_helpers import REPO, books, kafka_bootstrap, kafka_env, prefix  # noqa: F401 - the fixtures, shared with tests/security

from ledger.application import Ledger


@pytest.fixture
def reference(tmp_path: Path) -> Callable[[list[list[Any]]], dict[str, Any]]:
    """The books after a clean run of the same phases through ``fund-ledger ingest``."""
    def run(phases: list[list[Any]]) -> dict[str, Any]:
        store = tmp_path / f"reference-{uuid.uuid4().hex[:6]}.sqlite"
        environ = {**os.environ, "FUND_LEDGER_SQLITE": str(store), "PYTHONPATH": str(REPO)}
        environ.pop("PERSISTENCE_MODULE", None)
        for index, phase in enumerate(phases):
            path = tmp_path / f"phase-{index}.jsonl"
            path.write_bytes(b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n" for m in phase))
            subprocess.run([sys.executable, "-m", "cli.main", "ingest", str(path), "--dead-letter-file", str(tmp_path / "dl.jsonl")],
                           cwd=REPO, env=environ, capture_output=True, timeout=60)
        ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store)})
        try:
            return books(ledger)
        finally:
            ledger.close()
    return run
