"""A unit of work: several use cases, one atomic save.

Saving once per message gives a few hundred events a second on PostgreSQL (``NOTES.md``); saving
a batch of commands together gives tens of thousands. A ``UnitOfWork`` holds every aggregate the
batch touched, so later commands in the batch see earlier ones' effects, and ``commit`` writes
all their events in one transaction, optionally with a tracking record (e.g. a Kafka offset)
so the position and the events it caused commit together.

Each command runs inside ``command()``: if it raises, the aggregates it touched are restored to
what they were before it, and the rest of the batch goes on. A rejected command leaves nothing.
Restoring costs nothing on the happy path: per command, the unit notes only the number of
pending events of each aggregate the command touched. A failed command's aggregates are evicted
from the repository's cache, loaded again from the store, and given back the pending events of
the commands before it. (The ledger runs with ``DEEPCOPY_FROM_AGGREGATE_CACHE=n``: the cache
hands out its own objects, so whatever does not get saved must leave the cache.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking

if TYPE_CHECKING:
    from ledger.core import CoreLedger as Ledger

A = TypeVar("A", bound=Aggregate)

MAX_AGGREGATES_PER_UNIT = 500_000


class UnitOfWork:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.aggregates: dict[UUID, Aggregate] = {}
        self._created: set[UUID] = set()
        # Per command: each touched aggregate's pending-event count at the start (None: new to the unit).
        self._marks: dict[UUID, int | None] | None = None

    def get(self, aggregate_id: UUID, kind: type[A]) -> A:
        """The aggregate as this unit of work sees it (raises ``AggregateNotFoundError``)."""
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None:
            aggregate = self.ledger.repository.get(aggregate_id)
            self._mark(aggregate_id, None)
            self.aggregates[aggregate_id] = aggregate
        else:
            self._mark(aggregate_id, len(aggregate.pending_events))
        assert isinstance(aggregate, kind), (aggregate_id, type(aggregate), kind)
        return aggregate

    def find(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        try:
            return self.get(aggregate_id, kind)
        except AggregateNotFoundError:
            return None

    def add(self, aggregate: Aggregate) -> None:
        """A newly created aggregate."""
        assert aggregate.id not in self.aggregates, aggregate.id
        assert len(self.aggregates) < MAX_AGGREGATES_PER_UNIT, "unit of work too large"
        self._mark(aggregate.id, None)
        self._created.add(aggregate.id)
        self.aggregates[aggregate.id] = aggregate

    def _mark(self, aggregate_id: UUID, pending_count: int | None) -> None:
        if self._marks is not None and aggregate_id not in self._marks:
            self._marks[aggregate_id] = pending_count

    @contextmanager
    def command(self) -> Iterator[None]:
        """Run one command atomically within the unit: all its changes, or none.

        Re-entrant: a command opened inside another (a consumer wrapping a use case with its
        duplicate check and provenance record) joins it, so a failure anywhere rolls back the
        outer command as a whole, and only it.
        """
        if self._marks is not None:
            yield
            return
        self._marks = {}
        try:
            yield
        except BaseException:
            for aggregate_id, pending_count in self._marks.items():
                self._restore(aggregate_id, pending_count)
            raise
        finally:
            self._marks = None

    def _restore(self, aggregate_id: UUID, pending_count: int | None) -> None:
        """Put an aggregate back as it was before the failed command."""
        failed = self.aggregates.pop(aggregate_id, None)
        self._evict(aggregate_id)
        if pending_count is None or failed is None:
            self._created.discard(aggregate_id)
            return
        kept = failed.pending_events[:pending_count]
        aggregate: Aggregate | None = None
        if aggregate_id not in self._created:
            aggregate = self.ledger.repository.get(aggregate_id)
            self._evict(aggregate_id)  # the rebuilt object will hold unsaved events: keep it out of the cache
        for event in kept:
            aggregate = event.mutate(aggregate)  # type: ignore[assignment]
        assert aggregate is not None
        aggregate.pending_events.extend(kept)
        self.aggregates[aggregate_id] = aggregate

    def _evict(self, aggregate_id: UUID) -> None:
        cache = self.ledger.repository.cache
        if cache is not None:
            with suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def pending_versions(self) -> dict[UUID, int]:
        """Each aggregate's version now; compare later with ``events_since``."""
        return {aggregate_id: aggregate.version for aggregate_id, aggregate in self.aggregates.items()}

    def events_since(self, versions: dict[UUID, int]) -> list[tuple[str, int]]:
        """(aggregate id, version) of every event recorded since ``pending_versions()``."""
        caused = []
        for aggregate_id, aggregate in self.aggregates.items():
            for event in aggregate.pending_events:
                if event.originator_version > versions.get(aggregate_id, 0):
                    caused.append((str(aggregate_id), event.originator_version))
        return caused

    @property
    def pending_event_count(self) -> int:
        return sum(len(a.pending_events) for a in self.aggregates.values())

    def commit(self, tracking: Tracking | None = None, **kwargs: Any) -> int:
        """Write every pending event in one transaction. Returns the number of events. If the
        write fails, nothing of this unit stays in the cache."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking)
        processing_event.collect_events(*self.aggregates.values(), **kwargs)
        try:
            if processing_event.events or tracking is not None:
                recordings = self.ledger._record(processing_event)
                self.ledger._take_snapshots(processing_event)
                self.ledger._notify(recordings)
        except BaseException:
            self.discard()
            raise
        self.aggregates.clear()
        self._created.clear()
        return len(processing_event.events)

    def discard(self) -> None:
        """Drop everything this unit did: nothing is written, nothing stays in the cache."""
        for aggregate_id in self.aggregates:
            self._evict(aggregate_id)
        self.aggregates.clear()
        self._created.clear()
