"""Only a writer (the projector, whose role owns the tables) makes or remakes the projections'
views, under a lock and in one transaction; a reader (``report --no-catch-up``, the service,
which read as the finance role on PostgreSQL) never tries, and says that the projector must
run once when it finds views of another version."""

from __future__ import annotations

import io
import threading
from contextlib import redirect_stderr, redirect_stdout

import pytest

from ledger.application import Ledger
from projections import schema
from projections.projector import Projector
from projections.reports import Filters, run_report
from projections.store import ProjectionStore, open_store
from tests.projections.scenario import REGION
from tests.projections.test_report_fixes import quiet_2025

STALE = ("final_accounts", "bank_deposits")


def make_stale(store: ProjectionStore) -> None:
    """Views as an older version defined them (here: a definition that shows no row)."""
    with store.transaction() as cursor:
        for name in STALE:
            cursor.execute(f"DROP VIEW proj_{name}")
            cursor.execute(f"CREATE VIEW proj_{name} AS SELECT * FROM ({schema.view_definitions('proj_')[name]}) AS v WHERE 1 = 0")


def stored_views(store: ProjectionStore) -> dict[str, str]:
    return {row["name"]: row["sql"] for row in store.query("SELECT name, sql FROM sqlite_master WHERE type = 'view'")}


def cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    from cli.main import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["report", *argv])
    return code, out.getvalue(), err.getvalue()


def test_a_report_without_catch_up_never_remakes_views_and_says_the_projector_must_run(
        sqlite_env: dict[str, str], sqlite_ledger: Ledger, store: ProjectionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """``report --no-catch-up`` is a reader: before, it built a ``Projector`` whose view check
    dropped and created the views (on PostgreSQL as the finance role: "must be owner"). Now it
    leaves them as they are and refuses, naming the views and ``fund-ledger project``; a report
    that catches up (a writer) makes them again."""
    quiet_2025(sqlite_ledger, store)
    make_stale(store)
    before = stored_views(store)
    code, _, err = cli(monkeypatch, sqlite_env, "final-accounts", "--region", REGION, "--year", "2025", "--no-catch-up")
    assert code == 2 and "projections_not_ready" in err and "fund-ledger project" in err and "proj_final_accounts" in err, err
    assert stored_views(store) == before  # nothing remade by the reader
    code, out, err = cli(monkeypatch, sqlite_env, "final-accounts", "--region", REGION, "--year", "2025", "--format", "json")
    assert code == 0, err
    assert stored_views(store) != before
    code, out, err = cli(monkeypatch, sqlite_env, "final-accounts", "--region", REGION, "--year", "2025", "--no-catch-up")
    assert code == 0 and "Pooled fund" in out, err


def test_the_service_never_remakes_views_and_answers_503_until_the_projector_ran(
        sqlite_env: dict[str, str], sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """The service reads (the finance role on PostgreSQL): views of another version are a 503
    ``projections_not_ready`` naming the projector, not an answer from the older definition (here:
    no row), and are left as they are; once the projector has run, the report is answered."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.service import Service

    quiet_2025(sqlite_ledger, store)
    make_stale(store)
    before = stored_views(store)
    service = Service({"FUND_LEDGER_SQLITE": sqlite_env["SQLITE_DBNAME"]})
    try:
        headers = {"Authorization": f"Bearer {service.tokens.create('auditor', 'test').token}"}
        with TestClient(create_app(service=service), raise_server_exceptions=False) as client:
            refused = client.get("/api/v1/reports/final-accounts", params={"region": REGION, "year": 2025}, headers=headers)
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "projections_not_ready" and "fund-ledger project" in refused.json()["detail"]
            assert stored_views(store) == before
            Projector(sqlite_ledger, store)  # the writer makes them again
            answered = client.get("/api/v1/reports/final-accounts", params={"region": REGION, "year": 2025}, headers=headers)
            assert answered.status_code == 200, answered.text
            assert len(answered.json()["sections"]["funds"]) == 2  # 2025 carried (the older definition showed none)
    finally:
        service.close()


def test_a_reader_of_tables_not_built_is_told_to_run_the_projector(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    from projections.projector import open_for_reading
    from projections.store import ProjectionsNotReady

    with pytest.raises(ProjectionsNotReady, match="fund-ledger project"):
        open_for_reading(sqlite_ledger, store)
    assert not store.query("SELECT name FROM sqlite_master WHERE name LIKE 'proj_%'")  # and made nothing


def race_ensure_tables(stores: list[ProjectionStore], prefix: str = schema.LIVE_PREFIX) -> list[BaseException]:
    """Every store makes the tables and views at once (one thread each, released together)."""
    barrier = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def make(store: ProjectionStore) -> None:
        try:
            barrier.wait()
            store.ensure_tables(prefix)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    threads = [threading.Thread(target=make, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failures


def test_writers_starting_together_make_the_tables_and_views_in_turn(sqlite_env: dict[str, str], sqlite_ledger: Ledger,
                                                                    store: ProjectionStore) -> None:
    """Four projectors opening one file at once, on a new file and on views of another version:
    each makes or finds them under the file's write lock, none fails, and the views are this
    version's."""
    stores = [open_store(sqlite_ledger) for _ in range(4)]
    try:
        assert race_ensure_tables(stores) == []
        quiet_2025(sqlite_ledger, store)
        for _ in range(3):
            make_stale(store)
            assert race_ensure_tables(stores) == []
            views = stored_views(store)
            assert all(views[f"proj_{name}"] == f"CREATE VIEW proj_{name} AS {body}" for name, body in
                       schema.view_definitions("proj_").items())
        assert len(run_report("final-accounts", store, Filters(region=REGION, year=2025)).sections[0].rows) == 2
    finally:
        for opened in stores:
            opened.close()
