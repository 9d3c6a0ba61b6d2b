"""``fund-ledger consume``: the Kafka consumer, exactly-once in effect, until SIGTERM.

Run it with ``--log-format json --log-level info`` in production to get one line per message
and a lag/throughput summary every ``--summary-interval`` seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from consumers.consumer import ConsumerConfig, LedgerConsumer, Patience
from consumers.kafka_io import DEFAULT_PARTITIONS, bootstrap_servers
from consumers.retries import DEFAULT_DELAYS_S, parse_delays
from consumers.runtime import open_ledger
from ledger.errors import InvalidInput
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
    parser.add_argument("--until-messages", type=int, metavar="N",
                        help="exit once N messages were handled (applied, duplicates, dead letters, deferred) and every "
                             "assigned partition is read to its end: a job started before what it is to read is published")
    parser.add_argument("--max-seconds", type=float, help="exit after this long (a safety limit for tests and jobs)")
    parser.add_argument("--client-id", default="fund-ledger-consumer")
    parser.add_argument("--retry-delays", default=",".join(f"{d:g}" for d in DEFAULT_DELAYS_S), metavar="S,S,...",
                        help="seconds before each new attempt at a message that may apply later (a claim before its "
                             "person's enrolment); after the last, it is dead-lettered (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.batch_size <= 10_000:
        raise InvalidInput("batch_size", "must be between 1 and 10000", value=args.batch_size)
    if args.until_messages is not None and args.until_messages < 0:
        raise InvalidInput("until_messages", "must be 0 or more", value=args.until_messages)
    try:
        retry_plan = parse_delays(args.retry_delays)
    except ValueError as error:
        raise InvalidInput("retry_delays", str(error), value=args.retry_delays) from None
    config = ConsumerConfig(
        bootstrap=bootstrap_servers(args.bootstrap_servers), group_id=args.group_id, topic_prefix=args.topic_prefix,
        batch_size=args.batch_size, session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms, max_poll_interval_ms=args.max_poll_interval_ms,
        summary_interval_s=args.summary_interval, until_caught_up=args.until_caught_up, max_seconds=args.max_seconds,
        until_messages=args.until_messages,
        partitions=args.partitions, create_topics=not args.no_create_topics, client_id=args.client_id, retry_plan=retry_plan,
    )
    patience = Patience(config.bootstrap, config.max_seconds)
    patience.install_signal_handlers()
    # The database may be down when the consumer starts: wait for it as for the broker.
    ledger = patience.until_reachable(lambda: open_ledger(args.policy or [DEFAULT_POLICY_FILE]))
    if ledger is None:
        print(json.dumps({"stopped": "before the database could be reached"}))
        return 0
    consumer = LedgerConsumer(ledger, config, patience=patience)
    try:
        stats = consumer.run()
    finally:
        ledger.close()
    print(json.dumps(stats, ensure_ascii=False))
    return 0
