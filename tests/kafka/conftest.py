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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka_helpers import KAFKA, REPO, Env, books, grant_prefix

from ledger.application import Ledger


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The broker, started if needed; stopped at the end only if this session started it (other
    sessions may be using it)."""
    was_running = subprocess.run([str(KAFKA / "wait.sh")], capture_output=True, timeout=30).returncode == 0
    started = subprocess.run([str(KAFKA / "start.sh")], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        pytest.fail(f"deploy/kafka/start.sh failed:\n{started.stdout}\n{started.stderr}")
    yield f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"
    if not was_running:
        subprocess.run([str(KAFKA / "stop.sh")], capture_output=True, timeout=60)


@pytest.fixture
def prefix(kafka_bootstrap: str) -> str:
    """Unique topic names (and group id) per test, so tests are independent, with the ACLs a
    deployment has under that prefix."""
    name = f"t{uuid.uuid4().hex[:10]}."
    grant_prefix(kafka_bootstrap, name)
    return name



@pytest.fixture
def kafka_env(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Env:
    return Env(kafka_bootstrap, prefix, tmp_path / "ledger.sqlite")


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
