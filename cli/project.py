"""``fund-ledger project``: bring the projections up to date with the event log (catch up from
the tracked position, a batch per transaction)."""

from __future__ import annotations

import argparse
import sys

from projections.progress import Progress
from projections.projector import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, Projector
from projections.runtime import ledger_and_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"events per transaction (1 to {MAX_BATCH_SIZE}, default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--rebuild", action="store_true", help="drop the live projection tables and rebuild them from position 0")


def run(args: argparse.Namespace) -> int:
    from ledger.errors import InvalidInput
    from projections import schema

    if not 0 < args.batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}", value=args.batch_size)
    with ledger_and_store() as (ledger, store, description):
        if args.rebuild:
            store.drop_tables(schema.LIVE_PREFIX)
        projector = Projector(ledger, store, batch_size=args.batch_size)
        head = projector.head()
        progress = Progress("project", head, start=projector.position)
        result = projector.catch_up(progress=progress.update)
        progress.finish()
        print(f"projections ({store.description}; events in {description}) at position {result.end_position} of {head}: "
              f"{result.events:,} events applied in {result.batches} batches, {result.elapsed_s:.1f} s "
              f"({result.events_per_s:,.0f} events/s)", file=sys.stdout)
    return 0
