"""``fund-ledger verify``: recompute the hash chain, the trial balance and every invariant over the
whole history (see ``projections.verify``), and check the anchors kept outside the database
(``--anchors FILE``, ``--anchors-topic TOPIC``). Exit code 0 on PASS, 1 on FAIL."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledger.application import Ledger
from ledger.money import yuan_text
from ledger.settings import ledger_env, store_description
from projections.anchors import Anchor, load_anchor_file, read_anchor_topic
from projections.progress import Progress
from projections.store import ProjectionStore, open_store
from projections.verify import Verifier


@contextmanager
def read_only_ledger_and_store() -> Iterator[tuple[Any, ProjectionStore, str]]:
    """The ledger and its projections as ``projections.runtime.ledger_and_store`` opens them, but
    changing nothing in the store verify checks: no table made, no trigger put back, no chain
    backfilled (``adapters.sqlite_recorder``), whatever state the store is in."""
    env = {**ledger_env(), "CREATE_TABLE": "n"}
    ledger = Ledger(env=env)
    try:
        store = open_store(ledger)
    except BaseException:
        ledger.close()
        raise
    try:
        yield ledger, store, store_description(env)
    finally:
        store.close()
        ledger.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-projection", action="store_true", help="do not compare the live projection's balances")
    parser.add_argument("--anchors", type=Path, help="a file of anchors (fund-ledger anchor --file) to check the chain against")
    parser.add_argument("--anchors-topic", help="a Kafka topic of anchors (fund-ledger anchor --kafka-topic) to check against")
    parser.add_argument("--bootstrap-servers", default=None, help="Kafka brokers (default: 127.0.0.1:$KAFKA_PORT)")


def anchors_from(args: argparse.Namespace) -> list[Anchor]:
    found: list[Anchor] = []
    if args.anchors is not None:
        found += load_anchor_file(args.anchors)
    if args.anchors_topic:
        from cli.anchor import bootstrap_servers

        found += read_anchor_topic(bootstrap_servers(args), args.anchors_topic)
    return found


def run(args: argparse.Namespace) -> int:
    with read_only_ledger_and_store() as (ledger, store, description):
        verifier = Verifier(ledger)
        bar: list[Progress] = []

        def progress(position: int, total: int) -> None:
            if not bar:
                bar.append(Progress("verify", total))
            bar[0].update(position)

        result = verifier.run(progress, anchors=anchors_from(args))
        if bar:
            bar[0].finish()
        if not args.no_projection:
            verifier.compare_projection(store)
        transactions = "unknown" if result.transactions is None else f"{result.transactions:,}"
        print(f"verify {description}: {result.events:,} events, {result.postings:,} postings, {transactions} transactions")
        print("Trial balance (debit +, credit -, yuan)")
        by_region: dict[str, int] = {}
        for (region, account), amount_fen in sorted(result.trial_balance.items()):
            print(f"  {region}  {account:<40} {yuan_text(amount_fen):>20}")
            by_region[region] = by_region.get(region, 0) + amount_fen
        for region, total_fen in sorted(by_region.items()):
            print(f"  {region}  {'total':<40} {yuan_text(total_fen):>20}")
        if result.chain_head is not None:
            position, head = result.chain_head
            state = "intact" if result.first_break is None else f"BROKEN at position {result.first_break.position}"
            print(f"Hash chain: {result.chain_events:,} events, {state}; head at position {position}: {head.hex()}")
        for note in result.notes:
            print(f"note: {note}")
        for kind, count in sorted(result.counts.items()):
            print(f"FAILED: {kind}: {count}")
            for example in result.violations[kind]:
                print(f"  {example}")
        print("PASS: every invariant holds" if result.passed else "FAIL: see the violations above")
        return 0 if result.passed else 1
