"""``fund-ledger anchor``: write the chain head down outside the database (``projections.anchors``):
append it to a file the auditor keeps and/or publish it to a Kafka topic. Run it at intervals
(``--every SECONDS`` keeps running, taking one anchor per interval); ``fund-ledger verify
--anchors FILE`` checks the history against them."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ledger.errors import InvalidInput
from projections.anchors import append_anchor, publish_anchor, take_anchor
from projections.runtime import ledger_and_store

MAX_ANCHORS = 1_000_000  # with --every: a bound on the loop


def bootstrap_servers(args: argparse.Namespace) -> str:
    return args.bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, help="append the anchor to this file (JSON lines)")
    parser.add_argument("--kafka-topic", help="publish the anchor to this Kafka topic, e.g. ledger.chain-anchors")
    parser.add_argument("--bootstrap-servers", default=None, help="Kafka brokers (default: 127.0.0.1:$KAFKA_PORT)")
    parser.add_argument("--every", type=int, default=0, help="keep running: one anchor every this many seconds")


def run(args: argparse.Namespace) -> int:
    if args.file is None and not args.kafka_topic:
        raise InvalidInput("file", "give --file and/or --kafka-topic: where to keep the anchor")
    if args.every < 0:
        raise InvalidInput("every", "must be a number of seconds >= 0", value=args.every)
    with ledger_and_store() as (ledger, _, description):
        for _ in range(MAX_ANCHORS):
            anchor = take_anchor(ledger, description)
            if args.file is not None:
                append_anchor(args.file, anchor)
            if args.kafka_topic:
                publish_anchor(bootstrap_servers(args), args.kafka_topic, anchor)
            print(anchor.line())
            sys.stdout.flush()
            if not args.every:
                break
            time.sleep(args.every)
    return 0
