"""A rebuild split by person (``projections.shards``), without PostgreSQL: who folds what, the
setting, and personal rows written once (``Projector.defer_personal_rows``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from adapters.crypto import keyless_mapper
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.settings import SettingsError
from projections import projector as projector_module
from projections import replay as replay_module
from projections import schema
from projections.fold import BatchState, fold
from projections.replay import replay
from projections.shards import Shard, ShardMismatch, ShardProjector, is_account_topic, shard_of, worker_count
from projections.store import ProjectionStore, open_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo's books (two regions, a year with claims, transfers, memo funds, budgets, a year
    close) on a SQLite file of this module's."""
    path = tmp_path_factory.mktemp("shards") / "ledger.sqlite"
    env = {name: value for name, value in os.environ.items() if name != "PERSISTENCE_MODULE" and not name.startswith("POSTGRES_")}
    env.update({"FUND_LEDGER_SQLITE": str(path), "PYTHONPATH": str(REPO)})
    done = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--people", "60", "--employers", "5"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


@pytest.fixture
def demo_ledger(demo_env: dict[str, str]) -> Iterator[Ledger]:
    ledger = Ledger(env=demo_env)
    yield ledger
    ledger.close()


def the_log(ledger: Ledger) -> list[tuple[int, str, Any]]:
    mapper = keyless_mapper(ledger.mapper)
    return [(n.id, n.topic, mapper.to_domain_event(n)) for n in ledger.recorder.select_notifications(start=1, limit=1_000_000)]


def folded(log: list[tuple[int, str, Any]], shard: Shard | None) -> BatchState:
    """The log folded in one batch, as a worker reads it: a personal account's events only by
    the account's worker, every other event by all."""
    state = BatchState()
    for position, topic, event in log:
        if shard is not None and is_account_topic(topic) and shard_of(event.originator_id, shard.count) != shard.index:
            continue
        fold(state, position, event, shard)
    return state


def facts(state: BatchState) -> dict[str, Any]:
    """Every row a batch would write, as a multiset per table (sums added up by key)."""
    sums: dict[str, Counter[Any]] = {}
    for name, rows in (("accounts", state.accounts), ("flows", state.flows), ("daily", state.daily),
                       *((kind, table) for kind, table in state.lines.items())):
        counter: Counter[Any] = Counter()
        for key, values in rows.items():
            for index, value in enumerate(values):
                counter[(key, index)] += value
        sums[name] = counter
    return {
        "personal": sorted(row.as_values() for row in state.personal.values()),
        "statements": sorted(state.statements, key=repr),
        "budgets": sorted(state.budgets.items()),
        "folded": {table: sorted(rows.items(), key=repr) for table, rows in state.folded.items() if rows},
        "year_closes": sorted(set(state.year_rolls)),
        **sums,
    }


def merged(states: list[BatchState]) -> dict[str, Any]:
    whole = BatchState()
    for state in states:
        whole.personal.update(state.personal)
        whole.statements += state.statements
        whole.budgets.update(state.budgets)
        whole.year_rolls += state.year_rolls
        for key, values in state.daily.items():
            whole.daily[key] = [a + b for a, b in zip(whole.daily[key], values, strict=True)]
        for table, rows in state.folded.items():
            target = whole.folded.setdefault(table, {})
            for key, values in rows.items():
                assert key not in target or table.startswith("memo_fund"), f"{table} {key} folded by two workers"
                if key in target:  # memo fund sums: added
                    target[key] = [a + b for a, b in zip(target[key], values, strict=True)]
                else:
                    target[key] = list(values)
    return facts(whole)


@pytest.mark.parametrize("workers", [2, 3])
def test_every_fact_is_folded_once_by_one_worker(demo_ledger: Ledger, workers: int) -> None:
    log = the_log(demo_ledger)
    alone = facts(folded(log, None))
    shards = [folded(log, Shard(index, workers)) for index in range(workers)]
    assert merged(shards) == alone
    # the split is real: each worker has persons of its own and some of the region's sums
    assert all(state.personal for state in shards)
    owners = [{key for key in state.personal} for state in shards]
    assert sum(len(own) for own in owners) == len(set().union(*owners))
    assert sum(1 for state in shards if state.daily) > 1
    # everything that is not a personal account's event is read by every worker
    assert {topic for _, topic, _ in log if not is_account_topic(topic)} and alone["statements"]


