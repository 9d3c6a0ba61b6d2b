"""Rebuilding the projections on several cores: the log split by person.

One process folds, writes and decodes about 10,000 events a second (``docs/benchmarks.md``); a
rebuild from position 0 into fresh tables (``fund-ledger replay``, ``projections.replay.rebuild``)
on PostgreSQL runs in ``REPLAY_WORKERS`` processes instead (default 2, one per core), each a
``ShardProjector`` over the same fresh tables. (``fund-ledger project --rebuild`` rebuilds the
live tables in one process: it writes its position batch by batch, so a crash resumes where it
stopped; a split rebuild writes its position only at the end, which suits tables nothing else
reads or resumes meanwhile.) Who folds what (``Shard``, the one place for the rule):

- a personal account's events (nine in ten of a region's log) are read and decoded by one worker
  only, the account's (``shard_of`` its id), which folds the whole event: the database filters
  them by the id (``shard_sql``), so the others never receive them;
- every other event (the pooled fund's, business records, policy books, memo funds) is read by
  every worker: worker 0 folds what is not keyed by a person (the region's sums, claims, budgets,
  year closes), and each worker what the event does to its own persons (a posting to a personal
  account, a contribution month, a memo fund's person): a person's worker is their account's;
- a year's close rolls each worker's own rows (``person_id = ANY(...)``), never another's.

So every fact is folded once, by one worker, in the log's order where the order matters (a
person's row and statements; a budget's latest line). The workers write their own transactions
to the same tables (sums are added, so two workers may add to one row: its lock orders them, in
the same key order in every worker) and no position; once every worker has folded the log up to
the head read at the start, the coordinator writes that position. A worker that fails fails the
rebuild (the tables are dropped and built again by the next one; nothing was applied twice since
nothing else reads them meanwhile). On SQLite, which one process writes at a time, and with one
worker, the rebuild is the ``Projector``'s.

A worker is ``python -m projections.shards`` (its ``ShardJob`` on standard input, its figures as
one JSON line on standard output); it dies with the process that started it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from adapters import worker_process
from adapters.crypto import keyless_mapper
from ledger.aggregates import PersonalAccount
from ledger.errors import LedgerError
from ledger.settings import whole_number_setting
from projections.fold import touched_people
from projections.projector import CatchUp, Projector
from projections.store import ProjectionStore

WORKERS_SETTING = "REPLAY_WORKERS"
DEFAULT_WORKERS = 2
MAX_WORKERS = 8
# A worker beyond the first pays for its start (a Python process and its imports, about a second
# of CPU) and for reading every row of the log to keep its share, which a small log does not
# repay: one process against two on logs of 15,108, 30,208 and 60,408 events, 1.8x, 1.3x and
# 1.0x the rate (docs/benchmarks.md). So, unless asked for a number: a worker for each
# ``EVENTS_PER_WORKER`` events of the log, up to ``REPLAY_WORKERS``.
EVENTS_PER_WORKER = 50_000
ACCOUNT_TOPICS = f"{get_topic(PersonalAccount)}."  # every personal account event's topic starts so
ACCOUNT_TOPICS_LIKE = ACCOUNT_TOPICS.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
SHARD_BITS = 0xFFFF  # the low 16 bits of an id choose its shard: its last two bytes


class ShardMismatch(LedgerError):
    code = "shard_mismatch"


def worker_count(setting: str | None, dialect: str, originator_id_type: str | None = "uuid") -> int:
    """Workers of a rebuild, from ``REPLAY_WORKERS`` (1 to ``MAX_WORKERS``): one unless the store
    is PostgreSQL with ids of type uuid."""
    count = whole_number_setting(WORKERS_SETTING, setting, DEFAULT_WORKERS, MAX_WORKERS)
    return count if dialect == "postgres" and originator_id_type == "uuid" else 1


def shard_of(aggregate_id: UUID, shards: int) -> int:
    """The worker of an aggregate's events: the low 16 bits of its id modulo ``shards``."""
    return (aggregate_id.int & SHARD_BITS) % shards


def shard_sql(column: str) -> str:
    """``shard_of`` in PostgreSQL, with ``%s`` for the number of shards: the uuid's last two
    bytes (half the server's time of reading them from its text)."""
    return f"(get_byte(uuid_send({column}), 14) * 256 + get_byte(uuid_send({column}), 15)) %% %s"


@lru_cache(maxsize=256)
def is_account_topic(topic: str) -> bool:
    return topic.startswith(ACCOUNT_TOPICS)


