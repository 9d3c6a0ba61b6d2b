"""``fund-ledger project``: bring the projections up to date with the event log (catch up from
the tracked position, a batch per transaction); with ``--follow``, keep them so
(``projections.projector.Follower``), logging the lag as ``projections.following``, at a CPU
priority below the consumer's (``--niceness``, ``projections.projector.FOLLOW_NICENESS``)."""

from __future__ import annotations

import argparse
import sys

from projections.progress import Progress
from projections.projector import DEFAULT_BATCH_SIZE, FOLLOW_NICENESS, MAX_BATCH_SIZE, POLL_INTERVAL_S, Follower, Projector, yield_cpu
from projections.runtime import ledger_and_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"events per transaction (1 to {MAX_BATCH_SIZE}, default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--rebuild", action="store_true", help="drop the live projection tables and rebuild them from position 0")
    parser.add_argument("--follow", action="store_true",
                        help="keep the projections live: apply new events as they are written, until stopped (SIGTERM, Ctrl-C)")
    parser.add_argument("--poll-interval", dest="poll_interval", type=float, default=POLL_INTERVAL_S,
                        help=f"with --follow: seconds between looks at the log (default {POLL_INTERVAL_S})")
    parser.add_argument("--niceness", type=int, default=FOLLOW_NICENESS,
                        help=f"with --follow: how much lower than the consumer's this process's CPU priority is, 0 to 19 "
                             f"(nice(1); default {FOLLOW_NICENESS}): the ingest gets the CPU first, the projection catches up")


def run(args: argparse.Namespace) -> int:
    from ledger.errors import InvalidInput
    from projections import schema

    if not 0 < args.batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}", value=args.batch_size)
    if not 0.05 <= args.poll_interval <= 3600:
        raise InvalidInput("poll_interval", "must be between 0.05 and 3600 seconds", value=args.poll_interval)
    if not 0 <= args.niceness <= 19:
        raise InvalidInput("niceness", "must be between 0 and 19", value=args.niceness)
    if args.follow:
        _yield_cpu(args.niceness)
    with ledger_and_store(follow=args.follow) as (ledger, store, description):
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
        if args.follow:
            _follow(projector, args.poll_interval)
    return 0


def _yield_cpu(niceness: int) -> None:
    """Before any thread starts (they inherit it): the follower's priority, lowered."""
    import structlog

    now = yield_cpu(niceness)
    if now is not None:
        structlog.get_logger().info("projections.niceness", niceness=now)


def _follow(projector: Projector, poll_interval_s: float) -> None:
    """Follow the log until SIGTERM or SIGINT."""
    import signal
    import threading

    import structlog

    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    print(f"following the log every {poll_interval_s} s (SIGTERM or Ctrl-C to stop)", file=sys.stdout, flush=True)
    def say(position: int, head: int) -> None:
        print(f"projections at position {position} of {head} (lag {max(0, head - position)} events)", file=sys.stdout, flush=True)

    applied = Follower(projector, poll_interval_s, on_progress=say).run(stop)
    structlog.get_logger().info("projections.stopped", position=projector.position, applied=applied)
