"""The audit commands as a user runs them (``python -m cli.main``), on the embedded SQLite store
over the example messages: trace, reports as known at a position, restated (refused for a year
not closed), attest and check-attestation, and bad input named by its option."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "messages.jsonl"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("audit-cli")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "PERSISTENCE_", "SQLITE_"))}
    environ.update(FUND_LEDGER_SQLITE=str(directory / "ledger.sqlite"), PYTHONPATH=str(REPO), AUDIT_DIR=str(directory))
    done = run(environ, "ingest", str(EXAMPLES), "--dead-letter-file", str(directory / "dead.jsonl"))
    assert done.returncode == 0, done.stdout + done.stderr
    return environ


def run(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120)


def test_trace_prints_each_event_with_its_message_and_the_total(store: dict[str, str]) -> None:
    """January's pooled contribution income, by hand (8% of the wage base, less what goes to the
    accounts): tax-0005, E001: P001 500,000 x 8% = 40,000 and P002 800,000 x 8% = 64,000, of which
    the accounts get 14,000 and 32,000, so the pooled fund 104,000 - 46,000 = 58,000 (the retiree
    P003's credit is an internal transfer, not this item); tax-0006, RC01 for P004: 2,800 - 1,400 =
    1,400. Total 59,400 fen, the income report's line."""
    done = run(store, "trace", "income", "--region", "210100", "--fund", "pooled", "--item", "income.contribution", "--period", "2024-01")
    assert done.returncode == 0, done.stderr
    assert "id tax-0005 from tax" in done.stdout and "id tax-0006 from tax" in done.stdout
    report = run(store, "report", "income", "--region", "210100", "--format", "json")
    line = next(r for r in json.loads(report.stdout)["sections"]["income"]
                if (r["period"], r["fund"], r["item"]) == ("2024-01", "pooled", "income.contribution"))
    traced = json.loads(run(store, "trace", "income", "--region", "210100", "--item", "income.contribution", "--period", "2024-01",
                            "--format", "json").stdout)
    assert traced["credit_fen"] == line["amount_fen"] == 59_400


def test_a_report_known_at_a_position_leaves_later_events_out(store: dict[str, str]) -> None:
    early = run(store, "report", "balances", "--known-at", "20", "--format", "json")
    now = run(store, "report", "balances", "--format", "json")
    assert early.returncode == now.returncode == 0
    assert json.loads(early.stdout)["known_at_position"] == 20
    assert json.loads(early.stdout)["sections"] != json.loads(now.stdout)["sections"]


@pytest.mark.parametrize(("args", "field"), [
    (("trace", "income", "--region", "999999", "--item", "income.contribution", "--period", "2024-01"), "region"),
    (("trace", "income", "--region", "210100", "--item", "income.contribution", "--period", "2024-13"), "period"),
    (("trace", "personal", "--region", "210100"), "person"),
    (("trace", "message", "no-such-message"), "message_id"),
    (("report", "balances", "--known-at", "99999999"), "known_at"),
    (("report", "balances", "--known-at-time", "2024-03-31T18:00:00"), "known_at_time"),
    (("report", "final-accounts", "--region", "210100", "--year", "2024", "--restated"), "year"),
    (("verify", "--anchors", "/nonexistent/anchors.jsonl"), "anchors"),
    (("anchor",), "file"),
])
def test_bad_input_is_one_line_naming_the_option(store: dict[str, str], args: tuple[str, ...], field: str) -> None:
    done = run(store, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: {field}: "), done.stderr
    assert "Traceback" not in done.stderr


def test_attest_and_check_from_the_command_line(store: dict[str, str]) -> None:
    directory = Path(store["AUDIT_DIR"])
    key, out = directory / "audit.key", directory / "balances.attestation.json"
    assert run(store, "attest", "--generate-key", str(key)).returncode == 0
    done = run(store, "attest", "balances", "--region", "210100", "--key", str(key), "--out", str(out))
    assert done.returncode == 0, done.stderr
    checked = run(store, "check-attestation", str(out), "--public-key", f"{key}.pub")
    assert checked.returncode == 0 and "PASS" in checked.stdout, checked.stdout
    document = json.loads(out.read_text())
    document["content"]["sections"]["funds"][0]["balance_fen"] += 1
    out.write_text(json.dumps(document))
    checked = run(store, "check-attestation", str(out), "--public-key", f"{key}.pub")
    assert checked.returncode == 1 and "signature does not match" in checked.stdout
    assert run(store, "attest", "--generate-key", str(key)).returncode == 2, "a key is never overwritten"