@dataclass(frozen=True)
class Shard:
    """Worker ``index`` of ``count``: what it reads and folds (``projections.fold.Owner``)."""

    index: int
    count: int

    def owns_event(self, event: Any) -> bool:
        if is_account_topic(get_topic(type(event))):
            return shard_of(event.originator_id, self.count) == self.index
        return self.index == 0

    def owns_person(self, region: str, person_id: str) -> bool:
        return shard_of(PersonalAccount.id_for(region, person_id), self.count) == self.index

    def check(self, position: int, event: Any, moved: set[tuple[str, str]] | None = None) -> None:
        """An account's event moves only its own person (``PersonalAccount`` refuses others):
        were it not so, the person's worker would never see it; refuse to build on. ``moved``:
        ``touched_people(event)``, if the caller has it already."""
        people = touched_people(event) if moved is None else moved
        if isinstance(getattr(event, "person_id", None), str):  # a transfer's months are the event's person's
            people = people | {(getattr(event, "region", "") or "", event.person_id)}
        for region, person_id in people:
            if not self.owns_person(region, person_id):
                raise ShardMismatch("position", f"the personal account event at position {position} moves person {person_id} "
                                                f"of region {region}, not its own: a rebuild split by person cannot fold it",
                                    position=position)


class ShardProjector(Projector):
    """One worker of a rebuild: folds its ``shard`` of the log from position 0 through ``stop``
    into the tables of ``prefix``, and writes no position (the coordinator does, at the end)."""

    def __init__(self, ledger: Any, store: ProjectionStore, prefix: str, shard: Shard, batch_size: int) -> None:
        super().__init__(ledger, store, prefix, batch_size=batch_size)
        self.shard = shard
        self.owner = shard
        self.defer_personal_rows = True
        self._folded_through = 0
        self._own_people: set[tuple[str, str]] = set()  # every row this worker has written
        self.shared_events = 0  # events every worker reads (not a personal account's)
        self._statement = self._select_statement()

    @property
    def position(self) -> int:
        return self._folded_through

    def apply(self, batch: list[tuple[int, Any]]) -> Any:
        state = super().apply(batch)
        self._own_people.update(state.personal)
        self._folded_through = batch[-1][0]
        return state

    def _people_of(self, position: int, event: Any) -> set[tuple[str, str]]:
        """A personal account's event: the rows it moves, checked to be its own person's only
        (``Shard.check``); any other event: the rows it moves of this worker's persons."""
        if is_account_topic(get_topic(type(event))):
            people = touched_people(event)
            self.shard.check(position, event, people)
            return people
        return touched_people(event, self.shard)

    def _owner_of(self, event: Any) -> Shard | None:
        """All of a personal account's event (read by this worker only, and checked to move only
        its own person: ``Shard.check``); this worker's share of any other."""
        return None if is_account_topic(get_topic(type(event))) else self.shard

    def _read_batches(self, start: int, stop: int | None) -> Iterator[list[tuple[int, Any]]]:
        assert stop is not None, "a worker folds up to the position the coordinator read"
        mapper = keyless_mapper(self.ledger.mapper)
        position = start
        while position < stop:
            notifications = self._select(position, stop)
            if not notifications:
                return
            batch = []
            for notification in notifications:
                if not is_account_topic(notification.topic):  # (an account's event is checked when applied: _people_of)
                    self.shared_events += 1
                batch.append((notification.id, mapper.to_domain_event(notification)))
            yield batch
            position = notifications[-1].id

    def _select_statement(self) -> Any:
        """This worker's share of a batch: every event but another worker's accounts', in order."""
        from psycopg.sql import SQL, Identifier

        recorder = self.ledger.recorder
        return SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE notification_id > %s AND notification_id <= %s "
            f"AND (topic NOT LIKE %s OR {shard_sql('originator_id')} = %s) "
            "ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))

    def _select(self, after: int, stop: int) -> list[Notification]:
        datastore = self.ledger.recorder.datastore
        with datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            # The planner cannot tell how many rows the filter keeps and starts parallel workers
            # for each batch's scan, which costs more than the scan: six times the server's CPU
            # of reading the whole log, on two cores. One process a worker scans it in order.
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute(self._statement, (after, stop, ACCOUNT_TOPICS_LIKE, self.shard.count, self.shard.index, self.batch_size),
                           prepare=True)
            return [Notification(id=row["notification_id"], originator_id=row["originator_id"],
                                 originator_version=row["originator_version"], topic=row["topic"], state=bytes(row["state"]))
                    for row in cursor.fetchall()]

    def _people_to_roll(self, region: str) -> list[str]:
        """Only this worker's rows: another worker's are its own to roll, in its own order."""
        return sorted(person_id for row_region, person_id in self._own_people if row_region == region)

    def _write_position(self, cursor: Any, position: int) -> None:
        """None: the tables are at a position only once every worker has folded up to it."""


