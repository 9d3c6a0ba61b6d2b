"""Kafka plumbing shared by the consumer, ``publish`` and ``dead-letters``: topics, producers,
and every client's credentials (``KafkaSecurity``: SASL SCRAM-SHA-512 over TLS, from settings)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import AuthorizationError, TopicAlreadyExistsError

from consumers import contract, retries, schemas, wire
from consumers.retries import RetryPlan
from ledger.settings import SettingsError

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
MAX_NOTICE_BYTES = 64 * 1024


# Where ``fund-ledger anchor --kafka-topic`` keeps the chain's head (projections.anchors).
TOPIC_ANCHORS = "ledger.chain-anchors"
SECURITY_PROTOCOLS = ("SASL_SSL", "PLAINTEXT")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


def anchors_topic(prefix: str = "") -> str:
    return prefix + TOPIC_ANCHORS


def bootstrap_servers(value: str | None = None) -> str:
    return value or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client proves who it is to the broker: a principal's SCRAM credentials, sent over
    TLS to a broker whose certificate the CA file vouches for (docs/security.md).

    From the settings (``from_env``): ``KAFKA_SECURITY_PROTOCOL`` (``SASL_SSL``, the default;
    ``PLAINTEXT`` only for a broker of one's own that has no security), ``KAFKA_SASL_MECHANISM``
    (default ``SCRAM-SHA-512``), ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD`` and
    ``KAFKA_SSL_CAFILE`` (the CA certificate in PEM). ``deploy/kafka/env.sh --ledger`` (or
    ``--admin``, ``--service NAME``...) prints them for the local broker."""

    protocol: str = "SASL_SSL"
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: str = ""
    mechanism: str = "SCRAM-SHA-512"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The settings' credentials. Raises ``SettingsError`` naming what is missing."""
        env = os.environ if environ is None else environ
        protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "SASL_SSL").upper()
        mechanism = (env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: one of {', '.join(SECURITY_PROTOCOLS)}")
        if mechanism not in SASL_MECHANISMS:
            raise SettingsError(f"KAFKA_SASL_MECHANISM={mechanism!r}: one of {', '.join(SASL_MECHANISMS)}")
        security = cls(protocol, env.get("KAFKA_SASL_USERNAME", ""), env.get("KAFKA_SASL_PASSWORD", ""),
                       env.get("KAFKA_SSL_CAFILE", ""), mechanism)
        security.check()
        return security

    def check(self) -> None:
        if self.protocol == "PLAINTEXT":
            return
        missing = [name for name, value in (("KAFKA_SASL_USERNAME", self.username), ("KAFKA_SASL_PASSWORD", self.password),
                                            ("KAFKA_SSL_CAFILE", self.cafile)) if not value]
        if missing:
            raise SettingsError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the broker takes only "
                                "authenticated clients over TLS (for the local broker: eval \"$(deploy/kafka/env.sh --ledger)\", "
                                "or --admin, --service NAME)")
        if not os.path.isfile(self.cafile):
            raise SettingsError(f"KAFKA_SSL_CAFILE={self.cafile}: no such file (the broker's CA certificate, "
                                "deploy/kafka/start.sh writes it)")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every kafka-python client."""
        if self.protocol == "PLAINTEXT":
            return {"security_protocol": "PLAINTEXT"}
        return {"security_protocol": self.protocol, "sasl_mechanism": self.mechanism, "sasl_plain_username": self.username,
                "sasl_plain_password": self.password, "ssl_cafile": self.cafile, "ssl_check_hostname": True}


def client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The credentials of ``security``, else of the settings."""
    return (security or KafkaSecurity.from_env()).client_options()


def admin_client(bootstrap: str, security: KafkaSecurity | None = None) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fund-ledger-admin", bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                            **client_options(security))


