"""The projector: reads the event log in batches and writes each batch's rows and its tracking
position in one transaction.

The library's ``ProjectionRunner`` commits once per event (about 780 events/s on PostgreSQL,
``NOTES.md``); here one transaction carries a whole batch (``batch_size`` events, default 5,000)
and one tracking write. The position is written only if the stored one is still where the batch
was read from (``ProjectionStore.advance_position``, a compare-and-set in the batch's
transaction), so if two projectors race (``project --follow`` and a ``report`` catching up), or a
batch is retried after its commit, the second batch is rolled back and the projector reads the
log again from the stored position: nothing is counted twice. A crash before the commit loses
the whole batch, rows and position together, and the next run starts again from the stored
position.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import structlog

from adapters.collector import cyclic_gc_paused
from adapters.crypto import keyless_mapper
from ledger.errors import LedgerError
from projections import schema
from projections.fold import BatchState, Owner, PersonalRow, event_date, fold, touched_people
from projections.store import PositionMoved, ProjectionStore

logger = structlog.get_logger()

# A batch pays a transaction and a statement per table besides its rows: over the 161,803 events of
# 20,000 people's enrolments and six months, the live projector fed 20,000 events at a time (a
# consumer's save) spent 14.6-15.3 CPU-seconds (its process and PostgreSQL's) in batches of 2,000,
# 13.9-14.6 in batches of 5,000 and 13.7-14.0 in batches of 10,000 (docs/benchmarks.md).
DEFAULT_BATCH_SIZE = 5_000
MAX_BATCH_SIZE = 100_000
LOAD_CHUNK = 500  # person ids per SELECT ... IN (...)
# Personal rows a projector keeps between batches (a row is about a kilobyte in memory): every
# account of a region of a quarter of a million people; a larger one reads what it lacks.
MAX_CACHED_ROWS = 250_000
READ_AHEAD_BATCHES = 2


def read_ahead(batches: Iterator[T], depth: int = READ_AHEAD_BATCHES) -> Generator[T, None, None]:
    """``batches``, produced by a thread up to ``depth`` ahead of the consumer. An error in the
    thread is raised where the batch would have been; leaving early stops the thread."""
    pending: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    done = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not done.is_set():
                    try:
                        pending.put(("batch", batch), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if done.is_set():
                    return
            pending.put(("end", None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            pending.put(("error", error))

    thread = threading.Thread(target=produce, name="projections-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = pending.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        done.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                pending.get(timeout=0.1)

EventFilter = Callable[[Any], bool]
T = TypeVar("T")


class ProjectionsAhead(LedgerError):
    code = "projections_ahead_of_log"


@dataclass
class CatchUp:
    start_position: int
    end_position: int
    events: int
    batches: int
    elapsed_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0


def on_or_before(day: date, region: str | None = None) -> EventFilter:
    """Events whose business date is on or before ``day`` (undated events always count), of
    ``region`` if given: what the books showed at the end of ``day``."""
    def keep(event: Any) -> bool:
        if region is not None and getattr(event, "region", region) != region:
            return False
        on = event_date(event)
        return on is None or on <= day
    return keep


def check_not_ahead(ledger: Any, store: ProjectionStore, prefix: str = schema.LIVE_PREFIX) -> int:
    """The tables' position, refusing tables that have applied more of the log than there is:
    they were built from another store (a demo run since, a database restored) and would show
    its figures. Reads only (a reader's check as well as the projector's)."""
    position, head = store.position(prefix), ledger.recorder.max_notification_id() or 0
    if position > head:
        raise ProjectionsAhead(
            "projections", f"the projections are at position {position} but the event log ends at {head}: they were built "
            f"from another store; rebuild them with `fund-ledger project --rebuild`", position=position, head=head)
    return position


def open_for_reading(ledger: Any, store: ProjectionStore, prefix: str = schema.LIVE_PREFIX) -> int:
    """For a reader (``report --no-catch-up``, the service): the tables' position once they are
    there, of this version's views (``ProjectionStore.check_readable``) and not ahead of the log.
    Unlike ``Projector``, makes nothing: the reader's role may own nothing."""
    store.check_readable(prefix)
    return check_not_ahead(ledger, store, prefix)


