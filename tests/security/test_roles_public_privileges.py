"""What PostgreSQL lets every role do by default, taken from the ledger's roles that do not need
it: finance, which writes nothing, could store data that outlives its session (large objects)
and fill the disk, and make temporary tables. The application keeps temporary tables: its
projections stage rows in them (``projections.store``)."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import connect

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("statement", [
    "SELECT lo_from_bytea(0, 'stored for ever'::bytea)",
    "SELECT lo_creat(-1)",
    "SELECT lo_create(0)",
    "CREATE TEMP TABLE kept (x int)",
    # The projectors order their batches with advisory locks: finance held one and stalled them.
    "SELECT pg_advisory_lock(hashtextextended('proj_tracking:projections', 0))",
    "SELECT pg_try_advisory_xact_lock(1)",
])
def test_finance_may_store_nothing_in_a_ledgers_database(postgres_env: dict[str, str], statement: str) -> None:
    # A database made from template1 after deploy/postgres/start.sh, migrated by the owner.
    with connect(postgres_env, "finance") as connection, pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute(statement)


def test_the_application_stages_its_projections_rows_in_temporary_tables(postgres_env: dict[str, str]) -> None:
    with connect(postgres_env) as connection:
        connection.execute("CREATE TEMP TABLE staging (x int)")
        assert connection.execute("SELECT pg_try_advisory_xact_lock(1)").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("SELECT lo_from_bytea(0, 'x'::bytea)")
