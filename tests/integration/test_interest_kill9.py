"""``kill -9`` in the middle of a year-end interest run on PostgreSQL, then a restart: every account
is paid exactly once, and the books are those of a run nobody stopped.

Two regions hold the same 1,200 people (12 employers of 100; everyone earns 1,000,000 fen a month,
born 1995-03-15, so each remittance line puts 28,000 fen in the person's account and 80,000 in the
income account). Everyone is paid for January; employers 0, 2, 4... pay July too, the others
October. Dalian's year runs untouched, in this process; Shenyang's runs in a child process that
is killed (SIGKILL) after a few chunks are saved, killed again after its restart has saved a few
more, and then run to the end. Both run with two parts (a worker process each) of chunks of 50
accounts. The message path (``fund-ledger ingest`` of an ``interest.posting_requested``) is
killed and restarted the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.application import Ledger
from ledger.commands import AnnounceInterestRates, Enrol, PostInterest, PostRemittance, RemittanceLine
from ledger.policy import load_policy_file
from ledger.records import InterestRun
from projections.verify import Verifier

REPO = Path(__file__).resolve().parents[2]
SHENYANG, DALIAN = "210100", "210200"
PEOPLE, PER_EMPLOYER = 1_200, 100
CHUNK_ACCOUNTS = "50"
YEAR = 2024

CHILD = """
import json, sys
from cli.logs import configure_logging
from ledger.application import Ledger
from ledger.commands import PostInterest
from ledger.settings import ledger_env
configure_logging("json", "info")
ledger = Ledger(env=ledger_env())
print(json.dumps(ledger.post_interest(PostInterest(sys.argv[1], int(sys.argv[2])))), flush=True)
ledger.close()
"""


def person_id(index: int) -> str:
    return f"P{index:05d}"


def set_up(ledger: Ledger, region: str) -> None:
    """Enrol everyone; January for all; July for the even employers, October for the odd."""
    people = [person_id(i) for i in range(PEOPLE)]
    with ledger.batch() as unit:
        enrolments = [Enrol(region, p, "employee", date(1995, 3, 15), f"E{i // PER_EMPLOYER}", date(YEAR, 1, 1)) for i, p in enumerate(people)]
        ledger.prefetch(unit, enrolments)
        for enrolment in enrolments:
            ledger.enrol(enrolment, unit)
    employers = PEOPLE // PER_EMPLOYER
    for month, paying in ((1, range(employers)), (7, range(0, employers, 2)), (10, range(1, employers, 2))):
        with ledger.batch() as unit:
            for employer in paying:
                lines = tuple(RemittanceLine(person_id(employer * PER_EMPLOYER + i), 1_000_000) for i in range(PER_EMPLOYER))
                ledger.post_remittance(PostRemittance(region, f"E{employer}-{month}", "employer", f"E{employer}", f"{YEAR}-{month:02d}",
                                                      date(YEAR, month, 15), 80_000 * PER_EMPLOYER, lines), unit)


@pytest.fixture
def two_regions(postgres_env: dict[str, str]) -> Iterator[dict[str, str]]:
    env = {**postgres_env, "INTEREST_CHUNK_ACCOUNTS": CHUNK_ACCOUNTS, "INTEREST_WORKERS": "2"}
    ledger = Ledger(env=env)
    try:
        policy = load_policy_file()
        ledger.open_region(policy)
        ledger.open_region(policy.model_copy(update={"region": DALIAN, "region_name": "Dalian"}))
        for region in (SHENYANG, DALIAN):
            set_up(ledger, region)
        ledger.announce_interest_rates(AnnounceInterestRates("rates-2024", date(2024, 1, 1), "0.0035", "0.0110", "0.0195"))
    finally:
        ledger.close()
    yield env


def child_env(env: dict[str, str], marker: str) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": str(REPO), "INTEREST_TEST_MARKER": marker}


def run_and_kill(argv: list[str], env: dict[str, str], after_chunks: int) -> None:
    """Run ``argv``; SIGKILL it (it alone: its worker is left to die with it) once it has logged
    ``after_chunks`` saved chunks, while its worker process still runs."""
    child = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    seen = 0
    running: list[int] = []
    try:
        for line in child.stderr:
            if '"interest.chunk_saved"' in line:
                seen += 1
                if seen >= after_chunks:
                    running = processes_marked(env["INTEREST_TEST_MARKER"])
                    break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert child.pid in running and len(running) >= 2, running  # the run and its worker


def processes_marked(marker: str) -> list[int]:
    """Processes still alive whose environment carries ``marker`` (the run's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if f"INTEREST_TEST_MARKER={marker}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def assert_no_worker_left(marker: str) -> None:
    deadline = time.monotonic() + 10
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_marked(marker) == []


def year_end_credits(ledger: Ledger, region: str) -> dict[str, list[int]]:
    credits: dict[str, list[int]] = {}
    for _, event in ledger.stored_events():
        if isinstance(event, PersonalAccount.InterestCredited) and event.region == region and event.is_year_end:
            [person] = {p["person_id"] for p in event.postings if p["account"] == acc.FUND_PERSONAL}
            credits.setdefault(person, []).append(event.interest_fen)
    return credits


def region_books(ledger: Ledger, region: str) -> dict[str, int]:
    return {name: fen for name, fen in acc.trial_balance(
        p for _, e in ledger.stored_events() if getattr(e, "region", None) == region for p in getattr(e, "postings", ())).items() if fen}


def balances_by_person(ledger: Ledger, region: str) -> dict[str, int]:
    return {person_id(i): ledger.personal_account(region, person_id(i)).balance_fen for i in range(PEOPLE)}


def chunks_saved(ledger: Ledger, region: str) -> int:
    return sum(1 for _, e in ledger.stored_events() if isinstance(e, InterestRun.ChunkCredited) and e.originator_id in {
        InterestRun.id_for(region, YEAR, part) for part in range(2)})


@pytest.mark.postgres
def test_kill_9_in_the_middle_of_the_run_then_restart_pays_each_account_once_and_the_books_equal_a_clean_run(
        two_regions: dict[str, str]) -> None:
    env = two_regions
    ledger = Ledger(env=env)
    try:
        clean = ledger.post_interest(PostInterest(DALIAN, YEAR))
        marker = uuid.uuid4().hex
        argv = [sys.executable, "-c", CHILD, SHENYANG, str(YEAR)]
        run_and_kill(argv, child_env(env, marker), after_chunks=4)
        assert_no_worker_left(marker)
        # Right after the kill: some accounts credited, held as accrued; the deposits' interest not posted.
        credited = year_end_credits(ledger, SHENYANG)
        first_chunks = chunks_saved(ledger, SHENYANG)
        assert 4 <= first_chunks < PEOPLE // int(CHUNK_ACCOUNTS)
        assert 0 < len(credited) < PEOPLE and all(len(fen) == 1 for fen in credited.values())
        books = region_books(ledger, SHENYANG)
        assert books[acc.ACCRUED_DEPOSIT_INTEREST] == sum(fen for [fen] in credited.values())
        assert acc.CLEARING_PERSONAL_ACCOUNTS not in books
        assert not [e for _, e in ledger.stored_events() if isinstance(e, PooledFund.InterestPosted) and e.region == SHENYANG]
        stopped = Verifier(ledger).run()
        assert stopped.passed, dict(stopped.violations)

        run_and_kill(argv, child_env(env, marker), after_chunks=3)
        assert_no_worker_left(marker)
        assert chunks_saved(ledger, SHENYANG) >= first_chunks + 3

        done = subprocess.run(argv, env=child_env(env, marker), cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert_no_worker_left(marker)

        assert {k: v for k, v in outcome.items() if k != "region"} == {k: v for k, v in clean.items() if k != "region"}
        assert outcome["accounts_credited"] == PEOPLE
        credits = year_end_credits(ledger, SHENYANG)
        assert sorted(credits) == [person_id(i) for i in range(PEOPLE)]
        assert all(len(fen) == 1 for fen in credits.values())
        assert {p: fen for p, [fen] in credits.items()} == {p: fen for p, [fen] in year_end_credits(ledger, DALIAN).items()}
        assert balances_by_person(ledger, SHENYANG) == balances_by_person(ledger, DALIAN)
        assert region_books(ledger, SHENYANG) == region_books(ledger, DALIAN)
        assert acc.ACCRUED_DEPOSIT_INTEREST not in region_books(ledger, SHENYANG)
        verified = Verifier(ledger).run()
        assert verified.passed, dict(verified.violations)
        assert verified.transactions is not None  # clearing accounts checked after every transaction
        assert ledger.post_interest(PostInterest(SHENYANG, YEAR)) == {**outcome, "duplicate": True}
    finally:
        ledger.close()


def interest_message(message_id: str) -> bytes:
    return json.dumps({"message_id": message_id, "producer": "agency", "type": "interest.posting_requested", "schema_version": 1,
                       "region": SHENYANG, "occurred_at": "2025-01-02T09:00:00+08:00", "payload": {"year": YEAR}}).encode()


@pytest.mark.postgres
def test_kill_9_while_a_message_runs_the_year_then_ingesting_again_applies_it_once(two_regions: dict[str, str], tmp_path: Path) -> None:
    env = two_regions
    messages = tmp_path / "year-end.jsonl"
    messages.write_bytes(interest_message("interest-2024") + b"\n")
    marker = uuid.uuid4().hex
    argv = [sys.executable, "-m", "cli.main", "--log-format", "json", "--log-level", "info", "ingest", str(messages),
            "--dead-letter-file", str(tmp_path / "dead.jsonl")]
    run_and_kill(argv, child_env(env, marker), after_chunks=5)
    assert_no_worker_left(marker)
    for attempt in range(2):  # the restart finishes the run; the next ingest finds the message applied
        done = subprocess.run(argv, env=child_env(env, marker), cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        report: dict[str, Any] = json.loads(done.stdout)
        assert (report["applied"], report["duplicates"], report["dead_letters"]) == ((1, 0, 0) if attempt == 0 else (0, 1, 0))
    assert_no_worker_left(marker)
    ledger = Ledger(env=env)
    try:
        credits = year_end_credits(ledger, SHENYANG)
        assert sorted(credits) == [person_id(i) for i in range(PEOPLE)] and all(len(fen) == 1 for fen in credits.values())
        [posted] = [e for _, e in ledger.stored_events() if isinstance(e, PooledFund.InterestPosted) and e.region == SHENYANG]
        assert posted.personal_accounts_fen == sum(fen for [fen] in credits.values())
        assert acc.ACCRUED_DEPOSIT_INTEREST not in region_books(ledger, SHENYANG)
        assert Verifier(ledger).run().passed
    finally:
        ledger.close()
