"""``fund-ledger publish FILE.jsonl``: send a file of messages to their topics, keyed for order.

Every line is first read as the consumer reads it (``consumers.handlers.read_message``: the strict
JSON reader, then the schema) and nothing is sent if any line is refused, unless ``--raw``
(for tests and for reproducing a producer's bad output): then lines are sent as they are, to the
topic of their type when it can be read, else to ``--fallback-topic``.

The file is streamed, never held: read once to check every line (a file of more than
``MAX_LINES`` lines is refused as soon as its line ``MAX_LINES + 1`` is read), then again to send
it, ``SEND_CHUNK_RECORDS`` records (at most ``SEND_CHUNK_BYTES``) at a time, each line checked
again (a file changed in between stops the sending at its first refused line, saying how much
was sent). Lines are read as ``fund-ledger ingest`` reads them (``consumers.ingest``): a line over
2 MB is kept in part, and refused as too large.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from consumers import contract
from consumers.handlers import Delivery, read_message
from consumers.ingest import read_deliveries
from consumers.kafka_io import DEFAULT_PARTITIONS, bootstrap_servers, ensure_topics, producer, route_raw, send_all
from consumers.refusals import MessageRefused, refusal
from ledger.errors import InvalidInput

MAX_LINES = 1_000_000
SEND_CHUNK_RECORDS = 10_000
SEND_CHUNK_BYTES = 64 << 20
MAX_REFUSALS_SHOWN = 50

Record = tuple[str, str | None, bytes, tuple[()]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="JSON lines: one message (docs/messages.md) per line")
    parser.add_argument("--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:19092")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="partitions of topics created if missing")
    parser.add_argument("--raw", action="store_true", help="send lines unvalidated, as they are")
    parser.add_argument("--fallback-topic", help="with --raw: the topic of lines whose type cannot be read")


def _checked(args: argparse.Namespace) -> Iterator[tuple[int, Record | dict[str, Any]]]:
    """(line number, its record to send or its refusal) for every non-blank line of the file, read
    a line at a time; raises ``InvalidInput`` at the line past ``MAX_LINES``."""
    for count, delivery in enumerate(read_deliveries(args.file), start=1):
        if count > MAX_LINES:
            raise InvalidInput("file", f"at most {MAX_LINES} lines per file", lines=f"more than {MAX_LINES}")
        yield delivery.offset, _check(delivery, args)


def _check(delivery: Delivery, args: argparse.Namespace) -> Record | dict[str, Any]:
    value = delivery.value
    if args.raw:
        if delivery.is_truncated:  # a line's end is not kept: nothing to send as it is
            return {"code": "too_large", "reason": f"{delivery.size_bytes} bytes: a line over 2 MB is never sent"}
        try:
            topic, key = route_raw(value, args.topic_prefix, args.fallback_topic)
        except ValueError as error:
            return {"code": "unroutable", "reason": str(error)}
    else:
        try:  # read as the consumer reads it (duplicate keys, size...), or it would only be refused there
            topic, key = contract.route(read_message(value, delivery.size_bytes), args.topic_prefix)
        except (MessageRefused, ValueError) as error:
            return refusal(error)
    return topic, key, value, ()


def run(args: argparse.Namespace) -> int:
    refused: list[dict[str, Any]] = []
    refused_count, topics = 0, set()
    for number, checked in _checked(args):
        if isinstance(checked, dict):
            refused_count += 1
            if len(refused) < MAX_REFUSALS_SHOWN:
                refused.append({"line": number, **checked})
        else:
            topics.add(checked[0])
    if refused_count:
        print(json.dumps({"sent": 0, "refused": refused, "refused_count": refused_count}, ensure_ascii=False, indent=2))
        return 1
    bootstrap = bootstrap_servers(args.bootstrap_servers)
    # The topics must exist (the operator makes them: the broker creates none on first use).
    ensure_topics(bootstrap, args.topic_prefix, args.partitions, only=topics)
    kafka = producer(bootstrap)
    by_topic: Counter[str] = Counter()
    try:
        chunk: list[Record] = []
        chunk_bytes = 0
        for number, checked in _checked(args):
            if isinstance(checked, dict):  # the file changed since it was checked
                _send(kafka, chunk, by_topic)
                print(json.dumps({"sent": sum(by_topic.values()), "by_topic": dict(by_topic),
                                  "refused": [{"line": number, **checked}], "refused_count": 1,
                                  "reason": "the file changed while it was being sent: the lines before this one were sent"},
                                 ensure_ascii=False, indent=2))
                return 1
            chunk.append(checked)
            chunk_bytes += len(checked[2])
            if len(chunk) >= SEND_CHUNK_RECORDS or chunk_bytes >= SEND_CHUNK_BYTES:
                _send(kafka, chunk, by_topic)
                chunk, chunk_bytes = [], 0
        _send(kafka, chunk, by_topic)
    finally:
        kafka.close(timeout=10)
    print(json.dumps({"sent": sum(by_topic.values()), "by_topic": dict(by_topic)}, ensure_ascii=False, indent=2))
    return 0


def _send(kafka: Any, records: list[Record], by_topic: Counter[str]) -> None:
    if records:
        by_topic.update(sent.topic for sent in send_all(kafka, records))
