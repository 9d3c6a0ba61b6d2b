"""The hostile catalogue through ``fund-ledger ingest`` (the consumers' handlers, no Kafka): every
bad line refused with its reason and original, every good line applied, the books as worked out
by hand, ``verify`` passing. The same catalogue runs through the real broker in
``tests/kafka/test_hostile_messages.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ledger.application import Ledger
from tests.hostile.catalogue import catalogue
from tests.hostile.checks import check_books, check_outcomes, dead_letters_by_position

REPO = Path(__file__).resolve().parents[2]
# What a terminal acts on: C0 and C1 controls (but line feed and tab) and bidirectional overrides.
ACTIVE_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _cli(store: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    environ = {**os.environ, "FUND_LEDGER_SQLITE": str(store), "PYTHONPATH": str(REPO)}
    environ.pop("PERSISTENCE_MODULE", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=environ, input=stdin, capture_output=True, timeout=600)


def test_every_hostile_line_is_refused_with_its_reason_and_every_good_one_applied(tmp_path: Path) -> None:
    lines = catalogue()
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"".join(line.value + b"\n" for line in lines))
    store = tmp_path / "ledger.sqlite"
    ingested = _cli(store, "ingest", str(path), "--dead-letter-file", str(tmp_path / "dl.jsonl"))
    assert ingested.returncode == 1, ingested.stderr[-2000:]  # some lines refused; nothing lost
    summary = json.loads(ingested.stdout)
    refused = [line for line in lines if line.expect not in ("applied", "duplicate")]
    assert (summary["lines"], summary["dead_letters"]) == (len(lines), len(refused))
    assert b"Traceback" not in ingested.stderr

    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store)})
    try:
        by_line = {int(key.split(":")[3].split("@")[0]) - 1: dead for key, dead in dead_letters_by_position(ledger).items()}
        check_outcomes(ledger, lines, by_line)
        check_books(ledger)
    finally:
        ledger.close()
    verified = _cli(store, "verify")
    assert verified.returncode == 0, verified.stdout[-3000:]
    for listing in (_cli(store, "dead-letters", "--all"), _cli(store, "dead-letters", "--json", "--all")):
        assert listing.returncode == 0, listing.stderr[-2000:]
        assert not ACTIVE_CHARACTERS.search(listing.stdout.decode()), "a dead letter's text could drive the terminal"
    # The local dead-letter file keeps them too, readable by its owner only.
    assert (tmp_path / "dl.jsonl").stat().st_mode & 0o777 == 0o600
    assert len((tmp_path / "dl.jsonl").read_text().splitlines()) == len(refused)


def test_a_line_read_from_standard_input_is_ingested_like_a_file(tmp_path: Path) -> None:
    lines = catalogue(people=0)[:3]
    ingested = _cli(tmp_path / "ledger.sqlite", "ingest", "-", "--dead-letter-file", str(tmp_path / "dl.jsonl"),
                    stdin=b"".join(line.value + b"\n" for line in lines))
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    assert json.loads(ingested.stdout)["applied"] == 3


def test_nothing_printed_can_drive_the_terminal(tmp_path: Path) -> None:
    """An escape sequence typed, or carried by a message, is shown escaped, never acted upon."""
    store = tmp_path / "ledger.sqlite"
    assert _cli(store, "ingest", "-", stdin=catalogue(people=0)[0].value + b"\n").returncode == 0
    refused = _cli(store, "report", "personal", "--region", "210100", "--person", "\x1b]0;pwned\x07\x9b2J\u202eP1")
    assert refused.returncode == 2
    assert not ACTIVE_CHARACTERS.search(refused.stderr.decode()) and "\\u001b]0;pwned" in refused.stderr.decode()
