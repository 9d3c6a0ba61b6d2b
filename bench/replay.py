"""Replay: rebuild every projection from position 0 into fresh tables, in a subprocess whose
RSS is sampled (``python -m bench.replay DBNAME`` is that subprocess).

The projector is the one ``fund-ledger replay`` uses (``projections.projector.Projector``, default
batch size), writing a fresh prefix (``bench_replay_``); the comparison with the live tables that
``fund-ledger replay`` does afterwards is not timed here.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any

from bench.env import REPO, Database
from bench.measure import run_child

PREFIX = "bench_replay_"


def replay_in_subprocess(db: Database) -> dict[str, Any]:
    env = {**os.environ, **db.environ, "PYTHONPATH": str(REPO)}
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
    from projections.projector import Projector
    from projections.store import open_store

    configure_logging("auto", "warning")
    ledger = Ledger(env=ledger_env())
    store = open_store(ledger)
    try:
        store.drop_tables(PREFIX)
        projector = Projector(ledger, store, prefix=PREFIX)
        result = projector.catch_up()
        store.drop_tables(PREFIX)
    finally:
        store.close()
        ledger.close()
    print(json.dumps({"events": result.events, "elapsed_s": result.elapsed_s, "batches": result.batches,
                      "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
