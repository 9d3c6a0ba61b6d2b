"""The worker processes of a year's interest run (``ledger.interest_run``): how a worker that
cannot go on stops the run. A worker that loses the database interrupts it (a ``PersistenceError``:
a consumer reads the message again and the run resumes); any other failure is a bug."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import PersistenceError

from ledger.interest import Rates
from ledger.interest_run import InterestRunInterrupted, PartJob, Workers, YearEnd

YEAR_END = YearEnd("210100", 2024, [Rates(date(2024, 1, 1), Decimal("0.0036"), Decimal("0.0108"), Decimal("0.0180"))], 360)


def job(env: dict[str, str]) -> PartJob:
    return PartJob(env, YEAR_END, 1, 2, frozenset(), 100)


class Captured:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    error = info


def test_a_worker_that_cannot_reach_the_database_interrupts_the_run_naming_its_part() -> None:
    unreachable = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "ledger", "POSTGRES_HOST": "127.0.0.1",
                   "POSTGRES_PORT": "9", "POSTGRES_USER": "nobody", "POSTGRES_PASSWORD": "x", "POSTGRES_CONNECT_TIMEOUT": "1",
                   "PATH": "/usr/bin:/bin"}
    log = Captured()
    workers = Workers([job(unreachable)]).start()
    with pytest.raises(InterestRunInterrupted) as stopped:
        workers.finish(log)
    assert isinstance(stopped.value, PersistenceError)
    assert "part 1 of 2 of the 2024 interest run of region 210100 stopped: OperationalError" in str(stopped.value)
    assert [event for event, _ in log.events] == ["interest.part_failed"]


def test_a_worker_that_fails_for_another_reason_is_a_bug_not_an_interruption(tmp_path: Path) -> None:
    # A ledger with nothing in it: part 1's progress record does not exist (the use case saves
    # every part's record before it starts the workers).
    empty = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "empty.sqlite"), "PATH": "/usr/bin:/bin"}
    workers = Workers([job(empty)]).start()
    with pytest.raises(RuntimeError, match="part 1 of 2 .* stopped: AggregateNotFoundError") as stopped:
        workers.finish(Captured())
    assert not isinstance(stopped.value, PersistenceError)


def test_stopping_the_workers_leaves_none_running() -> None:
    unreachable = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "ledger", "POSTGRES_HOST": "127.0.0.1",
                   "POSTGRES_PORT": "9", "POSTGRES_USER": "nobody", "POSTGRES_PASSWORD": "x", "POSTGRES_CONNECT_TIMEOUT": "30",
                   "PATH": "/usr/bin:/bin"}
    workers = Workers([job(unreachable), job(unreachable)]).start()
    workers.stop()
    assert all(worker.process.poll() is not None for worker in workers.workers)
