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


def test_the_finance_role_never_remakes_views_and_processes_starting_together_make_them_once_on_postgres(
        postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In a database of its own, the roles as deployed (the application owns the projections,
    finance reads them). Four projectors starting together on a new database, then on views of
    another version (their comment, the digest of their definition, is not this version's), make
    them in turn under the set's advisory lock: none fails ("already exists", a concurrent
    drop). A report without catch-up as the finance role finds views of another version and says
    that the projector must run, touching nothing (before: DROP VIEW as finance, "must be owner");
    once the application's projector has run, finance reads the report."""
    import psycopg

    from projections.projector import open_for_reading
    from projections.store import ProjectionsNotReady
    from tests.conftest import as_role, connect
    from tests.projections.test_report_fixes import quiet_2025
    from tests.projections.test_views_by_the_writer import cli, race_ensure_tables

    ledgers = [Ledger(env=postgres_env) for _ in range(4)]
    stores = [open_store(ledger) for ledger in ledgers]
    finance_env = {**as_role(postgres_env, "finance"), "CREATE_TABLE": "n"}
    reader = Ledger(env=finance_env)
    reader_store = open_store(reader)
    marks = {row["name"]: row["mark"] for row in stores[0].query(
        "SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS mark FROM pg_class c "
        "WHERE c.relkind = 'v' AND c.relname LIKE 'proj_%%'")}  # the catalog's own views left out
    try:
        assert marks == {}
        with pytest.raises(ProjectionsNotReady, match="fund-ledger project"):
            open_for_reading(reader, reader_store)
        assert race_ensure_tables(stores) == []
        quiet_2025(ledgers[0], stores[0])
        views = schema.view_names(schema.LIVE_PREFIX)
        for _ in range(3):
            with connect(postgres_env) as connection:
                for name in views:
                    connection.execute(f"COMMENT ON VIEW {name} IS 'fund-ledger view of another version'")
            assert race_ensure_tables(stores) == []
            with connect(postgres_env) as connection:
                current = dict(connection.execute("SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                                                  "WHERE c.relkind = 'v' AND c.relname LIKE 'proj_%'").fetchall())
            assert set(current) == set(views) and all(mark.startswith("fund-ledger view ") and "another" not in mark
                                                      for mark in current.values()), current
        with connect(postgres_env) as connection:
            connection.execute("COMMENT ON VIEW proj_final_accounts IS 'fund-ledger view of another version'")
        with connect(postgres_env, "finance") as connection, pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("DROP VIEW proj_final_accounts")  # what the reader must never need
        code, _, err = cli(monkeypatch, finance_env, "final-accounts", "--region", "210100", "--year", "2025", "--no-catch-up")
        assert code == 2 and "projections_not_ready" in err and "fund-ledger project" in err and "must be owner" not in err, err
        with connect(postgres_env) as connection:
            assert connection.execute("SELECT obj_description('proj_final_accounts'::regclass, 'pg_class')").fetchone() == (
                "fund-ledger view of another version",)
        Projector(ledgers[0], stores[0])  # the application's projector makes it again
        code, out, err = cli(monkeypatch, finance_env, "final-accounts", "--region", "210100", "--year", "2025", "--no-catch-up",
                             "--format", "json")
        assert code == 0 and '"pooled"' in out, err
    finally:
        for closing in (reader_store, reader, *stores, *ledgers):
            closing.close()


def test_a_page_of_personal_accounts_as_of_a_date_folds_only_its_own_accounts_on_postgres(
        postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``tests/projections/test_report_fixes.py``'s pages as of a date on the server (dates as
    ``DATE``, the page's range of keys), in a database of its own."""
    from tests.projections.test_report_fixes import test_a_page_of_personal_accounts_as_of_a_date_folds_only_its_own_accounts as pages

    ledger = Ledger(env=postgres_env)
    store = open_store(ledger)
    try:
        pages(ledger, store, monkeypatch)
    finally:
        store.close()
        ledger.close()
