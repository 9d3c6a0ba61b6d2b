"""Anchors: the chain head written down outside the database, so that a history rewritten whole
(every hash recomputed after an edit) is still caught.

An anchor is one JSON line ``{"position": n, "chain_hash": "<hex>", "anchored_at": "<UTC ISO>",
"store": "..."}``: the log's head when it was taken. ``fund-ledger anchor --file F`` appends one
to a file the auditor keeps (ideally on another machine, or printed into the audit file);
``--kafka-topic T`` also publishes it to a Kafka topic (the broker keeps its own copy, outside
the database). Run it at intervals (cron, or after each day's ingest). ``fund-ledger verify
--anchors F`` recomputes the chain from position 0 and checks every anchor: the hash recomputed
at the anchor's position must be the anchored one, and the log must still reach that position.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters import chain
from ledger.errors import InvalidInput

MAX_ANCHOR_LINE_BYTES = 4_096
MAX_POSITION = 2**63 - 1  # a position is a signed 64-bit integer (the chain hashes it in 8 bytes)


@dataclass(frozen=True)
class Anchor:
    position: int
    chain_hash: str  # hex
    anchored_at: str
    store: str = ""

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def take_anchor(ledger: Any, store: str = "") -> Anchor:
    """The log's head now."""
    position, recorded = chain.head(ledger.recorder)
    return Anchor(position, recorded.hex(), datetime.now(UTC).isoformat(timespec="seconds"), store)


def append_anchor(path: Path, anchor: Anchor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(anchor.line() + "\n")


def publish_anchor(bootstrap: str, topic: str, anchor: Anchor) -> None:
    """Publish to Kafka (key: the position), waiting for the broker's acknowledgement."""
    from kafka import KafkaProducer

    from consumers.kafka_io import client_options  # the settings' credentials (KAFKA_SASL_*)

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options())
    try:
        producer.send(topic, key=str(anchor.position).encode(), value=anchor.line().encode()).get(timeout=30)
    finally:
        producer.close()


def read_anchors(lines: Iterable[str], source: str) -> list[Anchor]:
    """Anchors from JSON lines; a malformed line is refused with its line number."""
    anchors = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if len(text) > MAX_ANCHOR_LINE_BYTES:
            raise InvalidInput("anchors", f"{source} line {number} is longer than {MAX_ANCHOR_LINE_BYTES} bytes")
        try:
            found = json.loads(text)
            anchor = Anchor(_position(found["position"]), str(found["chain_hash"]), str(found.get("anchored_at", "")),
                            str(found.get("store", "")))
            bytes.fromhex(anchor.chain_hash)
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidInput("anchors", f"{source} line {number} is not an anchor ({error})") from None
        if anchor.position < 0 or len(anchor.chain_hash) != 2 * chain.HASH_BYTES:
            raise InvalidInput("anchors", f"{source} line {number}: position must be >= 0 and chain_hash 64 hex digits")
        anchors.append(anchor)
    return anchors


def _position(value: object) -> int:
    """An anchor's position: a whole number (not 1e400, 2.5 or true), within a position's range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"position must be a whole number, got {str(value)[:40]}")
    if value > MAX_POSITION:
        raise ValueError(f"position must be at most {MAX_POSITION}, got {str(value)[:40]}")
    return value


def load_anchor_file(path: Path) -> list[Anchor]:
    try:
        with path.open(encoding="utf-8") as lines:
            return read_anchors(lines, str(path))
    except OSError as error:
        raise InvalidInput("anchors", f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InvalidInput("anchors", f"{path} is not UTF-8 text (byte {error.start} of a line): not an anchor file") from None


def read_anchor_topic(bootstrap: str, topic: str, timeout_ms: int = 5_000) -> list[Anchor]:
    """Every anchor published to ``topic`` (read from the beginning)."""
    from kafka import KafkaConsumer, TopicPartition

    from consumers.kafka_io import client_options  # the settings' credentials (KAFKA_SASL_*)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=timeout_ms, **client_options())
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise InvalidInput("anchors_topic", f"Kafka topic {topic!r} does not exist")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        lines: list[str] = []
        while any(consumer.position(p) < ends[p] for p in partitions):
            for records in consumer.poll(timeout_ms=timeout_ms).values():
                lines.extend(record.value.decode(errors="replace") for record in records)
        return read_anchors(lines, f"topic {topic}")
    finally:
        consumer.close()


def check_anchors(anchors: list[Anchor], recomputed: dict[int, bytes], head_position: int) -> list[str]:
    """What contradicts the anchors: ``recomputed`` holds the hash recomputed from position 0 at
    every anchored position that the log still has."""
    problems = []
    for anchor in anchors:
        found = recomputed.get(anchor.position)
        if anchor.position == 0:
            continue
        if anchor.position > head_position:
            problems.append(f"anchor of {anchor.anchored_at} is at position {anchor.position} but the log now ends at "
                            f"{head_position}: events were removed")
        elif found is None:
            problems.append(f"anchor of {anchor.anchored_at} is at position {anchor.position}, where the log has no event: "
                            "events were removed or moved")
        elif found.hex() != anchor.chain_hash:
            problems.append(f"anchor of {anchor.anchored_at}: the history up to position {anchor.position} hashes to "
                            f"{found.hex()[:16]}..., the anchor says {anchor.chain_hash[:16]}...: the history was rewritten")
    return problems
