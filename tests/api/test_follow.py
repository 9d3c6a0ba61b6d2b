"""``fund-ledger project --follow`` keeps the projections live: an event written after it
started is in the projections within seconds, and so is one written after the database was
restarted under it (the service reading beside it survives the restart too)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger
from projections.projector import FOLLOW_NICENESS
from projections.reports import Filters, run_report
from projections.store import open_store
from tests.api.service import FUND_LEDGER, RunningService, process_env
from tests.conftest import REPO, _postgres_settings, fresh_database
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, remit

PICK_UP_WITHIN_S = 10.0  # "within a few seconds": the follower polls every 0.2 s here


@pytest.fixture
def database() -> Iterator[dict[str, str]]:
    with fresh_database(_postgres_settings(), "fund_ledger_follow") as settings:
        yield settings


def pooled_balance_fen(settings: dict[str, str]) -> tuple[int, int, int]:
    """The pooled fund's balance in the projections, their position and the log's head."""
    ledger = Ledger(env=settings)
    store = open_store(ledger)
    try:
        rows = run_report("balances", store, Filters(region=REGION)).sections[0].rows
        balance = next((row["balance_fen"] for row in rows if row["fund"] == "pooled"), 0)
        return balance, store.position("proj_"), ledger.recorder.max_notification_id() or 0
    finally:
        store.close()
        ledger.close()


def wait_for_projections(settings: dict[str, str], balance_fen: int, follower: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until the projections show ``balance_fen`` and have caught up with the log."""
    started = time.monotonic()
    while time.monotonic() - started < PICK_UP_WITHIN_S:
        assert follower.poll() is None, f"the follower stopped:\n{log.read_text()}"
        try:
            balance, position, head = pooled_balance_fen(settings)
        except Exception:  # noqa: BLE001 - the database may still be starting
            balance, position, head = -1, 0, 1
        if balance == balance_fen and position == head:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not in the projections after {PICK_UP_WITHIN_S} s (balance {balance}, position {position} of {head}):\n"
                         f"{log.read_text()}")


def thread_niceness(pid: int) -> dict[int, int]:
    """Each thread of ``pid`` and its niceness (``ps -L -o nice``: field 19 of its stat)."""
    niceness = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = task.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        niceness[int(task.name)] = int(fields[16])
    return niceness


def write(settings: dict[str, str], period: str) -> None:
    ledger = Ledger(env=settings)
    try:
        remit(ledger, period, {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    finally:
        ledger.close()


def restart_postgres() -> None:
    for script in ("stop.sh", "start.sh"):
        subprocess.run([str(REPO / "deploy/postgres" / script)], check=True, capture_output=True, timeout=180)


def test_follow_picks_up_new_events_and_survives_a_database_restart(database: dict[str, str], service: RunningService,
                                                                    tmp_path: Path) -> None:
    """Each month's remittance adds 380.00 yuan to the pooled fund (tests/projections/test_reports.py:
    employer shares 300.00 - 40.00 and 180.00 - 60.00 to the accounts): 0 -> 38,000 -> 76,000 fen."""
    ledger = Ledger(env=database)
    open_regions(ledger)
    enrol_both(ledger)
    ledger.close()
    log = tmp_path / "follow.log"
    with log.open("wb") as output:
        follower = subprocess.Popen([*FUND_LEDGER, "project", "--follow", "--poll-interval", "0.2", "--log-level", "info"],
                                    env=process_env(database), cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_projections(database, 0, follower, log)
        # It yields the CPU to the consumer: every thread of it at 5 below this process's priority.
        assert set(thread_niceness(follower.pid).values()) == {os.getpriority(os.PRIO_PROCESS, 0) + FOLLOW_NICENESS}
        write(database, "2024-01")  # written after the follower started
        wait_for_projections(database, 38_000, follower, log)
        assert "projections at position" in log.read_text()

        restart_postgres()
        assert service.as_role("auditor", "/api/v1/status").status_code == 200  # the service reconnected
        write(database, "2024-02")
        wait_for_projections(database, 76_000, follower, log)
        assert follower.poll() is None  # its pooled connections died with the server: checked and replaced
    finally:
        follower.terminate()
        assert follower.wait(timeout=30) == 0, log.read_text()