def test_a_persons_worker_is_their_accounts(demo_ledger: Ledger) -> None:
    for _, topic, event in the_log(demo_ledger):
        if topic.endswith("PersonalAccount.Enrolled"):
            for count in (2, 3, 5):
                shard = Shard(shard_of(event.originator_id, count), count)
                assert shard.owns_person(event.region, event.person_id)
                assert shard.owns_event(event)


def test_an_account_event_that_moves_another_person_is_refused() -> None:
    event = object.__new__(PersonalAccount.ContributionCredited)
    region = "210100"
    own = PersonalAccount.id_for(region, "P1")
    other = next(f"P{n}" for n in range(2, 100) if shard_of(PersonalAccount.id_for(region, f"P{n}"), 2) != shard_of(own, 2))
    object.__setattr__(event, "__dict__", {"originator_id": own, "region": region, "postings": [
        {"account": "fund.personal", "amount_fen": -100, "item": "income.contribution", "person_id": other}]})
    shard = Shard(shard_of(own, 2), 2)
    with pytest.raises(ShardMismatch, match=f"position 7 moves person {other}"):
        shard.check(7, event)
    # ... and by a worker, as it takes the rows its batch moves (the check is made there).
    with pytest.raises(ShardMismatch, match=f"position 7 moves person {other}"):
        ShardProjector._people_of(SimpleNamespace(shard=shard), 7, event)  # type: ignore[arg-type]
    object.__setattr__(event, "__dict__", {**event.__dict__, "postings": [
        {"account": "fund.personal", "amount_fen": -100, "item": "income.contribution", "person_id": "P1"}]})
    assert ShardProjector._people_of(SimpleNamespace(shard=shard), 7, event) == {(region, "P1")}  # type: ignore[arg-type]


def test_the_workers_setting() -> None:
    assert worker_count(None, "postgres") == 2
    assert worker_count("4", "postgres") == 4
    assert worker_count("4", "sqlite") == 1  # one process writes SQLite at a time
    assert worker_count("4", "postgres", "text") == 1  # the shard is read from uuid ids
    for bad in ("0", "9", "two", "-1"):
        with pytest.raises(SettingsError, match="REPLAY_WORKERS"):
            worker_count(bad, "postgres")


def test_personal_rows_written_once_are_all_there_when_the_kept_rows_overflow(
        demo_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild keeps at most ``MAX_CACHED_ROWS`` rows and writes a row when it leaves them or
    at the end: with room for only 5 of 71 rows, in batches of 50 events (rows read back from the
    table), the replay still equals the live tables."""
    store: ProjectionStore = open_store(demo_ledger)
    try:
        monkeypatch.setattr(projector_module, "MAX_CACHED_ROWS", 5)
        monkeypatch.setattr(replay_module, "REBUILD_BATCH_SIZE", 50)
        result = replay(demo_ledger, store, batch_size=50, keep=True)
        assert result.passed, result.differences
        count = f"SELECT COUNT(*) AS n FROM {{}}{schema.PERSONAL_BALANCES.name}"
        replayed = store.query(count.format(schema.REPLAY_PREFIX))[0]["n"]
        assert replayed == store.query(count.format(schema.LIVE_PREFIX))[0]["n"] > 5
    finally:
        store.drop_tables(schema.REPLAY_PREFIX)
        store.close()


def test_a_worker_for_each_fifty_thousand_events_up_to_the_setting() -> None:
    from projections.shards import EVENTS_PER_WORKER, workers_for_events

    assert EVENTS_PER_WORKER == 50_000
    assert workers_for_events(2, 0) == 1
    assert workers_for_events(2, 20_116) == 1  # two processes ran at 0.55x one's rate on such a log
    assert workers_for_events(2, 99_999) == 1
    assert workers_for_events(2, 100_000) == 2
    assert workers_for_events(2, 402_063) == 2
    assert workers_for_events(8, 402_063) == 8
    assert workers_for_events(8, 250_000) == 5
