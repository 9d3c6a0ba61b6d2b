"""The projections on the real PostgreSQL server: a database of its own for this module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from ledger.application import Ledger
from projections import schema
from projections.fold import BatchState
from projections.projector import Projector
from projections.replay import replay
from projections.reports import AS_OF_FROM_TABLES, Filters, as_of_report, as_of_store, run_report
from projections.store import ProjectionStore, open_store
from projections.verify import Verifier
from tests.projections.test_crash_and_replay import busy_history, crash_then_restart

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_ledger(postgres_module_env: dict[str, str]) -> Iterator[Ledger]:
    ledger = Ledger(env=postgres_module_env)
    busy_history(ledger)
    yield ledger
    ledger.close()


@pytest.fixture
def pg_store(pg_ledger: Ledger) -> Iterator[ProjectionStore]:
    store = open_store(pg_ledger)
    store.drop_tables(schema.LIVE_PREFIX)
    yield store
    store.close()


def test_sigkill_mid_batch_then_restart_on_postgres(postgres_module_env: dict[str, str], pg_ledger: Ledger, pg_store: ProjectionStore) -> None:
    crash_then_restart(postgres_module_env, pg_ledger)


def test_a_commit_that_fails_leaves_the_batches_before_it_and_nothing_of_it(
        pg_ledger: Ledger, pg_store: ProjectionStore) -> None:
    """On the real server: the third batch's commit failing stops the catch-up with its error, the
    tables hold exactly the first two batches (rows and position), and catching up again with the
    same projector (what it folded of the failed batch forgotten) ends with a clean build's tables."""
    from projections.store import memory_store
    from tests.projections.test_crash_and_replay import Crash, assert_same_tables

    crashing = Projector(pg_ledger, pg_store, batch_size=4)
    committed: list[int] = []

    def fail_on_third(state: BatchState) -> None:
        if len(committed) == 2:
            raise Crash("between the third batch's rows and its commit")
        committed.append(state.last_position)

    crashing.before_commit = fail_on_third
    with pytest.raises(Crash):
        crashing.catch_up()
    assert crashing.position == committed[-1] == 8  # positions 1..8: two batches of four
    through_second = memory_store()
    Projector(pg_ledger, through_second, batch_size=1000).catch_up(stop=8)
    assert_same_tables(pg_store, through_second)  # no row of the batch that failed
    crashing.before_commit = None
    crashing.catch_up()  # the same projector
    clean = memory_store()
    Projector(pg_ledger, clean, batch_size=1000).catch_up()
    assert_same_tables(pg_store, clean)


def test_project_replay_verify_and_report_on_postgres(pg_ledger: Ledger, pg_store: ProjectionStore) -> None:
    Projector(pg_ledger, pg_store, batch_size=5).catch_up()
    assert replay(pg_ledger, pg_store, batch_size=3).passed
    verifier = Verifier(pg_ledger)
    result = verifier.run()
    verifier.compare_projection(pg_store)
    assert result.passed, dict(result.violations)
    assert result.transactions is not None and result.transactions > 1  # exact transaction boundaries (xmin)
    funds = {r["fund"]: r for r in run_report("final-accounts", pg_store, Filters(region="210100")).sections[0].rows}
    assert funds and all(r["check"] == "ok" for r in funds.values())
    budget = run_report("budget", pg_store, Filters(region="210100", year=2024)).sections[0].rows
    assert budget
    for day in (date(2024, 1, 31), date(2024, 6, 30), date(2024, 12, 31), date(2025, 12, 31)):
        filters = Filters(region="210100", period="quarter")
        folded = as_of_store(pg_ledger, day, filters.region)
        try:
            for name in sorted(AS_OF_FROM_TABLES):
                assert as_of_report(pg_ledger, pg_store, name, day, filters)[0] == run_report(name, folded, filters), (name, day)
        finally:
            folded.close()


def test_two_catch_ups_at_once_count_each_batch_once_on_postgres(postgres_env: dict[str, str]) -> None:
    """The race of ``test_two_projectors`` on the server, in a database of its own (the module's
    has closed 2024): the position's compare-and-set under its advisory lock refuses the second
    batch, which is read again."""
    from tests.projections.test_two_projectors import books, race_two_catch_ups

    ledger, other = Ledger(env=postgres_env), Ledger(env=postgres_env)
    books(ledger)
    store, other_store = open_store(ledger), open_store(other)
    try:
        race_two_catch_ups(ledger, other, store, other_store)
    finally:
        for closing in (other_store, store, other, ledger):
            closing.close()
