"""Saving behind: a batch's save written while the consumer applies the next batch.

A consumer's batch is work in this process (parsing, applying, encoding), then a wait while the
store writes it (the server's inserts, index updates and commit, on the other core). With
``SaveBehind``, the save a unit of work prepared (``UnitOfWork.prepare``: its events and
snapshots encoded as the aggregates were) is written by one background thread while the applying
thread goes on with the next batch, which finds the accounts of the one before in the cache as
that one left them.

What keeps it exactly once:

- At most one save is in flight, and saves are written in the order they were made: the next is
  handed over only once the one before it is written (``submit`` waits for it). The positions of
  a partition commit in order, each with its events, as before.
- A save counts (``on_saved``: the consumer adds it to its figures and notes its Kafka offset)
  only once it is written.
- A save that fails takes with it what was built on it: its error is raised by the next
  ``submit`` or ``wait``, nothing after it is written, and the whole cache is forgotten
  (``Ledger.forget``), so that what is applied again starts from the store. The consumer then
  reads every partition again from the position recorded with its events.
- The consumer waits for the save in flight (``wait``) when it has nothing more to apply, before
  its partitions are revoked, and when it stops.

Whatever the write runs into, the store's own checks still hold: a save built on an account the
save before it changed, read from the store before that one was written, fails on its version.

On a store whose connections belong to one thread (SQLite, the embedded default; the recorder
does not say ``writes_from_any_thread``) each save is written at once, in the applying thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from eventsourcing.persistence import IntegrityError

from consumers.faults import NO_FAULTS, Faults
from ledger.application import Ledger
from ledger.unit_of_work import PreparedSave


def writes_in_background(ledger: Ledger) -> bool:
    """Whether the ledger's store may be written from another thread than the one applying."""
    return bool(getattr(ledger.recorder, "writes_from_any_thread", False))


class SaveBehind:
    def __init__(self, ledger: Ledger, background: bool | None = None, faults: Faults = NO_FAULTS) -> None:
        self.ledger = ledger
        self.faults = faults
        self.background = writes_in_background(ledger) if background is None else background
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="save-behind") if self.background else None
        self._in_flight: tuple[Future[None], PreparedSave, Callable[[], None]] | None = None

    @property
    def in_flight(self) -> bool:
        return self._in_flight is not None

    def submit(self, prepared: PreparedSave, on_saved: Callable[[], None]) -> None:
        """Write ``prepared`` (in the background if it may be), then call ``on_saved``. Waits
        first for the save before it, and raises that one's error if it failed: ``prepared``,
        built on it, is then dropped, and the cache forgotten."""
        self.wait()
        if self._executor is None:
            try:
                self._write(prepared)
            except BaseException:
                self.ledger.forget(prepared.aggregate_ids)
                raise
            self._confirm(prepared, on_saved)
            return
        self._in_flight = (self._executor.submit(self._write, prepared), prepared, on_saved)

    def wait(self) -> None:
        """The save in flight written and counted, or its error raised with everything in memory
        forgotten (later batches were applied on what it would have stored)."""
        if self._in_flight is None:
            return
        future, prepared, on_saved = self._in_flight
        self._in_flight = None
        try:
            future.result()
        except BaseException:
            self.ledger.forget()
            raise
        self._confirm(prepared, on_saved)

    def close(self) -> None:
        """Wait for the save in flight (raising its error), then stop the writing thread."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    def _write(self, prepared: PreparedSave) -> None:
        self.faults.reached("kill_while_saving")
        if self.faults.fails("fail_while_saving"):
            raise IntegrityError("fault injected: the store refused this save (FUND_LEDGER_FAULTS=fail_while_saving)")
        self.ledger.write_save(prepared)

    def _confirm(self, prepared: PreparedSave, on_saved: Callable[[], None]) -> None:
        self.ledger.confirm_save(prepared)
        on_saved()
