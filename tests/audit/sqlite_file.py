"""An embedded SQLite store with the integration scenario in it, and what anyone holding the file
can do to it (``sqlite3`` on the file, triggers dropped), for the audit tests."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from ledger.application import Ledger
from projections.verify import Verification, Verifier
from tests.integration.test_stores import run_scenario


def scenario_file(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The settings of a fresh SQLite store (with ``settings`` besides: a cipher, say) holding the
    scenario (verified intact)."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite"), **settings}
    ledger = Ledger(env=env)
    try:
        run_scenario(ledger)
        assert Verifier(ledger).run().passed
    finally:
        ledger.close()
    return env


def raw(env: dict[str, str], *drop: str) -> sqlite3.Connection:
    """The file opened with ``sqlite3`` (autocommit), the named triggers dropped."""
    connection = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
    for trigger in drop:
        connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    return connection


def verified(env: dict[str, str]) -> Verification:
    ledger = Ledger(env=env)
    try:
        return Verifier(ledger).run()
    finally:
        ledger.close()


def verify_command(env: dict[str, str], cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``fund-ledger verify --no-projection [arguments]`` on the file, as a user runs it."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "PERSISTENCE_", "SQLITE_"))}
    environ.update(FUND_LEDGER_SQLITE=env["SQLITE_DBNAME"], PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run([sys.executable, "-m", "cli.main", "verify", "--no-projection", *arguments], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)