# ---------------------------------------------------------------------------- the workers
@dataclass(frozen=True)
class ShardJob:
    env: dict[str, str]
    prefix: str
    stop: int
    shard: Shard
    batch_size: int


@dataclass(frozen=True)
class ShardDone:
    events: int  # events read (the shared ones included)
    shared_events: int
    batches: int


class RebuildInterrupted(LedgerError):
    code = "rebuild_interrupted"


def fold_shard(ledger: Any, store: ProjectionStore, job: ShardJob, progress: Callable[[int], None] | None = None) -> ShardDone:
    projector = ShardProjector(ledger, store, job.prefix, job.shard, job.batch_size)
    result = projector.catch_up(stop=job.stop, progress=progress, log_empty=False)
    return ShardDone(result.events, projector.shared_events, result.batches)


def work() -> int:
    """A worker process: its ``ShardJob`` from standard input, its ``ShardDone`` (or how it
    failed) as one JSON line on standard output."""
    taken = worker_process.take_job()
    if taken is None:  # the starting process died first
        return 1
    channel, job = taken
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # the starting process says what happened
    from ledger.application import Ledger
    from projections.store import open_store

    try:
        ledger = Ledger(env=job.env)
        store = open_store(ledger)
        try:
            done = fold_shard(ledger, store, job)
        finally:
            store.close()
            ledger.close()
    except BaseException as error:  # noqa: BLE001 - reported to the starting process, which raises
        channel.write(json.dumps({"failed": f"{type(error).__name__}: {str(error)[:500]}"}) + "\n")
        return 1
    channel.write(json.dumps({"events": done.events, "shared_events": done.shared_events, "batches": done.batches}) + "\n")
    return 0


def _start(job: ShardJob) -> subprocess.Popen[bytes]:
    return worker_process.start("projections.shards", job, job.env)


def _finish(job: ShardJob, process: subprocess.Popen[bytes]) -> ShardDone:
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    process.wait()
    lines = output.decode("utf-8", "replace").strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if process.returncode != 0 or "failed" in report or not report:
        reason = report.get("failed", f"its worker ended with exit code {process.returncode}")
        raise RebuildInterrupted("workers", f"worker {job.shard.index} of {job.shard.count} of the rebuild of {job.prefix}* stopped: {reason}")
    return ShardDone(report["events"], report["shared_events"], report["batches"])


def workers_for(ledger: Any, store: ProjectionStore, requested: int | None = None, events: int | None = None) -> int:
    """How many workers a rebuild of ``ledger``'s log into ``store`` runs in: ``requested``, else
    ``REPLAY_WORKERS`` but no more than a worker for each ``EVENTS_PER_WORKER`` of the ``events``
    to fold (if given); one where the store cannot take more."""
    id_type = getattr(getattr(ledger.recorder, "datastore", None), "originator_id_type", None)
    setting = ledger.env.get(WORKERS_SETTING) if requested is None else str(requested)
    count = worker_count(setting, store.dialect, id_type)
    return count if requested is not None or events is None else workers_for_events(count, events)


def workers_for_events(workers: int, events: int) -> int:
    """``workers``, but no more than one for each ``EVENTS_PER_WORKER`` of ``events``, and one at least."""
    return max(1, min(workers, events // EVENTS_PER_WORKER))


def rebuild_on_cores(ledger: Any, store: ProjectionStore, prefix: str, workers: int, batch_size: int,
                     stop: int | None = None, progress: Callable[[int], None] | None = None) -> CatchUp:
    """Fold the log from position 0 through ``stop`` (the head, if not given) into the fresh
    tables of ``prefix`` in ``workers`` processes (this one and ``workers - 1`` started), then
    write the position. The tables must exist and be empty. ``progress``: this process's position."""
    started = time.perf_counter()
    target = (ledger.recorder.max_notification_id() or 0) if stop is None else stop
    env: Mapping[str, str] = dict(ledger.env)
    jobs = [ShardJob(dict(env), prefix, target, Shard(index, workers), batch_size) for index in range(workers)]
    processes = [(job, _start(job)) for job in jobs[1:]] if target else []
    try:
        done = [fold_shard(ledger, store, jobs[0], progress)] if target else [ShardDone(0, 0, 0)]
        done += [_finish(job, process) for job, process in processes]
    except BaseException:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        raise
    if target:
        with store.transaction() as cursor:
            store.write_position(cursor, prefix, target)
    events = sum(d.events - d.shared_events for d in done) + done[0].shared_events
    return CatchUp(0, target, events, sum(d.batches for d in done), time.perf_counter() - started)


if __name__ == "__main__":
    raise SystemExit(work())
