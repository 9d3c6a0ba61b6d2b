"""How a year's interest run goes over a million accounts: in chunks, in parts, side by side.

``Ledger.post_interest`` (``ledger.interest_posting``) credits the region's stored accounts a
chunk at a time (``INTEREST_CHUNK_ACCOUNTS`` accounts a transaction, default 2,000), and splits
them into ``parts`` by account id (``part_of``). Each part has its own progress record
(``records.InterestRun``) and goes through the enrolments on its own, so the parts can be credited
at the same time: on PostgreSQL the process that runs the use case credits part 0 and starts one
worker process for each other part (``INTEREST_WORKERS``, default 2, one per core: a run is bound
by the CPU that decodes, folds and encodes events). In memory and on SQLite a run has one part.
A run's parts are fixed when it first starts, so a restart with another setting still resumes
each part where it stopped.

A worker (``python -m ledger.interest_run``, its job on standard input) dies with the process
that started it (``PR_SET_PDEATHSIG`` on Linux): a ``kill -9`` leaves no worker behind. Workers
send each saved chunk's figures to the starting process, which logs them with its own context,
and how they failed if they did. A worker that could not reach or
write the database, or that was killed, interrupts the run (``InterestRunInterrupted``, a
``PersistenceError``: a consumer reads the message again and the run resumes); any other failure
is a bug (``RuntimeError``).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from adapters import worker_process
from ledger.interest import Rates
from ledger.settings import whole_number_setting

CHUNK_SETTING = "INTEREST_CHUNK_ACCOUNTS"
DEFAULT_CHUNK_ACCOUNTS = 2_000
MAX_CHUNK_ACCOUNTS = 50_000  # a chunk is one save: well under the saves that hold the events table's lock for seconds
WORKERS_SETTING = "INTEREST_WORKERS"
DEFAULT_WORKERS = 2
MAX_WORKERS = 8
PARALLEL_STORES = ("eventsourcing.postgres",)  # stores that several processes write at once
RELAY_WAIT_S = 0.5

Report = Callable[[dict[str, Any]], None]


def chunk_accounts(setting: str | None) -> int:
    """Accounts per transaction of a year's interest run, from ``INTEREST_CHUNK_ACCOUNTS``."""
    return whole_number_setting(CHUNK_SETTING, setting, DEFAULT_CHUNK_ACCOUNTS, MAX_CHUNK_ACCOUNTS)


def worker_count(setting: str | None, persistence_module: str | None) -> int:
    """Parts of a new run, from ``INTEREST_WORKERS``: one on a store that one process writes."""
    count = whole_number_setting(WORKERS_SETTING, setting, DEFAULT_WORKERS, MAX_WORKERS)
    return count if persistence_module in PARALLEL_STORES else 1


def part_of(account_id: UUID, parts: int) -> int:
    """The part of a run an account belongs to: its id's number modulo ``parts``."""
    return account_id.int % parts


def in_part(part: int, parts: int) -> Callable[[UUID], bool] | None:
    """The filter of the accounts of ``part`` (``None``: all of them, when there is one part)."""
    return None if parts == 1 else lambda account_id: part_of(account_id, parts) == part


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    stream = iter(items)
    while chunk := list(islice(stream, size)):
        yield chunk


@dataclass(frozen=True)
class YearEnd:
    """What a region's interest for a year is computed with: the announced rates and the policy's
    day basis (``interest_day_basis``), over ``[start, end_exclusive)``, credited on 31 December."""

    region: str
    year: int
    announced: list[Rates]
    day_basis: int

    @property
    def start(self) -> date:
        return date(self.year, 1, 1)

    @property
    def end_exclusive(self) -> date:
        return date(self.year + 1, 1, 1)

    @property
    def on(self) -> date:
        return date(self.year, 12, 31)


@dataclass(frozen=True)
class Credited:
    """Accounts credited and the interest they were credited with."""

    accounts: int = 0
    interest_fen: int = 0

    def __add__(self, other: Credited) -> Credited:
        return Credited(self.accounts + other.accounts, self.interest_fen + other.interest_fen)


