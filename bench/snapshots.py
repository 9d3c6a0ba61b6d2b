"""What personal-account snapshots buy and cost (issue 14): a process that does not hold the
accounts (a consumer after a restart, a region whose accounts outnumber the aggregate cache, a
year-end run) reads each account's last snapshot and the events after it, not its whole history.

- Setup: N persons enrolled, then the twelve months of a year of remittances, a month at a time
  (direct ingest, one process, warm cache after the first month). An account's twelfth event is
  its November contribution: that month's saves snapshot every account
  (``Ledger.account_snapshot_interval`` = 12), December's do not.
- The cost: November's CPU in the ingesting process against the mean of October's and
  December's (a warm month writing no snapshot).
- What it buys: a fresh process loads every account (``UnitOfWork.prefetch`` in chunks of 2,000,
  as an interest chunk or a consumer's batch does), from the snapshots (the snapshot and one event
  each) against from every event (13 each, the snapshots' reader switched off); CPU and wall time
  of the loading, rounds alternated, the fastest of each kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench import data, env
from bench.ingest import DIRECT_BATCH, WORK_DIR
from bench.measure import Figure, Results, ratio
from consumers.ingest import ingest_file
from ledger.application import Ledger
from ledger.policy import load_policy_file

ROUNDS = 2
MONTHS = 12
SNAPSHOT_MONTH = 11  # the enrolment and eleven months: the twelfth event

_LOADER = """
import json, sys, time
from cli.logs import configure_logging
configure_logging("json", "warning")
from bench import data
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.unit_of_work import UnitOfWork
env, persons, mode = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ledger = Ledger(env=env)
if mode == "events":
    ledger.__dict__["_latest_snapshots"] = lambda ids: {}
ids = [PersonalAccount.id_for(data.REGION, p.person_id) for p in data.persons(persons)]
cpu, wall = time.process_time(), time.perf_counter()
versions = 0
for start in range(0, len(ids), 2000):
    unit = UnitOfWork(ledger)
    unit.prefetch(ids[start:start + 2000])
    versions += sum(unit.get(i, PersonalAccount).version for i in ids[start:start + 2000])
    unit.discard()
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall, "versions": versions}))
ledger.close()
"""


def _ingest_year(db: env.Database, persons: int) -> dict[int, float]:
    """CPU seconds of each month's ingest in one process."""
    people = data.persons(persons)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    enrol = data.write_jsonl(WORK_DIR / "snapshots-enrol.jsonl", data.enrolment_messages(people))
    messages = data.remittance_messages(people, MONTHS)
    cpu_s: dict[int, float] = {}
    ledger = Ledger(env=db.ledger_env())
    try:
        ledger.open_region(load_policy_file())
        assert ingest_file(ledger, enrol, batch_size=DIRECT_BATCH, dead_letter_file=None).dead_letters == 0
        for month in range(1, MONTHS + 1):
            tag = f'"period":"{data.YEAR}-{month:02d}"'.encode()
            path = data.write_jsonl(WORK_DIR / "snapshots-month.jsonl", [m for m in messages if tag in m])
            started = time.process_time()
            report = ingest_file(ledger, path, batch_size=DIRECT_BATCH, dead_letter_file=None)
            cpu_s[month] = time.process_time() - started
            assert report.dead_letters == 0, report.as_dict()
    finally:
        ledger.close()
        enrol.unlink(missing_ok=True)
        (WORK_DIR / "snapshots-month.jsonl").unlink(missing_ok=True)
    return cpu_s


def _load(db: env.Database, persons: int, mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _LOADER, json.dumps(db.ledger_env()), str(persons), mode], cwd=env.REPO,
                          capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _table_mib(db: env.Database, table: str) -> float:
    with db.connect() as conn:
        row = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
    return float(row[0]) / 2**20 if row else 0.0


def bench_snapshots(persons: int, results: Results) -> None:
    with env.fresh_database("snapshots") as db:
        cpu_s = _ingest_year(db, persons)
        env.settle(db)
        loads: dict[str, list[dict[str, float]]] = {"snapshots": [], "events": []}
        for _ in range(ROUNDS):
            for mode in loads:
                loads[mode].append(_load(db, persons, mode))
        snapshots_mib, events_mib = _table_mib(db, "fundledger_snapshots"), _table_mib(db, "fundledger_events")
    versions = {load["versions"] for runs in loads.values() for load in runs}
    assert len(versions) == 1, f"the two ways loaded other versions: {versions}"
    best = {mode: min(runs, key=lambda load: load["cpu_s"]) for mode, runs in loads.items()}
    warm_s = (cpu_s[SNAPSHOT_MONTH - 1] + cpu_s[SNAPSHOT_MONTH + 1]) / 2
    per_account = versions.pop() / persons
    results.add(Figure("a fresh process loading every account, from snapshots", best["snapshots"]["cpu_s"], "s CPU",
                       "from every event, s CPU", best["events"]["cpu_s"], ratio(best["snapshots"]["cpu_s"], best["events"]["cpu_s"]),
                       note=f"{persons:,} accounts at version {per_account:.0f} (a snapshot at 12 and one event after it, against "
                            f"{per_account:.0f} events each), chunks of 2,000; wall {best['snapshots']['wall_s']:.1f} s against "
                            f"{best['events']['wall_s']:.1f} s; fastest of {ROUNDS} alternated"))
    results.add(Figure("the month that snapshots every account, ingest CPU", cpu_s[SNAPSHOT_MONTH], "s CPU",
                       "a warm month writing none, s CPU", warm_s, ratio(cpu_s[SNAPSHOT_MONTH], warm_s),
                       note=f"{persons:,} lines of {data.YEAR}-{SNAPSHOT_MONTH:02d} in the ingesting process (direct ingest), against the "
                            f"mean of the months before and after ({cpu_s[SNAPSHOT_MONTH - 1]:.1f}, {cpu_s[SNAPSHOT_MONTH + 1]:.1f} s); "
                            f"snapshots {snapshots_mib:.0f} MiB beside the events' {events_mib:.0f} MiB"))
