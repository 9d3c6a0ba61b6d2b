"""Kafka plumbing shared by the consumer, ``publish`` and ``dead-letters``: topics, producers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from consumers import contract, retries, schemas, wire
from consumers.retries import RetryPlan

if TYPE_CHECKING:
    from consumers.handlers import Outcome

logger = structlog.get_logger()

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_PARTITIONS = 3
SEND_TIMEOUT_S = 30
# How long a client waits for a broker to answer at all (kafka-python's default is 30 s): a
# broker that is down is reported, and waited for, sooner.
BOOTSTRAP_TIMEOUT_MS = 10_000
DEFAULT_RETRY_PLAN = RetryPlan()
NOTICE_EXCERPT_BYTES = 512
MAX_NOTICE_BYTES = 64 * 1024


def bootstrap_servers(value: str | None = None) -> str:
    return value or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP


def ensure_topics(bootstrap: str, prefix: str = "", partitions: int = DEFAULT_PARTITIONS,
                  retry_plan: RetryPlan = DEFAULT_RETRY_PLAN) -> None:
    """Create the ledger's topics if they are missing (the broker's auto-creation would make them
    with one partition): the message topics, the retry topics of ``retry_plan``, and the
    dead-letter topic, compacted on its key, the dead-letter id, so a dead letter published twice
    (a crash between publishing and committing) is kept once."""
    wanted = [NewTopic(name, partitions, 1) for name in (*contract.all_topics(prefix), *retry_plan.topics(prefix))]
    wanted.append(NewTopic(contract.dead_letter_topic(prefix), 1, 1, topic_configs={"cleanup.policy": "compact"}))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fund-ledger-admin", bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was quicker
                admin.create_topics(missing)
            logger.info("topics.created", topics=[t.name for t in missing], partitions=partitions)
    finally:
        admin.close()


def producer(bootstrap: str) -> KafkaProducer:
    # acks="all" with the idempotent producer (the default in kafka-python 3): a retried send is
    # not written twice by the broker.
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, client_id="fund-ledger-producer",
                         bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)


@dataclass(frozen=True)
class Sent:
    topic: str
    partition: int
    offset: int
    key: str | None


def send_all(kafka: KafkaProducer, records: Iterable[tuple[str, str | None, bytes, Sequence[tuple[str, bytes]]]]) -> list[Sent]:
    """Send (topic, key, value, headers) records and wait until the broker has them all."""
    futures = [(key, kafka.send(topic, key=key.encode() if key else None, value=value, headers=list(headers)))
               for topic, key, value, headers in records]
    kafka.flush(timeout=SEND_TIMEOUT_S)
    sent = []
    for key, future in futures:
        metadata = future.get(timeout=SEND_TIMEOUT_S)
        sent.append(Sent(metadata.topic, metadata.partition, metadata.offset, key))
    return sent


def route_raw(value: bytes, prefix: str, fallback_topic: str | None) -> tuple[str, str | None]:
    """(topic, key) of a message's bytes: by its type when it is valid, else by a best guess from
    what parses, else ``fallback_topic``. Raises ``ValueError`` when nothing routes it."""
    try:
        return contract.route(schemas.parse_message(value), prefix)
    except ValueError:
        pass
    loose: Any = wire.read_json_leniently(value)
    if isinstance(loose, dict) and isinstance(loose.get("type"), str) and loose["type"] in contract.MESSAGE_TYPES:
        kind = contract.MESSAGE_TYPES[loose["type"]]
        payload: dict[str, Any] = loose["payload"] if isinstance(loose.get("payload"), dict) else {}
        business_id = payload.get(kind.key_field, "") if kind.key_field else "fund"
        return prefix + kind.topic, f"{loose.get('region', '')}/{business_id}"
    if fallback_topic is None:
        raise ValueError("cannot route a message without a known type: give a fallback topic")
    return fallback_topic, None


class DeadLetterPublisher:
    """Publishes dead letters to the dead-letter topic and waits for the broker's acknowledgement.

    The consumer calls it *before* committing the batch to the database: if publishing fails, the
    batch is not committed and is retried; if the process dies after publishing and before the
    commit, the batch is applied again and its dead letters are published again, with the same
    key (their dead-letter id), which the compacted topic keeps once. The database record, written
    in the batch's transaction, is exactly-once either way.
    """

    def __init__(self, kafka: KafkaProducer, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic

    def __call__(self, dead_letters: list[dict[str, Any]]) -> None:
        records = []
        for dead in dead_letters:
            headers = [("dead-letter-code", dead["code"].encode()),
                       ("original-topic", str(dead["provenance"]["topic"]).encode())]
            records.append((self.topic, dead["dead_letter_id"], dead_letter_notice(dead), headers))
        send_all(self.kafka, records)


class RetryScheduler:
    """Publishes deferred messages to the retry topic of their next attempt (``consumers.retries``)
    and waits for the broker's acknowledgement, before the batch commits (as dead letters)."""

    def __init__(self, kafka: KafkaProducer, plan: RetryPlan, prefix: str = "") -> None:
        self.kafka = kafka
        self.plan = plan
        self.prefix = prefix

    def __call__(self, deferred: list[Outcome]) -> None:
        now_ms = int(time.time() * 1000)
        records = []
        for outcome in deferred:
            assert outcome.deferral is not None
            delivery, attempt = outcome.delivery, outcome.deferral["retry_attempt"]
            due_ms = now_ms + int(self.plan.delay_s(attempt) * 1000)
            headers = [(k, v) for k, v in delivery.headers if not k.startswith("retry-")]
            headers += [(retries.HEADER_ATTEMPT, str(attempt).encode()), (retries.HEADER_DUE_MS, str(due_ms).encode()),
                        (retries.HEADER_ORIGIN, delivery.dead_letter_id.encode()),
                        (retries.HEADER_FIRST_CODE, outcome.deferral["code"].encode())]
            key = delivery.key.decode(errors="replace") if delivery.key else None
            records.append((self.plan.topic(attempt, self.prefix), key, delivery.value, headers))
        send_all(self.kafka, records)


def dead_letter_notice(dead: dict[str, Any]) -> bytes:
    """The topic's record for a stored dead letter (``schemas.DeadLetterNotice``): a reference to
    the original and the first ``NOTICE_EXCERPT_BYTES`` of it, never the whole, so that a refused
    message of any size fits the topic (the broker takes records of 1 MiB at most). The context
    is dropped if it would make the notice larger than ``MAX_NOTICE_BYTES``."""
    excerpt = base64.b64decode(dead["value_b64"])[:NOTICE_EXCERPT_BYTES]
    notice = {
        "dead_letter_id": dead["dead_letter_id"], "code": dead["code"], "field": dead["field"], "reason": dead["reason"][:1000],
        "context": dead["context"], "provenance": dead["provenance"], "size_bytes": dead["size_bytes"], "sha256": dead["sha256"],
        "excerpt_b64": base64.b64encode(excerpt).decode(),
        "original": f"kept in the ledger's store: fund-ledger dead-letters --show {dead['dead_letter_id']}",
        "dead_lettered_at": dead["dead_lettered_at"],
    }
    value = json.dumps(notice, ensure_ascii=True, sort_keys=True).encode()
    if len(value) > MAX_NOTICE_BYTES:
        notice["context"] = {}
        value = json.dumps(notice, ensure_ascii=True, sort_keys=True).encode()
    return value
