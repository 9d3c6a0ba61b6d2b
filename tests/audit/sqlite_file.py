"""An embedded SQLite store with the integration scenario in it, and what anyone holding the file
can do to it (``sqlite3`` on the file, triggers dropped), for the audit tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledger.application import Ledger
from projections.verify import Verification, Verifier
from tests.integration.test_stores import run_scenario


def scenario_file(tmp_path: Path) -> dict[str, str]:
    """The settings of a fresh SQLite store holding the scenario (verified intact)."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
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