class Projector:
    """Keeps one prefixed set of projection tables up to date with a ledger's event log."""

    def __init__(self, ledger: Any, store: ProjectionStore, prefix: str = schema.LIVE_PREFIX,
                 batch_size: int = DEFAULT_BATCH_SIZE, event_filter: EventFilter | None = None) -> None:
        assert 0 < batch_size <= MAX_BATCH_SIZE, batch_size
        self.ledger = ledger
        self.store = store
        self.prefix = prefix
        self.batch_size = batch_size
        self.event_filter = event_filter
        # Called inside the transaction after the rows and before the commit (tests inject
        # crashes here).
        self.before_commit: Callable[[BatchState], None] | None = None
        # The personal rows as this projector last committed them, valid at ``_rows_position``:
        # a batch reads only the accounts it has not seen (see ``_load_people``).
        self._rows: OrderedDict[tuple[str, str], PersonalRow] = OrderedDict()
        self._rows_position: int | None = None
        # True while ``_rows`` holds every row of the tables (built from position 0 here, none
        # forgotten): an account it lacks is not in the tables either, and is not looked for.
        self._rows_complete = False
        # Whether this projector has had the personal rows' statistics taken before reading rows
        # back (``_load_people``).
        self._statistics_taken = False
        # A worker of a rebuild split by person (``projections.shards``) folds only its share.
        self.owner: Owner | None = None
        # Tables built from position 0 that nothing reads until the build ends (a replay's, a
        # rebuild's): a personal row is written once, when it leaves the rows kept or the
        # catch-up ends, not in every batch that moves it (a third of the database's work of
        # a rebuild). A failure leaves such tables to be dropped, as a rebuild does first.
        self.defer_personal_rows = False
        self._unwritten: set[tuple[str, str]] = set()  # rows kept that differ from the stored ones
        # Where the batch being applied was read from (``apply``), for the position's check.
        self._batch_after: int | None = None
        self._batch_first = 0
        store.ensure_tables(prefix)

    @property
    def position(self) -> int:
        return self.store.position(self.prefix)

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def batches(self, start: int, stop: int | None) -> Generator[list[tuple[int, Any]], None, None]:
        """Decoded events after ``start`` (through ``stop``), a batch at a time, read ahead: the
        next batch is read and decoded by a thread while this one is folded and written (reading
        and writing wait on the database, which lets the other run)."""
        return read_ahead(self._read_batches(start, stop))

    def _read_batches(self, start: int, stop: int | None) -> Iterator[list[tuple[int, Any]]]:
        position = start
        mapper = keyless_mapper(self.ledger.mapper)  # the fold reads no personal field (adapters.crypto)
        while True:
            notifications = self.ledger.recorder.select_notifications(
                start=position + 1, limit=self.batch_size, stop=stop)
            if not notifications:
                return
            yield [(n.id, mapper.to_domain_event(n)) for n in notifications]
            position = notifications[-1].id
            if stop is not None and position >= stop:
                return

    def check_not_ahead(self) -> None:
        """Refuse tables that have applied more of the log than there is (``check_not_ahead``)."""
        check_not_ahead(self.ledger, self.store, self.prefix)

    def catch_up(self, stop: int | None = None, progress: Callable[[int], None] | None = None, log_empty: bool = True) -> CatchUp:
        """Apply every event after the tracked position (through ``stop``, if given)."""
        started = time.perf_counter()
        self.check_not_ahead()
        start = position = self.position
        if position != self._rows_position:  # another projector moved these tables on: what we hold is stale
            self._forget_rows()
            self._rows_complete = position == 0
        events = batches = 0
        try:
            with cyclic_gc_paused():  # a batch's events would set off full collections (adapters.collector)
                while True:
                    try:
                        with contextlib.closing(self.batches(position, stop)) as reading:
                            for batch in reading:
                                self.apply_after(position, batch)
                                position = batch[-1][0]
                                events += len(batch)
                                batches += 1
                                if progress is not None:
                                    progress(position)
                        break
                    except PositionMoved as moved:
                        # Another projector committed these tables on: our batch was rolled back;
                        # read again from where they are now.
                        position = self.position
                        logger.info("projections.position_moved", prefix=self.prefix, read_after=moved.context.get("after"),
                                    stored=position)
                        if stop is not None and position >= stop:
                            break
            self._write_kept_rows()
        except BaseException:
            self._forget_rows()
            raise
        result = CatchUp(start, position, events, batches, time.perf_counter() - started)
        if events or log_empty:
                logger.info("projections caught up", prefix=self.prefix, start=start, end=position, events=events,
                        batches=batches, duration_ms=round(result.elapsed_s * 1000))
        return result

    def apply_after(self, after: int, batch: list[tuple[int, Any]]) -> BatchState:
        """``apply`` a batch read after position ``after``: written only if the tables are still
        there (else ``PositionMoved``, and nothing is written)."""
        self._batch_after = after
        return self.apply(batch)

    def apply(self, batch: list[tuple[int, Any]]) -> BatchState:
        """Fold one batch and write it with its position, in one transaction. The position is
        written only if the tables are still where the batch was read from (``apply_after``; or,
        without it, if no event of the batch is applied yet); else ``PositionMoved`` and nothing
        is written."""
        assert batch, "an empty batch has no position"
        self._batch_first = batch[0][0]
        kept = [(position, event) for position, event in batch if self.event_filter is None or self.event_filter(event)]
        people: set[tuple[str, str]] = set()
        for position, event in kept:
            people |= self._people_of(position, event)
        try:
            with self.store.transaction() as cursor:
                self.store.begin_batch(cursor, self.prefix)
                state = BatchState(personal=self._load_people(cursor, people))
                for position, event in kept:
                    fold(state, position, event, self._owner_of(event))
                state.last_position = batch[-1][0]
                self._write(cursor, state)
                if self.before_commit is not None:
                    self.before_commit(state)
        except BaseException:
            self._forget_rows()  # rows folded in a transaction that did not commit
            raise
        finally:
            self._batch_after = None
        self._remember_rows(state)
        return state

    def _people_of(self, position: int, event: Any) -> set[tuple[str, str]]:
        """The personal rows the event at ``position`` moves, of what this projector folds."""
        return touched_people(event, self._owner_of(event))

    def _owner_of(self, event: Any) -> Owner | None:
        """What this projector folds of ``event`` (``None``: all of it)."""
        return self.owner

    # ------------------------------------------------------------------ reading and writing rows
    def _load_people(self, cursor: Any, people: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PersonalRow]:
        """The stored rows of ``people``: those this projector committed last from memory, the
        others in one query per ``LOAD_CHUNK`` accounts."""
        loaded: dict[tuple[str, str], PersonalRow] = {}
        by_region: dict[str, list[str]] = {}
        for key in people:
            row = self._rows.get(key)
            if row is not None:
                loaded[key] = row
            elif not self._rows_complete:
                by_region.setdefault(key[0], []).append(key[1])
        table = f"{self.prefix}{schema.PERSONAL_BALANCES.name}"
        if by_region and not self._statistics_taken:
            # The first rows read back come from a table this projector has filled, often a new one
            # (a replay's, a new database's) that autovacuum has not analysed yet: planned blind, a
            # read of 500 ids scanned every row of the region. Statistics first, once.
            self.store.take_statistics(table)
            self._statistics_taken = True
        for region, person_ids in by_region.items():
            person_ids.sort()
            for start in range(0, len(person_ids), LOAD_CHUNK):
                chunk = person_ids[start:start + LOAD_CHUNK]
                marks = ", ".join("?" * len(chunk))
                for stored in self.store.fetch(cursor, f"SELECT * FROM {table} WHERE region = ? AND person_id IN ({marks})",
                                               (region, *chunk)):
                    loaded[(region, stored["person_id"])] = PersonalRow.from_stored(stored)
        return loaded

    def _remember_rows(self, state: BatchState) -> None:
        """Keep the rows just committed (at most ``MAX_CACHED_ROWS``, the least recently used
        forgotten first), and roll the kept rows of a region whose year closed in the batch as
        the committed ``UPDATE`` did."""
        for region, year in state.year_rolls:
            for key, row in self._rows.items():
                if key[0] == region and key not in state.personal:
                    row.roll_into(year + 1)
        for key, row in state.personal.items():
            self._rows[key] = row
            self._rows.move_to_end(key)
        if self.defer_personal_rows:
            self._unwritten.update(state.personal)
        leaving = {}
        while len(self._rows) > MAX_CACHED_ROWS:
            key, row = self._rows.popitem(last=False)
            leaving[key] = row
            self._rows_complete = False
        self._write_rows_leaving(leaving)
        self._rows_position = state.last_position

    def _write_rows_leaving(self, leaving: dict[tuple[str, str], PersonalRow]) -> None:
        """Rows forgotten that were never written: written now, as they are (deferred rows only)."""
        unwritten = [row.as_values() for key, row in leaving.items() if key in self._unwritten]
        if unwritten:
            with self.store.transaction() as cursor:
                self._upsert(cursor, schema.PERSONAL_BALANCES, unwritten, replace=True)
        self._unwritten.difference_update(leaving)

    def _write_kept_rows(self) -> None:
        """Write the kept rows not written yet (a catch-up's end, with ``defer_personal_rows``)."""
        if not self._unwritten:
            return
        rows = [self._rows[key].as_values() for key in sorted(self._unwritten)]
        with self.store.transaction() as cursor:
            self._upsert(cursor, schema.PERSONAL_BALANCES, rows, replace=True)
        self._unwritten.clear()

    def _forget_rows(self) -> None:
        self._unwritten.clear()
        self._rows.clear()
        self._rows_position = None
        self._rows_complete = False

    def _write(self, cursor: Any, state: BatchState) -> None:
        p, store = self.prefix, self.store
        for region, year in state.year_rolls:
            self._roll_stored_rows(cursor, region, year)
        if not self.defer_personal_rows:
            self._upsert(cursor, schema.PERSONAL_BALANCES, [row.as_values() for row in state.personal.values()], replace=True)
        store.copy_rows(cursor, p + schema.PERSONAL_STATEMENTS.name, schema.PERSONAL_STATEMENTS.column_names, state.statements)
        self._upsert(cursor, schema.ACCOUNT_BALANCES, [(*key, *values) for key, values in sorted(state.accounts.items())])
        self._upsert(cursor, schema.ACCOUNT_FLOWS, [(*key, *values) for key, values in sorted(state.flows.items())])
        for kind, table in (("income", schema.INCOME), ("expenditure", schema.EXPENDITURE), ("transfer", schema.TRANSFERS)):
            self._upsert(cursor, table, [(*key, *values) for key, values in sorted(state.lines[kind].items())])
        self._upsert(cursor, schema.ACCOUNT_DAILY, [(*key, *values) for key, values in sorted(state.daily.items())])
        store.upsert_rows(cursor, p + schema.BUDGETS.name, schema.BUDGETS.column_names, [
            (*key, b["approved_fen"], b["adjusted_fen"], b["budget_fen"], b["budget_kind"], b["business_date"], b["position"])
            for key, b in sorted(state.budgets.items())
        ], _budget_conflict(p))
        for folded in schema.FOLDED_TABLES:
            store.upsert_rows(cursor, p + folded.name, folded.column_names, state.folded_rows(folded), schema.conflict_sql(p, folded))
        self._write_position(cursor, state.last_position)

    def _roll_stored_rows(self, cursor: Any, region: str, year: int) -> None:
        """The year closed: the stored rows of the region not rolled yet (of ``_people_to_roll``)
        are rolled as ``PersonalRow.roll_into``."""
        people = self._people_to_roll(region)
        if people == []:
            return
        only = "" if people is None else " AND person_id = ANY(?)"
        self.store.execute(cursor, f"UPDATE {self.prefix}personal_balances SET carried_over_fen = carried_over_fen + current_year_fen, "
                                   f"current_year_fen = 0, current_year = ? WHERE region = ?{only} "
                                   "AND (current_year IS NULL OR current_year <= ?)",
                           (year + 1, region, *([] if people is None else [people]), year))

    def _people_to_roll(self, region: str) -> list[str] | None:
        """Whose stored rows a year's close rolls here: ``None``, everyone's."""
        return None

    def _write_position(self, cursor: Any, position: int) -> None:
        """The batch's position, if the tables are still where the batch was read from."""
        self.store.advance_position(cursor, self.prefix, self._batch_after, position, self._batch_first)

    def _upsert(self, cursor: Any, table: schema.Table, rows: list[tuple[Any, ...]], replace: bool = False) -> None:
        """Insert ``rows``; on an existing key add the deltas (``replace``: overwrite the values)."""
        name = self.prefix + table.name
        if replace:
            updates = ", ".join(f"{column} = excluded.{column}" for column in table.value_names)
        else:
            updates = ", ".join(f"{column} = {name}.{column} + excluded.{column}" for column in table.value_names)
        self.store.upsert_rows(cursor, name, table.column_names, rows, f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}")


