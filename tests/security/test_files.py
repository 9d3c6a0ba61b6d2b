"""Every file holding personal data or secrets is its owner's only (0600), every data directory
0700: the broker's (deploy/kafka), and what the command line writes (umask 077)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security import people

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.kafka
def test_the_brokers_data_secrets_and_keys_are_private(kafka_bootstrap: str) -> None:
    run_dir = Path(os.environ.get("KAFKA_RUN_DIR") or REPO / ".run" / "kafka")
    for directory in ("", "data", "config", "logs", "tls"):
        assert _mode(run_dir / directory) == 0o700, directory
    for private in ("kafka.secrets", "config/server.properties", "tls/broker.p12", "logs/server.log"):
        assert _mode(run_dir / private) == 0o600, private
    assert "password" in (run_dir / "config/server.properties").read_text()  # why it is private
    assert not (run_dir / "tls" / "ca.p12").exists()  # the CA's private key is not kept


def test_what_the_command_line_writes_is_its_users_only(tmp_path: Path) -> None:
    home = tmp_path / "work"
    home.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k != "PERSISTENCE_MODULE" and not k.startswith("POSTGRES_")},
           "PYTHONPATH": str(REPO)}
    env.pop("FUND_LEDGER_SQLITE", None)
    messages = people.write(tmp_path / "m.jsonl", people.messages())
    done = subprocess.run([sys.executable, "-m", "cli.main", "ingest", str(messages)], cwd=home, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # the one refused line
    assert subprocess.run([sys.executable, "-m", "cli.main", "project"], cwd=home, env=env, capture_output=True, timeout=120).returncode == 0
    run_dir = home / ".run"
    assert _mode(run_dir) == 0o700
    written = sorted(path for path in run_dir.rglob("*") if path.is_file())
    assert {path.name for path in written} >= {"fund-ledger.sqlite", "fund-ledger.sqlite.keys.sqlite", "dead-letters.jsonl",
                                                "fund-ledger.projections.sqlite"}
    assert {path.name: _mode(path) for path in written} == {path.name: 0o600 for path in written}


def _postgres_run_dir() -> Path:
    """Where deploy/postgres keeps the server's files: PG_RUN_DIR, the repository's .run/postgres,
    or the fallback it picks when the server's user cannot reach the repository."""
    import hashlib

    if os.environ.get("PG_RUN_DIR"):
        return Path(os.environ["PG_RUN_DIR"])
    default = REPO / ".run" / "postgres"
    fallback = Path(f"/tmp/fund-ledger-pg-{hashlib.sha256(str(REPO.resolve()).encode()).hexdigest()[:12]}")
    return default if (default / "data" / "PG_VERSION").exists() or not fallback.exists() else fallback


@pytest.mark.postgres
def test_the_database_servers_log_and_directory_are_its_users_only(postgres_server: dict[str, str]) -> None:
    # The log names every role, database and failing statement (an error's detail, a person's
    # id): it was 0644 in a 0755 directory, readable by any account on the machine.
    run_dir = _postgres_run_dir()
    assert _mode(run_dir) == 0o700
    for private in ("postgres.log", "initdb.log"):
        if (run_dir / private).exists():
            assert _mode(run_dir / private) == 0o600, private


def test_the_benchmarks_messages_are_their_owners_only(tmp_path: Path) -> None:
    # Made-up people, shaped as real ones (birth dates, employers): they were 0644.
    from bench.data import write_jsonl

    old_umask = os.umask(0o022)
    try:
        earlier = tmp_path / "bench" / "m.jsonl"
        earlier.parent.mkdir()
        earlier.write_text("{}\n")  # a file an earlier run left 0644
        for path in (earlier, tmp_path / "bench" / "new.jsonl"):
            write_jsonl(path, [b'{"a": 1}'])
            assert (_mode(path), _mode(path.parent)) == (0o600, 0o700)
            assert path.read_bytes() == b'{"a": 1}\n'
    finally:
        os.umask(old_umask)
