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
from pathlib import Path

import pytest

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


@pytest.mark.postgres
def test_the_connection_that_sent_a_large_save_does_not_go_back_to_the_pool(postgres_env: dict[str, str],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The client library keeps, with each connection, buffers the size of the largest save it
    sent: a pool of connections taken in turn would come to hold one each (the consumer grew by
    about 20 MiB a month at 20,000 accounts). A small save keeps its connection; after a large
    one the pool's connections are replaced."""
    import time
    from datetime import date

    from adapters import postgres_recorder
    from ledger.application import Ledger
    from ledger.commands import Enrol
    from ledger.policy import load_policy_file

    ledger = Ledger(env=postgres_env)
    try:
        ledger.open_region(load_policy_file())
        datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
        used: list[int] = []
        get_connection = datastore.get_connection

        def recording(*args: object, **kwargs: object) -> object:
            manager = get_connection(*args, **kwargs)

            class Recorded:
                def __enter__(self) -> object:
                    connection = manager.__enter__()
                    used.append(connection.info.backend_pid)
                    return connection

                def __exit__(self, *exc: object) -> object:
                    return manager.__exit__(*exc)
            return Recorded()

        def enrol(person_id: str) -> None:
            used.clear()
            ledger.enrol(Enrol("210100", person_id, "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)))

        monkeypatch.setattr(datastore, "get_connection", recording)
        enrol("P1")  # a few kilobytes: below the bound
        small_save_pids = set(used)
        assert small_save_pids and _backends_alive(ledger, small_save_pids) == small_save_pids

        monkeypatch.setattr(postgres_recorder, "LARGE_SAVE_BYTES", 100)  # the same save, now counted as large
        enrol("P2")
        large_save_pids = set(used)
        deadline = time.monotonic() + 10
        while _backends_alive(ledger, large_save_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _backends_alive(ledger, large_save_pids) == set()
        assert ledger.personal_account("210100", "P2").enrolled_on == date(2024, 1, 1)  # the pool serves on
    finally:
        ledger.close()