def _budget_conflict(prefix: str) -> str:
    """A budget line replaces the budget; the approved and adjusted figures each keep their
    latest value."""
    name = prefix + schema.BUDGETS.name
    return ("ON CONFLICT (region, fund, year, item) DO UPDATE SET "
            f"approved_fen = COALESCE(excluded.approved_fen, {name}.approved_fen), "
            f"adjusted_fen = COALESCE(excluded.adjusted_fen, {name}.adjusted_fen), "
            "budget_fen = excluded.budget_fen, budget_kind = excluded.budget_kind, "
            "business_date = excluded.business_date, position = excluded.position")


# ---------------------------------------------------------------------------- following the log
POLL_INTERVAL_S = 0.5
MAX_BACKOFF_S = 30.0
HEARTBEAT_S = 60.0
# How much lower the live projector's CPU priority is than the processes it follows (nice(1):
# 0 to 19). The ingest (the consumer) is the path every message waits on; the projection may lag
# by a batch. When both want a core, the kernel gives the consumer about three times the
# projector's share at 5; with a core to spare, nothing changes. docs/benchmarks.md has the
# measure: the consumer's time waiting for a CPU, and the lines a second, with and without it.
FOLLOW_NICENESS = 5


def yield_cpu(niceness: int) -> int | None:
    """Lower the calling thread's CPU priority by ``niceness`` (the threads it starts after inherit
    it; on Linux a priority is a thread's, so calling it first thing in a process lowers the
    process). The niceness it now runs at; None when ``niceness`` is 0 (nothing changed) or where
    the system does not allow it (logged)."""
    import os

    if niceness == 0:
        return None
    thread_id = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, thread_id) + niceness
        os.setpriority(os.PRIO_PROCESS, thread_id, min(now, 19))
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except (AttributeError, OSError) as error:  # not a Unix, or refused
        logger.warning("projections.priority_unchanged", niceness=niceness, error=type(error).__name__, detail=str(error))
        return None


