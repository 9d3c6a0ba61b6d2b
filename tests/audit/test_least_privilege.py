"""The roles on the real PostgreSQL: the application may append events but neither update nor
delete them (no privilege, and a trigger refuses even the owner); finance only reads; none of
the roles is a superuser; an unmigrated database is refused to the application."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from adapters.postgres_schema import NotMigrated
from ledger.application import Ledger
from ledger.policy import load_policy_file
from tests.conftest import as_role, connect, fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def opened(postgres_env: dict[str, str]) -> dict[str, str]:
    ledger = Ledger(env=postgres_env)
    try:
        ledger.open_region(load_policy_file())  # 3 events, written by the application role
    finally:
        ledger.close()
    return postgres_env


@pytest.mark.parametrize("statement", [
    "UPDATE fundledger_events SET state = state WHERE notification_id = 1",
    "DELETE FROM fundledger_events WHERE notification_id = 1",
    "TRUNCATE fundledger_events",
])
def test_the_application_role_may_not_change_or_remove_a_stored_event(opened: dict[str, str], statement: str) -> None:
    with connect(opened) as connection, pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table"):
        connection.execute(statement)
    with connect(opened, "finance") as connection:
        assert connection.execute("SELECT COUNT(*) FROM fundledger_events").fetchone() == (3,)


@pytest.mark.parametrize("statement", [
    "UPDATE fundledger_events SET state = state WHERE notification_id = 1",
    "DELETE FROM fundledger_events WHERE notification_id = 1",
    "TRUNCATE fundledger_events",
])
def test_the_trigger_refuses_even_the_owner_and_the_superuser(opened: dict[str, str], statement: str) -> None:
    for role in ("owner", "superuser"):
        with connect(opened, role) as connection, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            connection.execute(statement)


def test_finance_reads_events_and_projections_but_writes_nothing(opened: dict[str, str]) -> None:
    from projections.projector import Projector
    from projections.store import open_store

    ledger = Ledger(env=opened)
    store = open_store(ledger)
    try:
        Projector(ledger, store).catch_up()  # tables created by the application role
    finally:
        store.close()
        ledger.close()
    with connect(opened, "finance") as connection:
        assert connection.execute("SELECT COUNT(*) FROM proj_account_balances").fetchone() is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("INSERT INTO fundledger_events (originator_id, originator_version, topic, state, chain_hash) "
                               "VALUES (%s, 1, 't', 'x', 'x')", (uuid.uuid4(),))


def test_no_role_of_the_ledger_is_a_superuser(opened: dict[str, str]) -> None:
    with connect(opened, "superuser") as connection:
        for role in ("app", "owner", "finance"):
            name = as_role(opened, role)["POSTGRES_USER"]
            row = connection.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            assert row == (False, False, False), (role, name, row)


def test_the_application_role_may_not_migrate_a_database(postgres_server: dict[str, str]) -> None:
    with fresh_database(postgres_server) as migrated:
        name = f"{migrated['POSTGRES_DBNAME']}_bare"
        with connect({**migrated, "POSTGRES_DBNAME": "postgres"}, "superuser") as connection:
            connection.execute(f'CREATE DATABASE "{name}" OWNER "{as_role(migrated, "owner")["POSTGRES_USER"]}"')
        try:
            with pytest.raises(NotMigrated, match="fund-ledger migrate"):
                Ledger(env={**migrated, "POSTGRES_DBNAME": name})
        finally:
            with connect({**migrated, "POSTGRES_DBNAME": "postgres"}, "superuser") as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
