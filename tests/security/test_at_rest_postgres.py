"""Personal data at rest on PostgreSQL: a scan of every table's bytes, events first, and of the
dead-letter file finds no birth date, employer or heirs' reference of a test person in clear, nor
the refused message that held P1's birth date (its bytes, their base64 or their digest); the
books read the same without any key, and the erasure leaves ``verify`` passing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.application import Ledger
from tests.conftest import connect
from tests.security import people
from tests.security.people import P1_BIRTH, P1_HEIRS, P2_BIRTH, REGION

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _every_table(settings: dict[str, str]) -> dict[str, bytes]:
    """Each table of the database, every row as the server holds it (bytea as its bytes), as the
    database's superuser sees it: what a DBA, a dump or a backup has."""
    found = {}
    with connect(settings, "superuser") as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename").fetchall()]
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - names from the catalogue
            found[table] = b"\n".join(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                                      for row in rows for value in row)
    return found


def _secrets() -> list[bytes]:
    refused = people.line_of(people.DUPLICATE_ENROLMENT)
    return [P1_BIRTH.encode(), P2_BIRTH.encode(), P1_HEIRS.encode(), b'"employer_id":"E77"', b'"employer_id": "E77"',
            base64.b64encode(refused), hashlib.sha256(refused).hexdigest().encode()]


def test_no_personal_data_of_a_test_person_is_in_clear_in_the_database_or_the_dead_letter_file(postgres_env: dict[str, str],
                                                                                                tmp_path: Path) -> None:
    keys = tmp_path / "keys" / "ledger.keys"
    env = {**os.environ, **postgres_env, "PYTHONPATH": str(REPO), "FUND_LEDGER_KEYS": f"file:{keys}"}
    messages = people.write(tmp_path / "messages.jsonl", people.messages())
    policy = people.retention_policy(tmp_path / "policy.toml", years=0)
    dead_letter_file = tmp_path / "dead-letters.jsonl"
    ingested = _cli(env, tmp_path, "ingest", str(messages), "--policy", str(policy), "--dead-letter-file", str(dead_letter_file))
    assert ingested.returncode == 1 and json.loads(ingested.stdout)["dead_letter_codes"] == {"duplicate_business_id": 1}, ingested.stderr
    assert _cli(env, tmp_path, "project").returncode == 0

    tables = _every_table(postgres_env)
    assert any(b"PersonalAccount.Enrolled" in data for data in tables.values())  # the scan sees the events
    for table, data in tables.items():
        for secret in _secrets():
            assert secret not in data, (table, secret)
    for secret in _secrets():
        assert secret not in dead_letter_file.read_bytes(), secret
    assert dead_letter_file.stat().st_mode & 0o777 == 0o600
    assert keys.stat().st_mode & 0o777 == 0o600 and keys.parent.stat().st_mode & 0o777 == 0o700

    # The books need no key: a process without one reads the same figures.
    keyless_env = {**env, "FUND_LEDGER_KEYS": "none"}
    keyless = Ledger(env={**postgres_env, "FUND_LEDGER_KEYS": "none"})
    try:
        assert keyless.pooled_fund(REGION).balance_fen == people.EXPECTED["pooled_fen"]
        assert keyless.personal_account(REGION, "P2").balance_fen == people.EXPECTED["P2"]
    finally:
        keyless.close()

    erased = _cli(env, tmp_path, "erase-person", REGION, "P1", "--yes")
    assert erased.returncode == 0, erased.stderr
    verified = _cli(env, tmp_path, "verify")
    assert verified.returncode == 0 and "PASS" in verified.stdout, verified.stdout + verified.stderr
    with_keys = _cli(env, tmp_path, "report", "balances", "--format", "json")
    without = _cli(keyless_env, tmp_path, "report", "balances", "--format", "json")
    assert with_keys.returncode == without.returncode == 0 and with_keys.stdout == without.stdout
