"""Saving behind: a batch's save written while the consumer applies the next batch.

A consumer's batch is work in this process (parsing, applying, encoding), then a wait while the
store writes it (the server's inserts, index updates and commit, on the other core). With
``SaveBehind``, the save a unit of work prepared (``UnitOfWork.prepare``: its events and
snapshots encoded as the aggregates were) is written by one background thread while the applying
thread goes on with the next batch, which finds the accounts of the one before in the cache as
that one left them.

What keeps it exactly once:

- Saves are written one at a time, by one thread, in the order they were made, at most
  ``MAX_IN_FLIGHT`` handed over at once. The positions of a partition commit in order, each with
  its events, as before.
- A save counts (``on_saved``: the consumer adds it to its figures and notes its Kafka offset)
  only once it is written.
- A save that fails takes with it what was built on it: its error is raised by the next
  ``submit`` or ``wait``, no save after it is written (``SaveAbandoned``), and the whole cache is
  forgotten (``Ledger.forget``), so that what is applied again starts from the store. The consumer then
  reads every partition again from the position recorded with its events.
- The consumer waits for the saves in flight (``wait``) when it has nothing more to apply, before
  its partitions are revoked, and when it stops.
- Until a save is written, its aggregates stay in the cache (``Ledger.note_unwritten``) even when
  the store names them as written by others since it last looked: it can name the process's own
  save, committed by the writing thread just before it noted its own position, and an aggregate
  read again then would lack the changes of the save after it, still unwritten (a clean clone's
  test run met it: the next save refused on a version of its own making). And an aggregate not
  in the cache (a refused command puts its accounts back by reading them again) is read from the
  store only once the saves in flight are written (``Ledger.before_reading``).

Whatever the write runs into, the store's own checks still hold: a save built on an account the
save before it changed, read from the store before that one was written, fails on its version.

On a store whose connections belong to one thread (SQLite, the embedded default; the recorder
does not say ``writes_from_any_thread``) each save is written at once, in the applying thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from eventsourcing.persistence import IntegrityError, PersistenceError

from consumers.faults import NO_FAULTS, Faults
from ledger.application import Ledger
from ledger.unit_of_work import PreparedSave


def writes_in_background(ledger: Ledger) -> bool:
    """Whether the ledger's store may be written from another thread than the one applying."""
    return bool(getattr(ledger.recorder, "writes_from_any_thread", False))


class SaveAbandoned(PersistenceError):
    """Not written: a save before it failed, and this one was built on it."""


# Saves handed over and not yet counted, at most: a batch larger than one save leaves a small last
# save (the rest of its partition's records) that would otherwise wait for the large one before it.
MAX_IN_FLIGHT = 2


class SaveBehind:
    def __init__(self, ledger: Ledger, background: bool | None = None, faults: Faults = NO_FAULTS) -> None:
        self.ledger = ledger
        self.faults = faults
        self.background = writes_in_background(ledger) if background is None else background
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="save-behind") if self.background else None
        self._in_flight: deque[tuple[Future[None], PreparedSave, Callable[[], None]]] = deque()
        self._failed = threading.Event()  # set by the writing thread: the saves after the failed one are not written
        if self._executor is not None:
            ledger.wait_for_saves = self.wait  # the store read for an unwritten aggregate waits for them

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def submit(self, prepared: PreparedSave, on_saved: Callable[[], None]) -> None:
        """Write ``prepared`` (in the background if it may be), then call ``on_saved``. The saves
        before it that are written are counted first; if one of them failed, its error is raised
        here: ``prepared``, built on it, is dropped, and the cache forgotten. Waits for the
        oldest save while ``MAX_IN_FLIGHT`` are handed over."""
        self._count_written(block=False)
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            self._count_oldest()
        if self._executor is None:
            try:
                self._write(prepared)
            except BaseException:
                self.ledger.forget(prepared.aggregate_ids)
                raise
            self._confirm(prepared, on_saved)
            return
        self.ledger.note_unwritten(prepared.aggregate_ids)
        self._in_flight.append((self._executor.submit(self._write, prepared), prepared, on_saved))

    def wait(self) -> None:
        """Every save handed over written and counted, in order, or the first failure's error
        raised with everything in memory forgotten (later batches were applied on what it would
        have stored; the saves after it are not written)."""
        self._count_written(block=True)

    def close(self) -> None:
        """Wait for the saves in flight (raising a failure's error), then stop the writing thread."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                if self.ledger.wait_for_saves == self.wait:
                    self.ledger.wait_for_saves = None

    def _count_written(self, block: bool) -> None:
        while self._in_flight and (block or self._in_flight[0][0].done()):
            self._count_oldest()

    def _count_oldest(self) -> None:
        future, prepared, on_saved = self._in_flight.popleft()
        try:
            future.result()
        except BaseException:
            self.ledger.note_written(prepared.aggregate_ids)
            for later, later_prepared, _ in self._in_flight:
                if not later.cancel():  # started: it fails at once (SaveAbandoned); waited for
                    later.exception()
                self.ledger.note_written(later_prepared.aggregate_ids)
            self._in_flight.clear()
            self._failed.clear()
            self.ledger.forget()
            raise
        self.ledger.note_written(prepared.aggregate_ids)
        self._confirm(prepared, on_saved)

    def _write(self, prepared: PreparedSave) -> None:
        if self._failed.is_set():
            raise SaveAbandoned("not written: the save before it failed")
        try:
            self.faults.reached("kill_while_saving")
            if self.faults.fails("fail_while_saving"):
                raise IntegrityError("fault injected: the store refused this save (FUND_LEDGER_FAULTS=fail_while_saving)")
            self.ledger.write_save(prepared)
        except BaseException:
            if self._executor is not None:
                self._failed.set()
            raise

    def _confirm(self, prepared: PreparedSave, on_saved: Callable[[], None]) -> None:
        self.ledger.confirm_save(prepared)
        on_saved()
