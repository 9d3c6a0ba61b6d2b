"""``fund-ledger consume``: the Kafka consumer, exactly-once in effect, until SIGTERM.

Run it with ``--log-format json --log-level info`` in production to get one line per message
and a lag/throughput summary every ``--summary-interval`` seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from consumers.consumer import ConsumerConfig, LedgerConsumer
from consumers.kafka_io import DEFAULT_PARTITIONS, bootstrap_servers
from consumers.runtime import open_ledger
from ledger.policy import DEFAULT_POLICY_FILE

DEFAULT_LOG_LEVEL = "info"  # one line per message and the periodic summary

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:19092")
    parser.add_argument("--group-id", default="fund-ledger")
    parser.add_argument("--topic-prefix", default="", help="prefix of every topic name, e.g. 'staging.'")
    parser.add_argument("--batch-size", type=int, default=500, help="records per poll and per transaction (1-10000)")
    parser.add_argument("--policy", type=Path, action="append", help="policy file of a region to open on start (repeatable)")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions of topics created on start")
    parser.add_argument("--no-create-topics", action="store_true", help="do not create missing topics")
    parser.add_argument("--session-timeout-ms", type=int, default=10_000)
    parser.add_argument("--heartbeat-interval-ms", type=int, default=3_000)
    parser.add_argument("--max-poll-interval-ms", type=int, default=300_000)
    parser.add_argument("--summary-interval", type=float, default=10.0, help="seconds between lag/throughput lines")
    parser.add_argument("--until-caught-up", action="store_true", help="exit once every assigned partition is read to its end")
    parser.add_argument("--max-seconds", type=float, help="exit after this long (a safety limit for tests and jobs)")
    parser.add_argument("--client-id", default="fund-ledger-consumer")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.batch_size <= 10_000:
        print("error: --batch-size must be between 1 and 10000")
        return 2
    config = ConsumerConfig(
        bootstrap=bootstrap_servers(args.bootstrap_servers), group_id=args.group_id, topic_prefix=args.topic_prefix,
        batch_size=args.batch_size, session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms, max_poll_interval_ms=args.max_poll_interval_ms,
        summary_interval_s=args.summary_interval, until_caught_up=args.until_caught_up, max_seconds=args.max_seconds,
        partitions=args.partitions, create_topics=not args.no_create_topics, client_id=args.client_id,
    )
    ledger = open_ledger(args.policy or [DEFAULT_POLICY_FILE])
    consumer = LedgerConsumer(ledger, config)
    consumer.install_signal_handlers()
    try:
        stats = consumer.run()
    finally:
        ledger.close()
    print(json.dumps(stats, ensure_ascii=False))
    return 0
