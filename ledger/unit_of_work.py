"""A unit of work: several use cases, one atomic save.

Saving once per message gives a few hundred events a second on PostgreSQL (``NOTES.md``); saving
a batch of commands together gives tens of thousands. A ``UnitOfWork`` holds every aggregate the
batch touched, so later commands in the batch see earlier ones' effects, and ``commit`` writes
all their events in one transaction, optionally with a tracking record (e.g. a Kafka offset)
so the position and the events it caused commit together.

Each command runs inside ``command()``: if it raises, the aggregates it touched are restored to
what they were before it, and the rest of the batch goes on. A rejected command leaves nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking

if TYPE_CHECKING:
    from ledger.application import Ledger

A = TypeVar("A", bound=Aggregate)

MAX_AGGREGATES_PER_UNIT = 500_000


class UnitOfWork:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.aggregates: dict[UUID, Aggregate] = {}
        self._before: dict[UUID, Aggregate | None] | None = None

    def get(self, aggregate_id: UUID, kind: type[A]) -> A:
        """The aggregate as this unit of work sees it (raises ``AggregateNotFoundError``)."""
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None:
            aggregate = self.ledger.repository.get(aggregate_id)
            self.aggregates[aggregate_id] = aggregate
        self._remember(aggregate_id, aggregate)
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
        self._remember(aggregate.id, None)
        self.aggregates[aggregate.id] = aggregate

    def _remember(self, aggregate_id: UUID, aggregate: Aggregate | None) -> None:
        if self._before is not None and aggregate_id not in self._before:
            self._before[aggregate_id] = copy.deepcopy(aggregate)

    @contextmanager
    def command(self) -> Iterator[None]:
        """Run one command atomically within the unit: all its changes, or none."""
        assert self._before is None, "commands do not nest"
        self._before = {}
        try:
            yield
        except BaseException:
            for aggregate_id, before in self._before.items():
                if before is None:
                    self.aggregates.pop(aggregate_id, None)
                else:
                    self.aggregates[aggregate_id] = before
            raise
        finally:
            self._before = None

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
        """Write every pending event in one transaction. Returns the number of events."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking)
        processing_event.collect_events(*self.aggregates.values(), **kwargs)
        if not processing_event.events and tracking is None:
            return 0
        recordings = self.ledger._record(processing_event)
        self.ledger._take_snapshots(processing_event)
        self.ledger._notify(recordings)
        self.aggregates.clear()
        return len(processing_event.events)
