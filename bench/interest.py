"""Year-end interest (``Ledger.post_interest``) over many accounts.

Setup, untimed: the accounts are enrolled and credited with two monthly remittances (January
and July, so each account has movements and a balance), in units of ``SETUP_CHUNK`` persons
(enrolment and remittances of a chunk in one unit of work); the deposit rates are announced,
with a change in July so the computation splits. Timed: ``post_interest`` for the year, in a
**fresh ``Ledger``** (a cold aggregate cache, as after a restart; with more accounts than
``AGGREGATE_CACHE_MAXSIZE`` a warm consumer is no better). Baseline, in the same database: one
read of the whole event log (``select_notifications`` + decode), the least that any
computation from the log must do.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from typing import Any

from bench import data
from bench.env import REPO, Database
from bench.measure import run_child
from ledger.application import Ledger
from ledger.commands import AnnounceInterestRates, PostInterest
from ledger.policy import load_policy_file

# Persons per unit of work in the setup: 3 events each. A unit of more than ~10,000 events hangs
# in psycopg's pipeline sync (see docs/benchmarks.md), so the setup stays well under it.
SETUP_CHUNK = 2_000
MONTHS = (1, 7)
RATES = (
    AnnounceInterestRates("PBOC-2023-06", date(2023, 6, 8), "0.002", "0.0125", "0.0245"),
    AnnounceInterestRates("PBOC-2024-07", date(2024, 7, 25), "0.0015", "0.0115", "0.0235"),
)


def set_up(db: Database, count: int) -> dict[str, Any]:
    ledger = Ledger(env=db.ledger_env())
    started = time.perf_counter()
    try:
        ledger.open_region(load_policy_file())
        for start in range(0, count, SETUP_CHUNK):
            people = [data.person(i) for i in range(start, min(count, start + SETUP_CHUNK))]
            with ledger.batch() as unit:
                for p in people:
                    ledger.enrol(data.enrol_command(p), unit=unit)
                for month in MONTHS:
                    for remittance in data.remittances(people, month):
                        ledger.post_remittance(remittance, unit=unit)
        for announcement in RATES:
            ledger.announce_interest_rates(announcement)
        events = ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()
    return {"accounts": count, "setup_s": time.perf_counter() - started, "events_before": events}


def post_interest(db: Database) -> dict[str, Any]:
    ledger = Ledger(env=db.ledger_env())
    try:
        started = time.perf_counter()
        outcome = ledger.post_interest(PostInterest(data.REGION, data.YEAR))
        elapsed_s = time.perf_counter() - started
    finally:
        ledger.close()
    return {"interest_s": elapsed_s, "outcome": outcome}


def post_interest_in_subprocess(db: Database, timeout_s: float, extra_env: dict[str, str] | None = None) -> dict[str, Any] | None:
    """``post_interest`` in a subprocess (``python -m bench.interest``); ``None`` if it did not
    finish within ``timeout_s`` (it is killed: its transaction is rolled back). Raises
    ``InterestFailed`` with the end of its stderr if it failed."""
    env = {**os.environ, **db.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
    try:
        run = run_child([sys.executable, "-m", "bench.interest"], env, timeout_s=timeout_s)
    except TimeoutError:
        return None
    if run.returncode != 0:
        errors = [line for line in run.stderr.splitlines() if "Error" in line]
        raise InterestFailed(errors[-1].strip()[:300] if errors else f"exit {run.returncode}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = run.peak_rss_mib
    return result


class InterestFailed(Exception):
    pass


def read_log(db: Database, batch_size: int = 2_000) -> tuple[int, float]:
    """(events, seconds) to read and decode the whole log once."""
    ledger = Ledger(env=db.ledger_env())
    try:
        started = time.perf_counter()
        count = 0
        position = 1
        while True:
            notifications = ledger.recorder.select_notifications(start=position, limit=batch_size)
            if not notifications:
                break
            for notification in notifications:
                ledger.mapper.to_domain_event(notification)
            count += len(notifications)
            position = notifications[-1].id + 1
        return count, time.perf_counter() - started
    finally:
        ledger.close()


def main() -> None:
    from cli.logs import configure_logging
    from ledger.settings import ledger_env

    configure_logging("auto", "warning")
    ledger = Ledger(env=ledger_env())
    try:
        started = time.perf_counter()
        outcome = ledger.post_interest(PostInterest(data.REGION, data.YEAR))
        elapsed_s = time.perf_counter() - started
    finally:
        ledger.close()
    print(json.dumps({"interest_s": elapsed_s, "outcome": outcome}))


if __name__ == "__main__":
    main()
