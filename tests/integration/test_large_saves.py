"""A large unit of work commits on PostgreSQL.

eventsourcing writes a save in psycopg's pipeline mode, and a save of several megabytes hung
there (the server waiting in ClientRead, psycopg/psycopg#685): a batch of remittances or a
year's interest is exactly such a save. ``adapters.postgres_recorder`` writes without pipeline
mode; this test fails (by timing out) if a large save hangs again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from ledger.commands import Enrol
from ledger.errors import UnknownPerson

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from datetime import date
from ledger.application import Ledger
from ledger.commands import Enrol, PostRemittance, RemittanceLine
from ledger.policy import load_policy_file

env = json.loads(sys.argv[1])
ledger = Ledger(env=env)
ledger.open_region(load_policy_file())
people = [f"P{i:05d}" for i in range(12_000)]
with ledger.batch() as unit:
    commands = [Enrol("210100", p, "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)) for p in people]
    ledger.prefetch(unit, commands)
    for command in commands:
        ledger.enrol(command, unit)
# One remittance of 12,000 lines: 12,000 account events in one save (about 8 MB of event state).
# A wage base of 100,000 fen at age 44 (band 35-45, 1%): employee 2,000 + employer 6,000 = 8,000 a line.
lines = tuple(RemittanceLine(p, 100_000) for p in people)
outcome = ledger.post_remittance(PostRemittance("210100", "R-BIG", "employer", "E1", "2024-01", date(2024, 1, 15), 12_000 * 8_000, lines))
print(json.dumps({"total_fen": outcome["total_fen"], "p1_fen": ledger.personal_account("210100", "P00001").balance_fen}))
"""


@pytest.mark.postgres
def test_a_save_of_several_megabytes_commits_on_postgresql(postgres_env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(postgres_env)], capture_output=True, text=True,
                          timeout=180, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Each line: employee 2% of 100,000 = 2,000 and the 1% band of the employer share = 1,000 to the account.
    assert result == {"total_fen": 96_000_000, "p1_fen": 3_000}


def _backends_alive(ledger: object, pids: set[int]) -> set[int]:
    with ledger.recorder.datastore.get_connection() as connection:  # type: ignore[attr-defined]
        rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)).fetchall()
    return {row["pid"] for row in rows}


def _enrol_many(ledger: Any, first: int, count: int) -> None:
    with ledger.batch() as unit:
        for index in range(first, first + count):
            ledger.enrol(Enrol("210100", f"P{index:05d}", "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)), unit)


@pytest.mark.postgres
def test_a_large_save_goes_in_statements_of_bounded_size_and_keeps_the_pools_connections(postgres_env: dict[str, str],
                                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The client library keeps, with each connection, a send buffer the size of the largest
    statement it sent: a pool of connections taken in turn would come to hold a save's worth each
    (the consumer grew by about 20 MiB a month at 20,000 accounts). A save is sent in statements
    of at most ``SEND_CHUNK_BYTES`` of state, all committed together and chained as one, and the
    pool keeps its sessions (no new handshake and server process a save, as when the pool's
    connections were replaced after each large save)."""
    from adapters import chain, postgres_recorder
    from ledger.application import Ledger
    from ledger.policy import load_policy_file

    monkeypatch.setattr(postgres_recorder, "SEND_CHUNK_BYTES", 4_000)  # a few events a statement
    ledger = Ledger(env=postgres_env)
    try:
        ledger.open_region(load_policy_file())
        recorder = ledger.recorder
        sent: list[int] = []  # the events in each INSERT statement the recorder sent
        insert = recorder.chain_insert_statement  # type: ignore[attr-defined]
        execute = psycopg.Cursor.execute

        def counting(cursor: psycopg.Cursor[Any], query: Any, params: Any = None, **kwargs: Any) -> Any:
            if query is insert:
                sent.append(len(params[0]))
            return execute(cursor, query, params, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
        backends_before = _pool_backends(ledger)
        head_before = recorder.max_notification_id()
        _enrol_many(ledger, 0, 40)  # an event of about 800 bytes each, and the batch's record
        saved = recorder.max_notification_id() - head_before
        assert saved >= 40 and sum(sent) == saved and len(sent) >= 8 and max(sent) <= 5, sent
        check = chain.check_whole_chain(recorder)
        assert check is not None and check.breaks == 0 and check.rows == head_before + saved
        assert ledger.personal_account("210100", "P00039").enrolled_on == date(2024, 1, 1)
        assert _backends_alive(ledger, backends_before) == backends_before  # the pool's sessions kept
    finally:
        ledger.close()


@pytest.mark.postgres
def test_a_save_that_fails_in_a_later_statement_leaves_nothing(postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The statements of one save are one transaction: the connection failing before the third
    leaves none of the save's events, and the next save chains on from the last one committed."""
    from adapters import chain, postgres_recorder
    from ledger.application import Ledger
    from ledger.policy import load_policy_file

    monkeypatch.setattr(postgres_recorder, "SEND_CHUNK_BYTES", 4_000)
    ledger = Ledger(env=postgres_env)
    try:
        ledger.open_region(load_policy_file())
        recorder = ledger.recorder
        insert = recorder.chain_insert_statement  # type: ignore[attr-defined]
        execute = psycopg.Cursor.execute
        inserts = 0

        def failing_third(cursor: psycopg.Cursor[Any], query: Any, params: Any = None, **kwargs: Any) -> Any:
            nonlocal inserts
            if query is insert:
                inserts += 1
                if inserts == 3:
                    raise psycopg.OperationalError("the connection was lost while sending the save")
            return execute(cursor, query, params, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", failing_third)
        head_before = recorder.max_notification_id()
        with pytest.raises(OperationalError, match="the connection was lost"):
            _enrol_many(ledger, 0, 40)
        assert inserts == 3
        assert recorder.max_notification_id() == head_before
        with pytest.raises(UnknownPerson):
            ledger.personal_account("210100", "P00000")
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        _enrol_many(ledger, 100, 5)
        saved = recorder.select_notifications(head_before + 1, 1_000)  # after a gap: the failed save drew its positions
        assert len(saved) >= 5 and saved[0].id > head_before + 40
        check = chain.check_whole_chain(recorder)
        assert check is not None and check.breaks == 0 and check.rows == head_before + len(saved)
    finally:
        ledger.close()


def _pool_backends(ledger: Any) -> set[int]:
    """The server processes of every connection the pool holds now."""
    pool = ledger.recorder.datastore.pool
    connections = [pool.getconn() for _ in range(pool.get_stats()["pool_size"])]
    try:
        return {connection.info.backend_pid for connection in connections}
    finally:
        for connection in connections:
            pool.putconn(connection)