def ledger_topics(prefix: str = "", partitions: int = DEFAULT_PARTITIONS, retry_plan: RetryPlan = DEFAULT_RETRY_PLAN,
                  replication_factor: int = 1, min_insync_replicas: int = 1) -> list[NewTopic]:
    """The ledger's topics: the message topics, the retry topics of ``retry_plan``, the chain
    anchors (``fund-ledger anchor``) and the dead-letter topic, compacted on its key, the
    dead-letter id, so a dead letter published twice (a crash between publishing and committing)
    is kept once."""
    configs = {"min.insync.replicas": str(min_insync_replicas)}
    wanted = [NewTopic(name, partitions, replication_factor, topic_configs=dict(configs))
              for name in (*contract.all_topics(prefix), *retry_plan.topics(prefix))]
    wanted.append(NewTopic(anchors_topic(prefix), 1, replication_factor, topic_configs=dict(configs)))
    wanted.append(NewTopic(contract.dead_letter_topic(prefix), 1, replication_factor,
                           topic_configs={**configs, "cleanup.policy": "compact"}))
    return wanted


def ensure_topics(bootstrap: str, prefix: str = "", partitions: int = DEFAULT_PARTITIONS,
                  retry_plan: RetryPlan = DEFAULT_RETRY_PLAN, *, only: Iterable[str] | None = None,
                  security: KafkaSecurity | None = None, replication_factor: int = 1, min_insync_replicas: int = 1) -> None:
    """Check that the ledger's topics (``ledger_topics``; ``only`` those named) exist, and create
    those that do not if the principal may (the operator's; the broker never creates a topic on
    first use). Raises ``TopicsMissing`` naming them if it may not."""
    wanted = ledger_topics(prefix, partitions, retry_plan, replication_factor, min_insync_replicas)
    if only is not None:
        names = set(only)
        wanted = [topic for topic in wanted if topic.name in names]
    admin = admin_client(bootstrap, security)
    try:
        existing = set(admin.list_topics())  # the topics this principal may see
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            try:
                with contextlib.suppress(TopicAlreadyExistsError):  # another process was quicker
                    admin.create_topics(missing)
            except AuthorizationError:
                raise TopicsMissing([topic.name for topic in missing]) from None
            logger.info("topics.created", topics=[t.name for t in missing], partitions=partitions)
    finally:
        admin.close()


class TopicsMissing(Exception):
    """Topics the ledger needs do not exist (or this principal may not see them), and it may not
    create them: the operator does (``deploy/kafka/start.sh``, ``consumers.kafka_admin``)."""

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics
        super().__init__(f"the topics {', '.join(topics[:10])} do not exist, or this principal may neither see nor create them: "
                         "the operator creates topics and ACLs (deploy/kafka/setup.sh, python -m consumers.kafka_admin)")


def producer(bootstrap: str, security: KafkaSecurity | None = None) -> KafkaProducer:
    # acks="all" with the idempotent producer (the default in kafka-python 3): a retried send is
    # not written twice by the broker.
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, client_id="fund-ledger-producer",
                         bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, **client_options(security))


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
    the original in the ledger's store, with what says where it came from and why in codes, but
    none of its content: no excerpt, no reason in words (a reason may quote a birth date), no
    digest (the digest of a short message is a dictionary away from its content). Whoever may
    read the store reads the rest with ``fund-ledger dead-letters --show ID``. Bounded in size
    whatever the original's size (the broker takes records of 1 MiB at most)."""
    notice = {
        "dead_letter_id": dead["dead_letter_id"], "code": dead["code"], "field": wire.printable(dead["field"], 200),
        "provenance": dead["provenance"], "size_bytes": dead["size_bytes"],
        "original": f"kept in the ledger's store: fund-ledger dead-letters --show {dead['dead_letter_id']}",
        "dead_lettered_at": dead["dead_lettered_at"],
    }
    value = json.dumps(notice, ensure_ascii=True, sort_keys=True).encode()
    assert len(value) <= MAX_NOTICE_BYTES, len(value)  # every part is bounded (ids, codes, printable fields)
    return value