@dataclass(frozen=True)
class PartJob:
    """What a worker needs to credit one part: the ledger's settings and the run's figures."""

    env: dict[str, str]
    year: YearEnd
    part: int
    parts: int
    held: frozenset[UUID]  # accounts the caller's unit of work holds: credited there, not here
    chunk_accounts: int


class InterestRunInterrupted(PersistenceError):
    """A part of the run could not go on (its worker lost the database or was killed): what was
    saved stays saved, and the same run started again resumes it."""


def work() -> int:
    """A worker process (``python -m ledger.interest_run``): read its ``PartJob`` from standard
    input, credit the part, and write each chunk's figures (or how it failed) to standard output
    as JSON lines; anything else written to standard output goes to standard error."""
    taken = worker_process.take_job()
    if taken is None:  # the starting process died first
        return 1
    channel, job = taken

    def send(kind: str, fields: dict[str, Any]) -> None:
        channel.write(json.dumps({"kind": kind, **fields}) + "\n")

    from ledger.application import Ledger

    try:
        ledger = Ledger(env=job.env)
        try:
            ledger.credit_part(job.year, job.part, job.parts, job.held, job.chunk_accounts, report=lambda fields: send("chunk", fields))
        finally:
            ledger.close()
    except BaseException as error:  # noqa: BLE001 - reported to the starting process, which raises
        send("failed", {"part": job.part, "error": type(error).__name__, "reason": str(error)[:500],
                        "persistence": isinstance(error, PersistenceError)})
        return 1
    send("done", {"part": job.part})
    return 0


@dataclass
class Worker:
    job: PartJob
    process: subprocess.Popen[bytes]
    buffer: bytes = b""
    done: bool = False
    failure: dict[str, Any] | None = None


@dataclass
class Workers:
    """The worker processes of a run's parts 1..n (none when the run has one part)."""

    jobs: list[PartJob]
    workers: list[Worker] = field(default_factory=list)

    def start(self) -> Workers:
        for job in self.jobs:
            self.workers.append(Worker(job, worker_process.start("ledger.interest_run", job, job.env)))
        return self

    def relay(self, log: Any, wait_s: float = 0.0) -> None:
        """Log what the workers have sent so far (waiting up to ``wait_s`` for something)."""
        by_fd = {worker.process.stdout.fileno(): worker for worker in self.workers
                 if worker.process.stdout is not None and not worker.process.stdout.closed}
        if not by_fd:
            return
        ready, _, _ = select.select(list(by_fd), [], [], wait_s)
        for fd in ready:
            worker = by_fd[fd]
            data = os.read(fd, 1 << 16)
            if not data:
                assert worker.process.stdout is not None
                worker.process.stdout.close()
                continue
            *lines, worker.buffer = (worker.buffer + data).split(b"\n")
            for line in lines:
                self._heard(worker, json.loads(line), log)

    @staticmethod
    def _heard(worker: Worker, message: dict[str, Any], log: Any) -> None:
        kind = message.pop("kind")
        if kind == "chunk":
            log.info("interest.chunk_saved", **message)
        elif kind == "failed":
            log.error("interest.part_failed", **message)
            worker.failure = message
        else:
            worker.done = True

    def finish(self, log: Any) -> None:
        """Wait for every worker; raise if one did not credit its whole part."""
        while any(w.process.stdout is not None and not w.process.stdout.closed for w in self.workers):
            self.relay(log, RELAY_WAIT_S)
        for worker in self.workers:
            worker.process.wait()
            if worker.done:
                continue
            job, failure = worker.job, worker.failure
            reason = (f"{failure['error']}: {failure['reason']}" if failure is not None
                      else f"its worker ended with exit code {worker.process.returncode}")
            text = f"part {job.part} of {job.parts} of the {job.year.year} interest run of region {job.year.region} stopped: {reason}"
            if failure is None or failure["persistence"]:
                raise InterestRunInterrupted(text)
            raise RuntimeError(text)

    def stop(self) -> None:
        """The run failed here: stop the workers (their chunks in hand are not saved)."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
        for worker in self.workers:
            worker.process.wait()
            if worker.process.stdout is not None:
                worker.process.stdout.close()


if __name__ == "__main__":
    raise SystemExit(work())
