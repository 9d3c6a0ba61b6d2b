"""A projector reads personal rows back by key, on a table autovacuum has not analysed yet.

Past ``MAX_CACHED_ROWS`` the projector reads the rows it no longer keeps back from the table, 500
ids a query (``Projector._load_people``). On a table never analysed (a replay's fresh tables, a
new database's, before autovacuum comes by) PostgreSQL planned that query blind: a scan of every
row of the region, for each 500 ids. A projection of 60,000 accounts keeping 5,000 rows took 32.5
s on a fresh table autovacuum never reached against 12.6 s on one it had analysed, and read 4.2
million index entries to find the rows back instead of 22 (docs/benchmarks.md, "The curve").
The projector now has the table's statistics taken before it first reads rows back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.commands import Enrol, PostRemittance, RemittanceLine
from ledger.policy import load_policy_file
from projections import projector as projector_module
from projections import schema
from projections.projector import Projector
from projections.store import open_store
from tests.conftest import connect

pytestmark = pytest.mark.postgres

REGION = "210100"
PEOPLE = [f"P{i:04d}" for i in range(400)]
OTHERS = 60_000  # rows of other persons already in the table: a table of a large load's size
PREFIX = "readback_"


def _ledger_with_people(postgres_env: dict[str, str]) -> Ledger:
    ledger = Ledger(env=postgres_env)
    ledger.open_region(load_policy_file())
    with ledger.batch() as unit:
        for person_id in PEOPLE:
            ledger.enrol(Enrol(REGION, person_id, "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)), unit)
    # After the enrolments, a remittance for everyone: the persons' rows, dropped from memory by
    # then, are read back.
    ledger.post_remittance(PostRemittance(REGION, "R-2024-01", "employer", "E1", "2024-01", date(2024, 1, 15),
                                          8_000 * len(PEOPLE), tuple(RemittanceLine(p, 100_000) for p in PEOPLE)))
    return ledger


def test_rows_are_read_back_by_key_from_a_table_never_analysed(postgres_env: dict[str, str], monkeypatch: Any) -> None:
    ledger = _ledger_with_people(postgres_env)
    store = open_store(ledger)
    table = PREFIX + schema.PERSONAL_BALANCES.name
    try:
        store.ensure_tables(PREFIX)
        with store.transaction() as cursor:
            # As on a table filled faster than autovacuum comes by: never analysed.
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            cursor.execute(f"INSERT INTO {table} (region, person_id) "  # noqa: S608
                           f"SELECT %s, 'OTHER' || g FROM generate_series(1, {OTHERS}) AS g", (REGION,))
        monkeypatch.setattr(projector_module, "MAX_CACHED_ROWS", 50)
        plans: list[str] = []
        fetch = store.fetch

        def fetch_explained(cursor: Any, statement: str, params: Any = ()) -> list[dict[str, Any]]:
            if f"FROM {table} WHERE" in statement:  # a read of rows back: how the server plans it, then the read
                cursor.execute("EXPLAIN " + store.sql(statement), tuple(params))
                plans.append("\n".join(row["QUERY PLAN"] for row in cursor.fetchall()))
            return fetch(cursor, statement, params)

        monkeypatch.setattr(store, "fetch", fetch_explained)
        projector = Projector(ledger, store, PREFIX, batch_size=100)  # the enrolments in several batches
        held_in_batches: list[int] = []
        with connect(postgres_env, "owner") as watcher:
            def analyse_lock_held(_state: Any) -> None:
                """Before each batch commits: nobody holds the lock ANALYZE takes on the table."""
                held_in_batches.append(watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND mode = 'ShareUpdateExclusiveLock' "
                    "AND granted", (table,)).fetchone()[0])

            projector.before_commit = analyse_lock_held
            projector.catch_up()
        # The statistics' lock went with their own transaction: another worker's ANALYZE of the table
        # never waits for this projector's batch.
        assert held_in_batches and set(held_in_batches) == {0}, held_in_batches

        assert plans, "no row was read back: the test does not test what it says"
        for plan in plans:
            assert "Index Cond" in plan and "person_id" in plan.split("Index Cond", 1)[1].splitlines()[0], plan
        balances = {row["person_id"]: row["balance_fen"] for row in store.query(
            f"SELECT person_id, balance_fen FROM {table} WHERE person_id LIKE 'P%%'")}  # noqa: S608
        assert sorted(balances) == PEOPLE
        assert len(set(balances.values())) == 1 and next(iter(balances.values())) > 0  # each credited once, the same
        # and as the ledger's own accounts hold them (a row credited twice would differ)
        assert balances == {p: ledger.personal_account(REGION, p).balance_fen for p in PEOPLE}
    finally:
        store.close()
        ledger.close()
