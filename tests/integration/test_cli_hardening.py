"""The command line as a user meets it when something is wrong: one line saying what to check,
reads that do not write, lookups that refuse what does not exist, and projections that never
show another store's figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ledger.application import Ledger
from tests.hostile.catalogue import catalogue

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str, stdin: bytes | None = None, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "PERSISTENCE_MODULE" and not name.startswith("POSTGRES_")}
    env.update({"FUND_LEDGER_SQLITE": str(tmp_path / "ledger.sqlite"), "PYTHONPATH": str(REPO), **environ})
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=tmp_path, env=env, input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, timeout=180)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_missing_database_setting_is_named_in_one_line(tmp_path: Path) -> None:
    done = run(tmp_path, "report", "balances", PERSISTENCE_MODULE="eventsourcing.postgres")
    assert done.returncode == 2
    assert "POSTGRES_DBNAME" in one_line(done)


def test_an_unreachable_database_is_one_line_saying_what_to_check(tmp_path: Path) -> None:
    done = run(tmp_path, "verify", PERSISTENCE_MODULE="eventsourcing.postgres", POSTGRES_DBNAME="x", POSTGRES_HOST="127.0.0.1",
               POSTGRES_PORT="9", POSTGRES_USER="u", POSTGRES_PASSWORD="p", POSTGRES_CONNECT_TIMEOUT="2")
    assert done.returncode == 3
    line = one_line(done)
    assert line.startswith("error: cannot reach the ledger's database (PostgreSQL 127.0.0.1:9/x)") and "deploy/postgres/start.sh" in line


def test_an_unreachable_broker_is_one_line_saying_what_to_check(tmp_path: Path) -> None:
    messages = tmp_path / "m.jsonl"
    messages.write_bytes(catalogue(people=0)[0].value + b"\n")
    # No broker there to authenticate to (tests/security: credentials missing are named).
    done = run(tmp_path, "publish", str(messages), "--bootstrap-servers", "127.0.0.1:9", KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
    assert done.returncode == 3
    line = one_line(done)
    assert line.startswith("error: cannot reach the Kafka broker at 127.0.0.1:9") and "deploy/kafka/start.sh" in line


def test_listing_dead_letters_writes_nothing(tmp_path: Path) -> None:
    nowhere = run(tmp_path, "dead-letters")
    assert nowhere.returncode == 2 and "there is no ledger at" in one_line(nowhere)
    assert not (tmp_path / "ledger.sqlite").exists()  # no store created by a read
    assert run(tmp_path, "ingest", "-", stdin=catalogue(people=0)[0].value + b"\n").returncode == 0
    before = (tmp_path / "ledger.sqlite").read_bytes()
    listed = run(tmp_path, "dead-letters", "--all")
    assert listed.returncode == 0 and listed.stdout.strip().endswith("0 dead letter(s)")
    assert (tmp_path / "ledger.sqlite").read_bytes() == before


def test_a_report_refuses_an_unknown_region_person_or_year_and_a_date_that_is_not_iso(tmp_path: Path) -> None:
    lines = catalogue(people=0)[:3]  # P1 and P2 enrolled, their remittance of 2024-01
    assert run(tmp_path, "ingest", "-", stdin=b"".join(line.value + b"\n" for line in lines)).returncode == 0
    cases = {
        ("report", "balances", "--region", "999999"): ("region", "unknown_region"),
        ("report", "personal", "--region", "210100", "--person", "NOBODY"): ("person", "unknown_person"),
        ("report", "statement", "--person", "NOBODY"): ("person", "unknown_person"),
        ("report", "income", "--region", "210100", "--year", "2150"): ("year", "invalid_input"),
        ("report", "balances", "--as-of", "20240101"): ("as_of", "invalid_input"),
        ("report", "balances", "--as-of", "2024-W01-1"): ("as_of", "invalid_input"),
    }
    for args, (field, code) in cases.items():
        done = run(tmp_path, *args)
        assert done.returncode == 2, (args, done.stdout)
        assert done.stdout == "", args  # no empty report
        refusal = json.loads(done.stderr.strip().splitlines()[-1])
        assert (refusal["field"], refusal["code"]) == (field, code), args
    known = run(tmp_path, "report", "personal", "--region", "210100", "--person", "P1", "--format", "json")
    assert known.returncode == 0, known.stderr


def test_global_options_may_follow_the_command(tmp_path: Path) -> None:
    done = run(tmp_path, "ingest", "-", "--log-format", "json", "--log-level", "info", stdin=catalogue(people=0)[0].value + b"\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[0])["event"]  # the logs are JSON lines


def test_ingest_reports_its_errors_on_stderr(tmp_path: Path) -> None:
    done = run(tmp_path, "ingest", "no-such-file.jsonl")
    assert done.returncode == 2 and done.stdout == ""
    assert "no-such-file.jsonl: no such file" in done.stderr


def test_a_second_demo_shows_its_own_figures_and_stale_projections_are_refused(tmp_path: Path) -> None:
    first = run(tmp_path, "demo", "--people", "300", "--employers", "10", "--months", "3")
    assert first.returncode == 0, first.stderr
    assert run(tmp_path, "project").returncode == 0
    second = run(tmp_path, "demo", "--people", "200", "--employers", "10", "--months", "2")
    assert second.returncode == 0, second.stderr
    report = run(tmp_path, "report", "balances", "--format", "json")
    assert report.returncode == 0, report.stderr
    shown = {row["account"]: row["balance_fen"] for row in json.loads(report.stdout)["sections"]["funds"] if row["region"] == "210100"}
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")})
    try:  # the second run's figures, not the first's
        assert shown["fund.pooled"] == ledger.pooled_fund("210100").balance_fen
    finally:
        ledger.close()
    # Projections built from a longer log than the store's: refused, naming the way out.
    (tmp_path / "ledger.sqlite").unlink()
    assert run(tmp_path, "ingest", "-", stdin=catalogue(people=0)[0].value + b"\n").returncode == 0
    stale = run(tmp_path, "report", "balances")
    assert stale.returncode == 2 and "fund-ledger project --rebuild" in stale.stderr
    assert run(tmp_path, "project", "--rebuild").returncode == 0
    assert run(tmp_path, "report", "balances").returncode == 0


def test_the_followers_priority_is_refused_outside_nices_range(tmp_path: Path) -> None:
    for niceness in ("-1", "20"):
        done = run(tmp_path, "project", "--follow", "--niceness", niceness)
        assert done.returncode == 2, done.stderr
        refusal = json.loads(done.stderr.strip().splitlines()[-1])
        assert (refusal["field"], refusal["code"]) == ("niceness", "invalid_input")


def test_a_follower_told_niceness_0_keeps_its_priority(tmp_path: Path) -> None:
    assert run(tmp_path, "ingest", "-", stdin=catalogue(people=0)[0].value + b"\n").returncode == 0
    env = {name: value for name, value in os.environ.items() if name != "PERSISTENCE_MODULE" and not name.startswith("POSTGRES_")}
    env.update({"FUND_LEDGER_SQLITE": str(tmp_path / "ledger.sqlite"), "PYTHONPATH": str(REPO)})
    follower = subprocess.Popen([sys.executable, "-m", "cli.main", "project", "--follow", "--niceness", "0"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        for line in follower.stdout:  # the catch-up's line, then the following's
            if line.startswith("following the log"):
                break
        assert os.getpriority(os.PRIO_PROCESS, follower.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        follower.terminate()
        assert follower.wait(timeout=30) == 0
