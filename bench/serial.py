"""The serial point: how many events a second one events table takes through the ledger's recorder.

Every save appends to one table under its ``EXCLUSIVE`` lock (positions assigned, chained and
committed in order: ``adapters/postgres_recorder.py``), so the log's write rate is bounded by
what one save at a time can do, whatever the number of consumer processes. Measured without the
rules: the very rows a run of the ledger stored (states, sealed fields and all) are read back and
saved again, a batch of ``SAVE_EVENTS`` per save, into a fresh database, first by one writer
process, then by two writers side by side, each with half of the accounts (their events in log
order). Two writers that reach no more than one show the lock is the bound.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from eventsourcing.persistence import StoredEvent

from bench import env

SAVE_EVENTS = 4_000  # the direct ingest's save: 20 remittances of 200 lines
READ_BATCH = 10_000


def stored_events(db: env.Database) -> list[StoredEvent]:
    """Every event of ``db``'s log, as stored, in log order."""
    from ledger.application import Ledger

    ledger = Ledger(env=db.ledger_env())
    try:
        found: list[StoredEvent] = []
        start = 1
        while True:
            batch = ledger.recorder.select_notifications(start, READ_BATCH)
            if not batch:
                return found
            found.extend(StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in batch)
            start = batch[-1].id + 1
    finally:
        ledger.close()


def _write(ledger_env: dict[str, str], events: list[StoredEvent], ready: Any, go: Any, done: Any) -> None:
    """One writer: saves ``events`` a batch at a time; puts its seconds on ``done``."""
    from ledger.application import Ledger

    ledger = Ledger(env=ledger_env)
    try:
        ready.wait()
        go.wait()
        started = time.perf_counter()
        for offset in range(0, len(events), SAVE_EVENTS):
            ledger.recorder.insert_events(events[offset:offset + SAVE_EVENTS])
        done.put(time.perf_counter() - started)
    finally:
        ledger.close()


def write_rate(target: env.Database, parts: list[list[StoredEvent]]) -> float:
    """Events a second into ``target``'s events table with one writer process per part, started
    together; the clock runs from the start until the last writer has committed."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(len(parts) + 1)
    go = context.Event()
    done = context.Queue()
    writers = [context.Process(target=_write, args=(target.ledger_env(), part, ready, go, done)) for part in parts]
    for writer in writers:
        writer.start()
    ready.wait()  # every writer connected and holding its events
    started = time.perf_counter()
    go.set()
    for _ in writers:
        done.get(timeout=1_800)
    elapsed_s = time.perf_counter() - started
    for writer in writers:
        writer.join(timeout=60)
        if writer.exitcode != 0:
            raise RuntimeError(f"a writer of the serial-point benchmark ended with exit code {writer.exitcode}")
    return sum(len(part) for part in parts) / elapsed_s


def halves_by_account(events: list[StoredEvent]) -> list[list[StoredEvent]]:
    """Two parts with no aggregate in both, each in log order (an aggregate's versions in order)."""
    parts: list[list[StoredEvent]] = [[], []]
    for event in events:
        parts[event.originator_id.int % 2].append(event)
    return parts


def measure(source: env.Database) -> dict[str, Any]:
    """The serial point's figures for the events ``source`` holds: events/s with one writer and
    with two, each into a fresh database."""
    events = stored_events(source)
    with env.fresh_database("serial1") as target:
        one_eps = write_rate(target, [events])
    with env.fresh_database("serial2") as target:
        two_eps = write_rate(target, halves_by_account(events))
    return {"events": len(events), "one_writer_eps": one_eps, "two_writers_eps": two_eps, "save_events": SAVE_EVENTS}
