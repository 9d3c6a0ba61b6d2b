"""A missing chain hash at the END of the log stopped every save: SQLite's recorder failed with
``TypeError`` (``bytes(None)``), PostgreSQL's restarted the chain from zeros, so the ledger's
own next event looked like a second break. Both now refuse the save, the same way, naming the
position whose hash is missing and saying to run ``verify``; nothing is stored. And the stores
refuse a row without a chain hash of 32 bytes as it is inserted (the SQLite triggers let one in;
on PostgreSQL a CHECK, which a database at the former schema version gets when its owner opens it)."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.commands import PayOutpatient
from tests.audit import tamper
from tests.audit.sqlite_file import raw, scenario_file, verified
from tests.audit.test_no_rechaining import TRIGGERS
from tests.conftest import as_role, connect
from tests.integration.test_stores import REGION, run_scenario

CLAIM = PayOutpatient(REGION, "C9", "P1", "outpatient", date(2024, 3, 1), 100)


def _refused_naming(ledger: Ledger, position: int) -> None:
    with pytest.raises(Exception, match=f"the last stored event, at position {position}, has no chain hash") as refused:
        ledger.pay_outpatient(CLAIM)
    assert "fund-ledger verify" in str(refused.value)
    assert ledger.recorder.max_notification_id() == position  # nothing stored


def test_sqlite_refuses_a_save_after_a_head_without_its_hash(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with raw(env, *TRIGGERS) as connection:
        (head,) = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        connection.execute("UPDATE stored_events SET chain_hash = NULL WHERE rowid = ?", (head,))
    ledger = Ledger(env=env)
    try:
        _refused_naming(ledger, head)
    finally:
        ledger.close()
    result = verified(env)
    assert result.first_break is not None and result.first_break.position == head and result.counts["hash chain broken"] == 1


@pytest.mark.parametrize("chain_hash", [None, b"short", "0" * 64], ids=["NULL", "5 bytes", "text"])
def test_the_sqlite_triggers_refuse_a_row_without_a_chain_hash(tmp_path: Path, chain_hash: object) -> None:
    env = scenario_file(tmp_path)
    with raw(env) as connection:  # the triggers in place
        oid, version, topic, state = connection.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid DESC LIMIT 1").fetchone()
        with pytest.raises(sqlite3.IntegrityError, match="chain hash"):
            connection.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state, chain_hash) "
                               "VALUES (?, ?, ?, ?, ?)", (oid, version + 1, topic, state, chain_hash))
    assert verified(env).passed


# ---------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_postgres_refuses_a_save_after_a_head_without_its_hash(postgres_env: dict[str, str]) -> None:
    ledger = Ledger(env=postgres_env)
    try:
        run_scenario(ledger)
    finally:
        ledger.close()
    head = tamper.SCENARIO_EVENTS
    with connect(postgres_env, "superuser") as connection:
        connection.execute(f"ALTER TABLE {tamper.TABLE} DROP CONSTRAINT IF EXISTS {tamper.TABLE}_chain_hashes")
        connection.execute(f"ALTER TABLE {tamper.TABLE} ALTER COLUMN chain_hash DROP NOT NULL")
        connection.execute("SET session_replication_role = replica")
        connection.execute(f"UPDATE {tamper.TABLE} SET chain_hash = NULL WHERE notification_id = %s", (head,))
    ledger = Ledger(env=postgres_env)
    try:
        _refused_naming(ledger, head)
    finally:
        ledger.close()
    ledger = Ledger(env=postgres_env)
    try:
        from projections.verify import Verifier

        result = Verifier(ledger).run()
    finally:
        ledger.close()
    assert result.first_break is not None and result.first_break.position == head and result.counts["hash chain broken"] == 1


@pytest.mark.postgres
def test_postgres_refuses_a_row_without_a_chain_hash_of_32_bytes(postgres_env: dict[str, str]) -> None:
    import psycopg

    with connect(postgres_env) as connection, pytest.raises(psycopg.errors.CheckViolation):  # the application role may INSERT
        connection.execute(f"INSERT INTO {tamper.TABLE} (originator_id, originator_version, topic, state, chain_hash) "
                           "VALUES (gen_random_uuid(), 1, 'x', '\\x7b7d'::bytea, '\\x0102'::bytea)")


@pytest.mark.postgres
def test_a_database_at_the_former_schema_version_is_migrated_when_its_owner_opens_it(postgres_env: dict[str, str]) -> None:
    """The position CHECK (and now the chain hashes') came only with an explicit ``fund-ledger
    migrate``: the schema version stayed 1, so opening a database already at 1 migrated nothing."""
    names = (f"{tamper.TABLE}_positions", f"{tamper.TABLE}_chain_hashes")
    with connect(postgres_env, "superuser") as connection:
        for name in names:
            connection.execute(f"ALTER TABLE {tamper.TABLE} DROP CONSTRAINT IF EXISTS {name}")
        connection.execute("DELETE FROM fundledger_schema WHERE version > 1")
    Ledger(env={**as_role(postgres_env, "owner"), "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1"}).close()
    with connect(postgres_env, "superuser") as connection:
        found = {row[0] for row in connection.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass",
                                                      (tamper.TABLE,))}
    assert set(names) <= found