def unreachable(error: BaseException) -> bool:
    """An error that a database coming back cures: a lost connection, a restart, a pool timeout."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout))


@dataclass
class Follower:
    """Keeps the projections live: catch up, wait ``poll_interval_s``, again, until ``stop`` is
    set. Short polling (one ``max(notification_id)`` and one tracking read per interval) works on
    both stores; a database that goes away (a restart, a failover) is waited for with a growing
    back-off, logged as ``projections.waiting``, and the pool's checked connections resume."""

    projector: Projector
    poll_interval_s: float = POLL_INTERVAL_S
    max_backoff_s: float = MAX_BACKOFF_S
    heartbeat_s: float = HEARTBEAT_S
    on_progress: Callable[[int, int], None] | None = None  # (position, head) after events were applied, and at each heartbeat

    def run(self, stop: Any) -> int:
        """Follow until ``stop`` (a ``threading.Event``) is set; the events applied."""
        applied, backoff_s, last_heartbeat = 0, self.poll_interval_s, time.monotonic()
        while not stop.is_set():
            try:
                result = self.projector.catch_up(log_empty=False)
                head = self.projector.head()
            except Exception as error:  # noqa: BLE001 - only what a database restart cures is waited out
                if not unreachable(error):
                    raise
                logger.warning("projections.waiting", reason="the database cannot be reached", error=type(error).__name__,
                               retry_in_s=backoff_s)
                stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, self.max_backoff_s)
                continue
            backoff_s = self.poll_interval_s
            applied += result.events
            now = time.monotonic()
            if result.events or now - last_heartbeat >= self.heartbeat_s:
                logger.info("projections.following", position=result.end_position, head=head,
                            lag_events=max(0, head - result.end_position), applied=result.events)
                if self.on_progress is not None:
                    self.on_progress(result.end_position, head)
                last_heartbeat = now
            stop.wait(self.poll_interval_s)
        return applied
