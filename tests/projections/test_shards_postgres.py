"""A rebuild split by person on the real PostgreSQL server (``projections.shards``): the demo's
books replayed in three processes equal the live tables built by one, table by table."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.commands import ReverseClaim
from projections import projector as projector_module
from projections import schema, shards
from projections.projector import Projector
from projections.replay import compare_tables, replay
from projections.shards import (
    RebuildInterrupted,
    Shard,
    ShardJob,
    _finish,
    _start,
    fold_shard,
    shard_of,
    shard_sql,
)
from projections.store import ProjectionStore, open_store

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
REGION = "210100"


def fund_ledger(settings: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "FUND_LEDGER_", "PERSISTENCE_"))}
    return subprocess.run([sys.executable, "-m", "cli.main", *argv], cwd=REPO, env={**keep, **settings, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def books(postgres_module_env: dict[str, str]) -> Iterator[Ledger]:
    """The demo's year (claims, transfers, memo funds, budgets, year closes) and a claim reversed."""
    done = fund_ledger(postgres_module_env, "demo", "--people", "60", "--employers", "5")
    assert done.returncode == 0, done.stderr
    ledger = Ledger(env=postgres_module_env)
    ledger.reverse_claim(ReverseClaim(REGION, "COR-SHARDS", "IP-HEAVY-1", date(2025, 1, 10), "billed twice"))
    yield ledger
    ledger.close()


@pytest.fixture
def store(books: Ledger) -> Iterator[ProjectionStore]:
    projection_store = open_store(books)
    yield projection_store
    projection_store.close()


def test_the_database_picks_the_same_worker_as_python(store: ProjectionStore) -> None:
    ids = [uuid.uuid4() for _ in range(300)]
    for count in (2, 3, 5, 8):
        rows = store.query(f"SELECT id, {shard_sql('id').replace('%s', str(count))} AS shard "
                           "FROM unnest(?::uuid[]) AS t(id)", (ids,))
        assert {row["id"]: row["shard"] for row in rows} == {i: shard_of(i, count) for i in ids}


def test_a_replay_in_three_processes_equals_the_live_tables(books: Ledger, store: ProjectionStore,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(books.env, "REPLAY_WORKERS", "3")
    monkeypatch.setattr(shards, "EVENTS_PER_WORKER", 10)  # these books are small: a worker each 10 events
    result = replay(books, store, keep=True)
    try:
        assert result.workers == 3
        assert result.passed, result.differences
        assert result.replay_position == result.live_position == books.recorder.max_notification_id()
        empty = [table for table, rows in result.rows.items() if not rows]
        assert empty == [], f"the books leave {empty} untested"
        replayed = store.query(f"SELECT COUNT(*) AS n FROM {schema.REPLAY_PREFIX}{schema.PERSONAL_STATEMENTS.name}")[0]["n"]
        assert replayed == result.rows[schema.PERSONAL_STATEMENTS.name]
    finally:
        store.drop_tables(schema.REPLAY_PREFIX)


def test_a_small_log_is_replayed_in_one_process_unless_more_are_asked_for(books: Ledger, store: ProjectionStore,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker beyond the first costs about a second to start and a read of every row: below
    ``EVENTS_PER_WORKER`` events a log, one process folds it faster (docs/benchmarks.md)."""
    monkeypatch.setitem(books.env, "REPLAY_WORKERS", "3")
    assert books.recorder.max_notification_id() < shards.EVENTS_PER_WORKER
    result = replay(books, store)
    assert result.workers == 1 and result.passed, result.differences
    asked = replay(books, store, workers=2)
    assert asked.workers == 2 and asked.passed, asked.differences


def test_workers_whose_rows_leave_the_kept_rows_roll_only_their_own_at_a_year_close(
        books: Ledger, store: ProjectionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three workers in this process one after the other, each keeping 3 rows (so rows are
    written, read back, and rolled in the table by ``person_id = ANY(...)``): the same tables."""
    Projector(books, store).catch_up()
    monkeypatch.setattr(projector_module, "MAX_CACHED_ROWS", 3)
    prefix = "proj_shardtest_"
    store.drop_tables(prefix)
    Projector(books, store, prefix)  # creates the tables
    head = books.recorder.max_notification_id()
    try:
        for index in range(3):
            fold_shard(books, store, ShardJob(dict(books.env), prefix, head, Shard(index, 3), batch_size=200))
            assert store.position(prefix) == 0  # a worker writes no position
        with store.transaction() as cursor:
            store.write_position(cursor, prefix, head)
        assert compare_tables(store, schema.LIVE_PREFIX, prefix) == []
    finally:
        store.drop_tables(prefix)


def test_a_worker_that_fails_fails_the_rebuild_and_says_which_and_why(books: Ledger) -> None:
    env = {**books.env, "POSTGRES_DBNAME": "no_such_database_here", "POSTGRES_CONNECT_TIMEOUT": "2"}
    job = ShardJob(env, "proj_shardfail_", 10, Shard(1, 2), batch_size=100)
    with pytest.raises(RebuildInterrupted, match=r"worker 1 of 2 of the rebuild of proj_shardfail_\* stopped: OperationalError: "):
        _finish(job, _start(job))


def test_the_command_replays_in_the_processes_asked_for(books: Ledger, postgres_module_env: dict[str, str]) -> None:
    done = fund_ledger(postgres_module_env, "replay", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert " in 2 processes; " in done.stdout and "PASS: the replay equals the live projections" in done.stdout
    refused = fund_ledger(postgres_module_env, "replay", "--workers", "9")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "workers" in refused.stderr and "between 1 and 8" in refused.stderr
