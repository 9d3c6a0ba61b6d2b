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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording, StoredEvent, Tracking

from ledger.aggregates import BusinessRecord, PersonalAccount
from ledger.errors import SnapshotUnusable

if TYPE_CHECKING:
    from ledger.core import CoreLedger as Ledger

A = TypeVar("A", bound=Aggregate)

MAX_AGGREGATES_PER_UNIT = 500_000

logger = structlog.get_logger()


def worth_caching(aggregate: Aggregate) -> bool:
    """Whether the repository's cache should keep ``aggregate`` once saved. A business record
    (a message's provenance with every event it caused, a remittance's outcome) is written once
    and read again only when its id comes back as a duplicate: kept, the records of every
    message ever applied would fill the cache (a remittance's record holds its 200 lines' events)
    and push out the accounts the next batch needs."""
    return not isinstance(aggregate, BusinessRecord)


class EventWriter(Protocol):
    """An event store whose save is two steps: the ledger's (``adapters.crypto.TwoStepEventStore``)."""

    def encode(self, domain_events: Sequence[Any]) -> list[StoredEvent]: ...

    def write(self, domain_events: Sequence[Any], stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[Recording[UUID]]: ...


@dataclass
class PreparedSave:
    """A unit of work's save, encoded (``UnitOfWork.prepare``): its events and tracking record as
    the library's ``ProcessingEvent``, their stored form, the personal accounts' snapshots to
    write after them, and every aggregate the unit held (what leaves the cache if the write fails)."""

    processing_event: ProcessingEvent[UUID]
    stored_events: list[StoredEvent]
    account_snapshots: list[StoredEvent]
    aggregate_ids: list[UUID]
    recordings: list[Recording[UUID]] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len(self.stored_events)


class UnitOfWork:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.aggregates: dict[UUID, Aggregate] = {}
        self._created: set[UUID] = set()
        self._missing: set[UUID] = set()  # known, from a prefetch, not to exist in the store
        # Every access, with the aggregate's version at that moment: what ``events_since`` reads.
        self._accesses: list[tuple[UUID, int]] = []
        # Per command: each touched aggregate's pending-event count at the start (None: new to the unit).
        self._marks: dict[UUID, int | None] | None = None
        # When the order being applied was issued (a message's ``occurred_at``): ``ledger.bounds``
        # holds its business dates to a window after it. None for orders given directly.
        self.reported_at: datetime | None = None
        # ``pending_event_count`` kept up to date from the accesses since it last counted.
        self._pending_counts: dict[UUID, int] = {}
        self._pending_total = 0
        self._counted_accesses = 0
        self._restored: set[UUID] = set()

    @contextmanager
    def reported(self, at: datetime) -> Iterator[None]:
        """Apply the commands inside the block as orders issued ``at``."""
        self.reported_at = at
        try:
            yield
        finally:
            self.reported_at = None

    def get(self, aggregate_id: UUID, kind: type[A]) -> A:
        """The aggregate as this unit of work sees it (raises ``AggregateNotFoundError``)."""
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None:
            if aggregate_id in self._missing:
                raise AggregateNotFoundError(aggregate_id)
            self.ledger.before_reading((aggregate_id,))
            aggregate = self.ledger.repository.get(aggregate_id)
            if not worth_caching(aggregate):
                self._evict(aggregate_id)
            self._mark(aggregate_id, None)
            self.aggregates[aggregate_id] = aggregate
        else:
            self._mark(aggregate_id, len(aggregate.pending_events))
        self._accesses.append((aggregate_id, aggregate.version))
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
        self._missing.discard(aggregate.id)
        self._accesses.append((aggregate.id, 0))
        self.aggregates[aggregate.id] = aggregate

    def prefetch(self, aggregate_ids: Iterable[UUID], start_from: Mapping[UUID, Aggregate | None] | None = None) -> None:
        """Load, in two round trips to the store at most, every aggregate of ``aggregate_ids``
        this unit does not hold yet: those in the cache are brought up to date with the events
        stored after them (unless the store vouches that the cache is current, having named what
        others wrote since: ``CoreLedger.cache_is_current``; a save on a stale aggregate would
        still fail on its version), the others are rebuilt from their last snapshot (one query for all of
        them, their keys read ahead together) and the events after it (one query for all), and
        those with neither are remembered as not existing. Later ``get``/``find`` of these ids
        cost no query. Meant for the many small aggregates of a batch (personal accounts,
        business records). ``start_from``: aggregates as of some version (an account from its
        enrolment, read already), folded on from the events after it when neither this unit nor
        the cache holds them; never trusted as current (only the cache is, and only what it
        holds is current)."""
        cache = self.ledger.repository.cache
        ids = [i for i in dict.fromkeys(aggregate_ids) if i not in self.aggregates and i not in self._missing]
        if not ids:
            return
        current = cache is not None and self.ledger.cache_is_current()  # (evicts what others wrote)
        wanted: dict[UUID, Aggregate | None] = {}
        up_to_date: set[UUID] = set()
        for aggregate_id in ids:
            cached = None
            if cache is not None:
                with suppress(KeyError):
                    cached = cache.get(aggregate_id)
            if cached is not None:
                if current:
                    up_to_date.add(aggregate_id)
            elif start_from is not None:
                cached = start_from.get(aggregate_id)
            wanted[aggregate_id] = cached  # type: ignore[assignment]
        self.ledger.before_reading(aggregate_id for aggregate_id, held in wanted.items() if held is None)
        self._from_snapshots(wanted)
        to_read = {i: (a.version if a is not None else 0) for i, a in wanted.items() if i not in up_to_date}
        stored = self.ledger.events_after(to_read) if to_read else {}
        for aggregate_id, aggregate in wanted.items():
            for stored_event in stored.get(aggregate_id, ()):
                aggregate = self.ledger.mapper.to_domain_event(stored_event).mutate(aggregate)  # type: ignore[attr-defined]
            if aggregate is None:
                self._missing.add(aggregate_id)
                continue
            if cache is not None and worth_caching(aggregate):
                cache.put(aggregate_id, aggregate)
            self._mark(aggregate_id, None)
            self.aggregates[aggregate_id] = aggregate

    def _from_snapshots(self, wanted: dict[UUID, Aggregate | None]) -> None:
        """The aggregates of ``wanted`` not held anywhere, from their last snapshots, in place."""
        cold = [aggregate_id for aggregate_id, held in wanted.items() if held is None]
        if not cold:
            return
        self.ledger.warm_keys(cold)  # their snapshots and events open with their keys: read ahead together
        latest_snapshots = self.ledger.latest_snapshots
        if latest_snapshots is None:
            return
        for aggregate_id, stored in latest_snapshots(cold).items():
            try:
                wanted[aggregate_id] = self.ledger.aggregate_from_snapshot(stored)
            except Exception as error:  # noqa: BLE001 (only a shortcut: the aggregate is folded from its events instead)
                SnapshotUnusable.of(error, aggregate_id, stored.originator_version).log()

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
        self._restored.add(aggregate_id)
        failed = self.aggregates.pop(aggregate_id, None)
        self._evict(aggregate_id)
        if pending_count is None or failed is None:
            if aggregate_id in self._created:
                self._missing.add(aggregate_id)
            self._created.discard(aggregate_id)
            return
        kept = failed.pending_events[:pending_count]
        aggregate: Aggregate | None = None
        if aggregate_id not in self._created:
            self.ledger.before_reading((aggregate_id,))
            aggregate = self.ledger.repository.get(aggregate_id)
            self._evict(aggregate_id)  # the rebuilt object will hold unsaved events: keep it out of the cache
        for event in kept:
            aggregate = event.mutate(aggregate)  # type: ignore[assignment]
        assert aggregate is not None
        aggregate.pending_events.extend(kept)
        self.aggregates[aggregate_id] = aggregate

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        """Take these aggregates out of the repository's cache (e.g. after saving a chunk of a long
        run, which will not touch them again: the cache then holds one chunk at a time)."""
        self.ledger.forget(aggregate_ids)

    def _evict(self, aggregate_id: UUID) -> None:
        self.ledger.forget((aggregate_id,))

    def pending_versions(self) -> int:
        """A checkpoint to give ``events_since`` later (costs nothing, however large the unit)."""
        return len(self._accesses)

    def events_since(self, checkpoint: int) -> list[tuple[str, int]]:
        """(aggregate id, version) of every event recorded since ``checkpoint``. Events are only
        recorded on aggregates reached through this unit, so the aggregates accessed since then,
        from the version each had when first accessed, are all there is to look at."""
        first_seen: dict[UUID, int] = {}
        for aggregate_id, version in self._accesses[checkpoint:]:
            first_seen.setdefault(aggregate_id, version)
        caused = []
        for aggregate_id, version in first_seen.items():
            aggregate = self.aggregates.get(aggregate_id)
            if aggregate is None:
                continue
            for event in aggregate.pending_events:
                if event.originator_version > version:
                    caused.append((str(aggregate_id), event.originator_version))
        return caused

    @property
    def pending_event_count(self) -> int:
        """The events this unit would save. Counted again only for the aggregates reached (or
        restored after a failed command) since the last count: events are only triggered on
        aggregates reached through the unit, so the others have not changed. (Summed over every
        aggregate, a consumer's check every ten messages cost some 3% of its CPU.)"""
        changed = {aggregate_id for aggregate_id, _ in self._accesses[self._counted_accesses:]} | self._restored
        self._counted_accesses = len(self._accesses)
        self._restored.clear()
        for aggregate_id in changed:
            aggregate = self.aggregates.get(aggregate_id)
            count = len(aggregate.pending_events) if aggregate is not None else 0
            self._pending_total += count - self._pending_counts.get(aggregate_id, 0)
            self._pending_counts[aggregate_id] = count
        return self._pending_total

    def commit(self, tracking: Tracking | None = None, **kwargs: Any) -> int:
        """Write every pending event in one transaction. Returns the number of events. If the
        write fails, nothing of this unit stays in the cache."""
        prepared = self.prepare(tracking, **kwargs)
        try:
            self.ledger.write_save(prepared)
        except BaseException:
            self.ledger.forget(prepared.aggregate_ids)
            raise
        self.ledger.confirm_save(prepared)
        return prepared.events

    def prepare(self, tracking: Tracking | None = None, **kwargs: Any) -> PreparedSave:
        """The unit's save, encoded as its aggregates are now (the personal accounts' snapshots it
        takes too), to be written by ``Ledger.write_save`` and confirmed by
        ``Ledger.confirm_save``; the unit is then empty, and its aggregates may change again (a
        consumer's next batch) before the save is written. The aggregates it created go to the
        cache at once, for the next batch to find: if the write fails, ``Ledger.forget`` takes
        them out with the rest (``PreparedSave.aggregate_ids``)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking)
        # Collected here rather than by ProcessingEvent.collect_events, whose runtime protocol
        # checks cost more than the rest of the commit for large units.
        every = self.ledger.account_snapshot_every
        to_snapshot: list[PersonalAccount] = []
        for aggregate in self.aggregates.values():
            events = aggregate.collect_events()
            if events:
                processing_event.events.extend(events)
                processing_event.aggregates[aggregate.id] = aggregate
                if every > 0 and isinstance(aggregate, PersonalAccount) and (aggregate.version - len(events)) // every < aggregate.version // every:
                    to_snapshot.append(aggregate)
        processing_event.saved_kwargs.update(kwargs)
        try:
            stored_events = self.ledger.event_writer.encode(processing_event.events) if processing_event.events else []
            account_snapshots = self._account_snapshots(to_snapshot)
        except BaseException:
            self.discard()
            raise
        cache = self.ledger.repository.cache
        if cache is not None:  # the aggregates created here, as saved: the next batch need not rebuild them
            for aggregate_id in self._created:
                created = self.aggregates.get(aggregate_id)
                if created is not None and worth_caching(created):
                    cache.put(aggregate_id, created)
        prepared = PreparedSave(processing_event, stored_events, account_snapshots, list(self.aggregates))
        self._forget()
        return prepared

    def _account_snapshots(self, accounts: list[PersonalAccount]) -> list[StoredEvent]:
        """The snapshots of the personal accounts the save takes past a multiple of
        ``account_snapshot_every`` events, encoded as the accounts are now, at the save's versions
        (what folding their events gives: a failed command's changes were undone). A snapshot is
        derived, never chained or audited: one that cannot be taken is left out, and the account
        loads from its events as before."""
        store = self.ledger.snapshots
        if not accounts or store is None:
            return []
        stored = []
        for account in accounts:
            try:
                stored.append(store.mapper.to_stored_event(PersonalAccount.Snapshot.take(account)))
            except Exception as error:  # noqa: BLE001 (a snapshot is a shortcut: the save it follows stands)
                logger.warning("account_snapshot_not_taken", account_id=str(account.id), error=type(error).__name__,
                               detail=str(error)[:200])
        return stored

    def discard(self) -> None:
        """Drop everything this unit did: nothing is written, nothing stays in the cache."""
        self.ledger.forget(list(self.aggregates))
        self._forget()

    def _forget(self) -> None:
        self.aggregates.clear()
        self._created.clear()
        self._missing.clear()
        self._accesses.clear()
        self._pending_counts.clear()
        self._pending_total = 0
        self._counted_accesses = 0
        self._restored.clear()
