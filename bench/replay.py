"""Replay: rebuild every projection from position 0 into fresh tables, in a subprocess whose
RSS is sampled (``python -m bench.replay DBNAME`` is that subprocess).

What is timed is what ``fund-ledger replay`` does to build its fresh tables
(``projections.replay.rebuild``: batches of ``REBUILD_BATCH_SIZE`` events, the statements' key
built once after the load, in ``REPLAY_WORKERS`` processes split by person: ``projections.shards``),
writing a fresh prefix (``bench_replay_``); the comparison with the live tables that
``fund-ledger replay`` does afterwards is not timed here.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from datetime import date
from typing import Any

from bench import data
from bench.env import REPO, Database
from bench.measure import run_child

PREFIX = "bench_replay_"
AS_OF_PEOPLE = 20
AS_OF_DAY = date(data.YEAR, 7, 31)


def replay_in_subprocess(db: Database, workers: int | None = None) -> dict[str, Any]:
    """The replay's figures; ``workers``: ``REPLAY_WORKERS`` (its default if not given)."""
    env = {**os.environ, **db.environ, "PYTHONPATH": str(REPO)}
    if workers is not None:
        env["REPLAY_WORKERS"] = str(workers)
    run = run_child([sys.executable, "-m", "bench.replay"], env)
    if run.returncode != 0:
        raise RuntimeError(f"replay failed: {run.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = run.peak_rss_mib
    result["samples"] = run.samples
    return result


def main() -> None:
    from cli.logs import configure_logging
    from ledger.application import Ledger
    from ledger.settings import ledger_env
    from projections.replay import rebuild
    from projections.shards import workers_for
    from projections.store import open_store

    configure_logging("auto", "warning")
    ledger = Ledger(env=ledger_env())
    store = open_store(ledger)
    try:
        workers = workers_for(ledger, store, events=ledger.recorder.max_notification_id() or 0)
        result = rebuild(ledger, store, PREFIX, workers=workers)
        as_of_ms = personal_as_of_ms(store)
        store.drop_tables(PREFIX)
    finally:
        store.close()
        ledger.close()
    print(json.dumps({"events": result.events, "elapsed_s": result.elapsed_s, "batches": result.batches, "as_of_ms": as_of_ms, "workers": workers,
                      "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def personal_as_of_ms(store: Any, people: int = AS_OF_PEOPLE) -> float | None:
    """Median milliseconds of one person's ``personal`` report as of mid-year, from the tables the
    replay built (what ``fund-ledger report personal --person P --as-of DAY`` does on the live
    ones: ``projections.as_of``), over ``people`` people from the middle of the table."""
    from projections.as_of import personal_store_as_of
    from projections.reports import Filters, run_report

    count = store.query(f"SELECT count(*) AS n FROM {PREFIX}personal_balances")[0]["n"]
    rows = store.query(f"SELECT region, person_id FROM {PREFIX}personal_balances ORDER BY person_id LIMIT ? OFFSET ?",
                       (people, max(0, count // 2 - people // 2)))
    timings = []
    for row in rows:
        started = time.perf_counter()
        accounts = personal_store_as_of(store, AS_OF_DAY, row["region"], row["person_id"], prefix=PREFIX)
        try:
            report = run_report("personal", accounts, Filters(region=row["region"], person=row["person_id"]))
        finally:
            accounts.close()
        timings.append(time.perf_counter() - started)
        assert any(section.rows for section in report.sections), f"no as-of row for {row['person_id']}"
    return statistics.median(timings) * 1000 if timings else None


if __name__ == "__main__":
    main()
