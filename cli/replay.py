"""``fund-ledger replay``: rebuild every projection from position 0 into fresh tables and compare
them with the live ones, row by row. Exit code 0 on PASS, 1 on FAIL."""

from __future__ import annotations

import argparse

from projections.progress import Progress
from projections.projector import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
from projections.replay import replay
from projections.runtime import ledger_and_store
from projections.shards import DEFAULT_WORKERS, MAX_WORKERS, WORKERS_SETTING


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"events per transaction (max {MAX_BATCH_SIZE})")
    parser.add_argument("--keep", action="store_true", help="keep the rebuilt proj_replay_* tables for inspection")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"processes that rebuild the fresh tables, split by person, on PostgreSQL (1 to {MAX_WORKERS}; "
                             f"default: {WORKERS_SETTING} or {DEFAULT_WORKERS}); one on SQLite")


def run(args: argparse.Namespace) -> int:
    from ledger.errors import InvalidInput

    if not 0 < args.batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}", value=args.batch_size)
    if args.workers is not None and not 0 < args.workers <= MAX_WORKERS:
        raise InvalidInput("workers", f"must be between 1 and {MAX_WORKERS}", value=args.workers)
    with ledger_and_store() as (ledger, store, description):
        bar: list[Progress] = []

        def progress(position: int, total: int) -> None:
            if not bar:
                bar.append(Progress("replay", total))
            bar[0].update(position)

        result = replay(ledger, store, batch_size=args.batch_size, progress=progress, keep=args.keep, workers=args.workers)
        if bar:
            bar[0].finish()
        processes = f" in {result.workers} processes" if result.workers > 1 else ""
        print(f"replay of {description} into {store.description}: {result.events:,} events in {result.elapsed_s:.1f} s{processes}; "
              f"live at position {result.live_position}, replay at {result.replay_position}")
        if result.chain is not None:
            broken = result.chain.first_break
            state = "intact" if broken is None else f"BROKEN at position {broken.position}: {broken.reason}"
            print(f"  hash chain over {result.chain.rows:,} events checked in {result.chain_s:.1f} s: {state}")
        for table, count in result.rows.items():
            print(f"  {table:<22} {count:>10,} rows")
        for difference in result.differences:
            print(f"DIFFERENCE in {difference.table}: {difference.only_live} rows only in the live table, "
                  f"{difference.only_replay} only in the replay")
            for row in difference.live_sample:
                print(f"  live:   {row}")
            for row in difference.replay_sample:
                print(f"  replay: {row}")
        if result.passed:
            print("PASS: the replay equals the live projections")
            return 0
        if result.chain is not None and not result.chain.intact:
            print("FAIL: the history replayed is not the one written (the hash chain is broken; run fund-ledger verify)")
        else:
            print("FAIL: the replay differs from the live projections (replay tables kept as proj_replay_*)")
        return 1
