"""The chain on the embedded SQLite store, the hash itself, and the serial point on PostgreSQL:
writers in parallel still make one chain."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters import chain
from ledger.application import Ledger
from ledger.commands import Enrol
from ledger.policy import load_policy_file
from projections.verify import Verifier
from tests.audit.sqlite_file import scenario_file
from tests.audit.tamper import C1_POSITION
from tests.integration.test_stores import REGION


def test_the_link_hashes_the_previous_hash_the_identity_and_the_bytes() -> None:
    """Any one input changed changes the hash; the same inputs give the same hash."""
    args = (bytes(32), 7, UUID(int=5), 2, "topic", b"state")
    base = chain.link(*args)
    assert base == chain.link(*args) and len(base) == 32
    changed = [(bytes([1]) + bytes(31), 7, UUID(int=5), 2, "topic", b"state"), (bytes(32), 8, UUID(int=5), 2, "topic", b"state"),
               (bytes(32), 7, UUID(int=6), 2, "topic", b"state"), (bytes(32), 7, UUID(int=5), 3, "topic", b"state"),
               (bytes(32), 7, UUID(int=5), 2, "topiC", b"state"), (bytes(32), 7, UUID(int=5), 2, "topic", b"statf"),
               (bytes(32), 7, UUID(int=5), 2, "topics", b"tate")]  # the topic's length is hashed: no shifting bytes across
    assert len({chain.link(*other) for other in changed} | {base}) == len(changed) + 1


def _sqlite(tmp_path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}


def test_an_edit_in_the_sqlite_file_is_caught_at_its_position(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM stored_events WHERE rowid = 1")
        connection.execute("DROP TRIGGER stored_events_no_update")  # what anyone holding the file can do
        connection.execute("UPDATE stored_events SET state = replace(state, '\"amount_fen\":10000', '\"amount_fen\":1000') "
                           "WHERE rowid = ?", (C1_POSITION,))
    ledger = Ledger(env=env)
    try:
        result = Verifier(ledger).run()
    finally:
        ledger.close()
    assert result.first_break is not None and result.first_break.position == C1_POSITION
    assert "hash chain broken" in result.counts


def test_a_sqlite_file_written_before_the_chain_is_chained_when_opened(tmp_path: Path) -> None:
    env = _sqlite(tmp_path)
    ledger = Ledger(env=env)
    try:
        ledger.open_region(load_policy_file())
    finally:
        ledger.close()
    with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:  # as an older version left it: no column, no triggers
        for (trigger,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            connection.execute(f"DROP TRIGGER {trigger}")
        connection.execute("ALTER TABLE stored_events DROP COLUMN chain_hash")
    ledger = Ledger(env=env)
    try:
        result = Verifier(ledger).run()
        assert result.passed and result.chain_events == 3
        ledger.enrol(Enrol(REGION, "P1", "employee", date(1990, 3, 15), "E1", date(2010, 1, 1)))
        assert Verifier(ledger).run().chain_events == 4
    finally:
        ledger.close()


@pytest.mark.postgres
def test_writers_in_parallel_make_one_unbroken_chain(postgres_env: dict[str, str]) -> None:
    ledger = Ledger(env=postgres_env)
    ledger.open_region(load_policy_file())
    ledger.close()
    failures: list[BaseException] = []

    def enrol(writer: int) -> None:
        own = Ledger(env=postgres_env)
        try:
            for number in range(15):
                own.enrol(Enrol(REGION, f"W{writer}-{number}", "employee", date(1990, 1, 1), "E1", date(2010, 1, 1)))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            own.close()

    threads = [threading.Thread(target=enrol, args=(writer,)) for writer in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    ledger = Ledger(env=postgres_env)
    try:
        result = Verifier(ledger).run()
    finally:
        ledger.close()
    assert result.passed, dict(result.violations)
    assert result.chain_events == 3 + 3 * 15


def test_encrypted_events_are_chained_as_ciphertext_and_check_without_the_key(tmp_path: Path) -> None:
    """With a cipher configured, the stored bytes are ciphertext and the chain covers them: the
    chain checks without the key, so erasing a key (to forget a person) leaves it intact."""
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.sqlite import SQLiteDatastore

    from adapters.sqlite_recorder import ChainedSQLiteProcessRecorder

    env = scenario_file(tmp_path, CIPHER_TOPIC="eventsourcing.cryptography:AESCipher", CIPHER_KEY=AESCipher.create_key(16))
    keyless = ChainedSQLiteProcessRecorder(SQLiteDatastore(env["SQLITE_DBNAME"]))
    rows = chain.read_chain(keyless, 0)
    assert rows and not any(b"postings" in row.state for row in rows), "stored as ciphertext"
    checked = chain.check_whole_chain(keyless)
    assert checked is not None and checked.intact and checked.rows == len(rows)


def _make_tables(ledger_file: str, projection_file: str, barrier: Any, outcomes: Any) -> None:
    """One process opening both files, at the barrier with the others."""
    from eventsourcing.sqlite import SQLiteDatastore

    from adapters.sqlite_recorder import ChainedSQLiteProcessRecorder
    from projections.store import ProjectionStore

    recorder = ChainedSQLiteProcessRecorder(SQLiteDatastore(ledger_file))
    barrier.wait()
    try:
        recorder.create_table()
        ProjectionStore(SQLiteDatastore(projection_file), "sqlite", "projections").tracking.max_tracking_id("x")
        outcomes.put("made")
    except Exception as error:  # noqa: BLE001 (the outcome is what the test reads)
        outcomes.put(f"{type(error).__name__}: {error}")


def test_processes_opening_a_fresh_file_at_once_all_make_its_tables(tmp_path: Path) -> None:
    """Two consumers started together on a fresh SQLite file: each finds the tables made, none
    stops (one failed to record the library's migration row, or found the database locked)."""
    context = multiprocessing.get_context("fork")
    for trial in range(5):
        barrier, outcomes = context.Barrier(4), context.Queue()
        files = (str(tmp_path / f"ledger{trial}.sqlite"), str(tmp_path / f"projections{trial}.sqlite"))
        processes = [context.Process(target=_make_tables, args=(*files, barrier, outcomes)) for _ in range(4)]
        for process in processes:
            process.start()
        results = [outcomes.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert results == ["made"] * 4, results
