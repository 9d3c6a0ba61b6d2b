"""The second kind of time: a report as the ledger *knew* it at a log position or a recording time.

Business time ("as of" a date) selects events by the date they are booked on; recording time
selects them by when they were recorded: the log up to a position. The two combine: the books
at the end of 31 March, as the ledger knew them at position 12,345. A report "as known at" a
position is folded from the events up to that position into a private in-memory database
(``Projector(stop=...)``), so events recorded since (corrections included) cannot change it:
the same position gives the same report, byte for byte, whatever came after.

A recording time resolves to a position: the last event recorded at or before it (each event's
``timestamp``, set when it was recorded). An attestation (``projections.attest``) keeps the
position, not the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from ledger.errors import InvalidInput
from projections.projector import Projector, on_or_before
from projections.reports import Filters, Report, run_report
from projections.store import ProjectionStore, memory_store

READ_BATCH = 5_000
FOLD_BATCH = 5_000


def read_log(ledger: Any, stop: int, after: int = 0, topics: tuple[str, ...] = ()) -> Iterator[Any]:
    """The notifications after position ``after`` through ``stop`` (of ``topics``, if given), a
    batch of ``READ_BATCH`` at a time."""
    position = after
    while position < stop:
        batch = ledger.recorder.select_notifications(start=position + 1, limit=READ_BATCH, stop=stop, topics=topics)
        if not batch:
            return
        yield from batch
        position = batch[-1].id


def check_position(ledger: Any, position: int) -> int:
    """``position`` if the log has reached it (a report "as known at" the future would change)."""
    head = ledger.recorder.max_notification_id() or 0
    if position < 0 or position > head:
        raise InvalidInput("known_at", f"must be a log position between 0 and the head, {head}", value=position, head=head)
    return position


def position_at_time(ledger: Any, instant: datetime) -> int:
    """The position of the last event recorded at or before ``instant`` (0: none)."""
    if instant.tzinfo is None:
        raise InvalidInput("known_at_time", "must carry a time zone, e.g. 2024-03-31T23:59:59+08:00", value=instant.isoformat())
    found = 0
    for notification in read_log(ledger, ledger.recorder.max_notification_id() or 0):
        if ledger.mapper.to_domain_event(notification).timestamp <= instant:
            found = notification.id
    return found


def known_at_store(ledger: Any, position: int, day: date | None = None, region: str | None = None) -> ProjectionStore:
    """The projections folded from the events up to ``position`` (of ``region``, booked on or
    before ``day``, if given), in a private in-memory database: close it after use."""
    store = memory_store()
    event_filter = on_or_before(day, region) if day is not None else _of_region(region)
    Projector(ledger, store, event_filter=event_filter, batch_size=FOLD_BATCH).catch_up(stop=position)
    return store


def _of_region(region: str | None) -> Any:
    if region is None:
        return None
    return lambda event: getattr(event, "region", region) == region


def known_at_report(ledger: Any, name: str, filters: Filters, position: int, day: date | None = None) -> Report:
    """Report ``name`` as the ledger knew it at ``position`` (as of the end of ``day``, if given)."""
    store = known_at_store(ledger, check_position(ledger, position), day, filters.region)
    try:
        return run_report(name, store, filters)
    finally:
        store.close()
