"""``fund-ledger publish FILE.jsonl``: send a file of messages to their topics, keyed for order.

Every line is first read as the consumer reads it (``consumers.handlers.read_message``: the strict
JSON reader, then the schema) and nothing is sent if any line is refused, unless ``--raw``
(for tests and for reproducing a producer's bad output): then lines are sent as they are, to the
topic of their type when it can be read, else to ``--fallback-topic``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from consumers import contract
from consumers.handlers import read_message
from consumers.kafka_io import DEFAULT_PARTITIONS, bootstrap_servers, ensure_topics, producer, route_raw, send_all
from consumers.refusals import MessageRefused, refusal
from ledger.errors import InvalidInput

MAX_LINES = 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSON lines: one message (docs/messages.md) per line")
    parser.add_argument("--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:19092")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions of topics created if missing")
    parser.add_argument("--raw", action="store_true", help="send lines unvalidated, as they are")
    parser.add_argument("--fallback-topic", help="with --raw: the topic of lines whose type cannot be read")


def run(args: argparse.Namespace) -> int:
    lines = [line for line in args.file.read_bytes().splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise InvalidInput("file", f"at most {MAX_LINES} lines per file", lines=len(lines))
    records, refused = [], []
    for number, value in enumerate(lines, start=1):
        if args.raw:
            try:
                topic, key = route_raw(value, args.topic_prefix, args.fallback_topic)
            except ValueError as error:
                refused.append({"line": number, "code": "unroutable", "reason": str(error)})
                continue
        else:
            try:  # read as the consumer reads it (duplicate keys, size...), or it would only be refused there
                topic, key = contract.route(read_message(value), args.topic_prefix)
            except (MessageRefused, ValueError) as error:
                refused.append({"line": number, **refusal(error)})
                continue
        records.append((topic, key, value, ()))
    if refused:
        print(json.dumps({"sent": 0, "refused": refused[:50], "refused_count": len(refused)}, ensure_ascii=False, indent=2))
        return 1
    bootstrap = bootstrap_servers(args.bootstrap_servers)
    # The topics must exist (the operator makes them: the broker creates none on first use).
    ensure_topics(bootstrap, args.topic_prefix, args.partitions, only={topic for topic, _, _, _ in records})
    kafka = producer(bootstrap)
    try:
        sent = send_all(kafka, records)
    finally:
        kafka.close(timeout=10)
    print(json.dumps({"sent": len(sent), "by_topic": dict(Counter(s.topic for s in sent))}, ensure_ascii=False, indent=2))
    return 0
