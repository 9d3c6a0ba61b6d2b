"""Replay: rebuild every projection from position 0 into fresh tables (``proj_replay_*``) and
compare them, row by row, with the live ones (``proj_*``) at the same position. The history
replayed is first checked to be the one that was written: the hash chain is recomputed from
position 0 (``adapters.chain``), and a broken chain fails the replay, naming the position.

The comparison runs in the database (``EXCEPT`` both ways), so it scales with the tables, and
reports how many rows differ and a sample of each side.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters import chain
from projections import schema
from projections.projector import DEFAULT_BATCH_SIZE, CatchUp, Projector
from projections.shards import rebuild_on_cores, workers_for
from projections.store import ProjectionStore

SAMPLE_ROWS = 5
# Fresh tables are built in larger batches than the live ones follow the log in: fewer
# transactions, and the statements' key built once, after the load.
REBUILD_BATCH_SIZE = 10_000
MAX_ROUNDS = 3  # if the live projection moves while we compare, catch up and compare again


@dataclass
class TableDifference:
    table: str
    only_live: int
    only_replay: int
    live_sample: list[dict[str, Any]] = field(default_factory=list)
    replay_sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReplayResult:
    live_position: int
    replay_position: int
    events: int
    elapsed_s: float
    differences: list[TableDifference]
    rows: dict[str, int]
    chain: chain.ChainCheck | None = None  # None: the store keeps no chain
    chain_s: float = 0.0
    workers: int = 1  # processes the fresh tables were built in (projections.shards)

    @property
    def passed(self) -> bool:
        chain_intact = self.chain is None or self.chain.intact
        return chain_intact and not self.differences and self.live_position == self.replay_position


def compare_tables(store: ProjectionStore, left: str, right: str) -> list[TableDifference]:
    """Rows of each table present on one side and not the other."""
    differences = []
    with store.transaction() as cursor:
        for table in schema.TABLES:
            a, b = left + table.name, right + table.name
            order = ", ".join(table.key)
            counts = []
            samples = []
            for first, second in ((a, b), (b, a)):
                missing = f"SELECT * FROM {first} EXCEPT SELECT * FROM {second}"
                counts.append(store.fetch(cursor, f"SELECT COUNT(*) AS n FROM ({missing}) d")[0]["n"])
                samples.append(store.fetch(cursor, f"SELECT * FROM ({missing}) d ORDER BY {order} LIMIT {SAMPLE_ROWS}"))
            if counts[0] or counts[1]:
                differences.append(TableDifference(table.name, counts[0], counts[1], samples[0], samples[1]))
    return differences


def row_counts(store: ProjectionStore, prefix: str) -> dict[str, int]:
    with store.transaction() as cursor:
        return {t.name: store.fetch(cursor, f"SELECT COUNT(*) AS n FROM {prefix}{t.name}")[0]["n"] for t in schema.TABLES}


def replay(ledger: Any, store: ProjectionStore, batch_size: int = DEFAULT_BATCH_SIZE,
           progress: Callable[[int, int], None] | None = None, keep: bool = False, check_chain: bool = True,
           workers: int | None = None) -> ReplayResult:
    """Check the chain, bring the live projection up to date, rebuild a fresh copy up to the same
    position (in ``workers`` processes, else ``REPLAY_WORKERS``: ``projections.shards``), and
    compare. The fresh tables are dropped afterwards unless ``keep`` or they differ."""
    started = time.perf_counter()
    checked = chain.check_whole_chain(ledger.recorder) if check_chain else None
    chain_s = time.perf_counter() - started
    live = Projector(ledger, store, batch_size=batch_size)
    live.catch_up()
    store.drop_tables(schema.REPLAY_PREFIX)
    fresh, statements_keyed_after = fresh_projector(ledger, store, schema.REPLAY_PREFIX, batch_size)
    workers = workers_for(ledger, store, workers, events=live.position)
    used_workers = 1
    events = 0
    elapsed_s = 0.0
    for _ in range(MAX_ROUNDS):
        target = live.position
        if target > fresh.position:
            step = None if progress is None else functools.partial(_report_progress, progress, target)
            if fresh.position == 0 and workers > 1:
                result = rebuild_on_cores(ledger, store, schema.REPLAY_PREFIX, workers, fresh.batch_size, stop=target, progress=step)
                used_workers = workers
            else:
                result = fresh.catch_up(stop=target, progress=step)
            events += result.events
            elapsed_s += result.elapsed_s
        statements_keyed_after()
        differences = compare_tables(store, schema.LIVE_PREFIX, schema.REPLAY_PREFIX)
        if live.position == target:
            break
    outcome = ReplayResult(live.position, fresh.position, events, elapsed_s, differences,
                           row_counts(store, schema.LIVE_PREFIX), checked, chain_s, used_workers)
    if outcome.passed and not keep:
        store.drop_tables(schema.REPLAY_PREFIX)
    return outcome


def fresh_projector(ledger: Any, store: ProjectionStore, prefix: str,
                    batch_size: int = REBUILD_BATCH_SIZE) -> tuple[Projector, Callable[[], None]]:
    """A projector for tables built from position 0 (``prefix``, dropped first by the caller), in
    batches of at least ``REBUILD_BATCH_SIZE``, each personal row written once (``Projector.
    defer_personal_rows``), and what builds the statements' key once the load is done
    (``ProjectionStore.defer_statement_keys``)."""
    projector = Projector(ledger, store, prefix, batch_size=max(batch_size, REBUILD_BATCH_SIZE))
    projector.defer_personal_rows = True
    return projector, store.defer_statement_keys(prefix)


def rebuild(ledger: Any, store: ProjectionStore, prefix: str, stop: int | None = None, workers: int | None = None) -> CatchUp:
    """Build the tables of ``prefix`` from position 0 (through ``stop``) as ``replay`` builds its
    fresh ones, the statements' key included (its time counts in the result's), in ``workers``
    processes (if not given, ``REPLAY_WORKERS`` but a worker for each 50,000 events at most; one
    on SQLite: ``projections.shards``)."""
    started = time.perf_counter()
    store.drop_tables(prefix)
    projector, keyed_after = fresh_projector(ledger, store, prefix)
    workers = workers_for(ledger, store, workers, events=stop if stop is not None else ledger.recorder.max_notification_id() or 0)
    if workers > 1:
        result = rebuild_on_cores(ledger, store, prefix, workers, projector.batch_size, stop=stop)
    else:
        result = projector.catch_up(stop=stop)
    keyed_after()
    result.elapsed_s = time.perf_counter() - started
    return result


def _report_progress(progress: Any, target: int, position: int) -> None:
    progress(position, target)
