"""The Kafka consumer: exactly-once in effect.

- One consumer group; ``enable_auto_commit=False``; each poll's records of one partition are a
  batch, applied in one transaction (``consumers.handlers.apply_batch``) together with the
  partition's position, ``Tracking("<topic>:<partition>", offset + 1)``.
- The database position is the truth. On assignment (start or rebalance) the consumer seeks each
  partition to it; Kafka's committed offsets are written after the database commit, for lag
  monitoring only. A crash anywhere therefore re-reads from the last committed batch, and a
  message is applied once: its events and the position that covers it commit together.
- Two owners of one partition at once (a consumer paused past its session timeout while another
  took over) cannot both commit: the position must advance and the aggregates' versions must be
  free, so the late one's commit fails as a whole and it rewinds to the recorded position.
- The same failure path handles concurrent writers of one aggregate (two partitions posting to
  one region's pooled fund): the batch is rolled back and read again from the recorded position.
- Storage or broker failures abort the batch the same way, with a bounded back-off; after
  ``MAX_CONSECUTIVE_FAILURES`` the consumer exits non-zero and its supervisor restarts it.
- SIGTERM / SIGINT: the current batch finishes, offsets are committed, the consumer leaves the
  group (a fast rebalance) and exits 0.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.persistence import PersistenceError
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from consumers import contract
from consumers.faults import Faults
from consumers.handlers import MAX_BATCH, BatchTally, Delivery, apply_batch
from consumers.kafka_io import DeadLetterPublisher, ensure_topics, producer
from ledger.application import Ledger

logger = structlog.get_logger()

MAX_CONSECUTIVE_FAILURES = 20
BACKOFF_S_MAX = 10.0


@dataclass
class ConsumerConfig:
    bootstrap: str
    group_id: str = "fund-ledger"
    topic_prefix: str = ""
    batch_size: int = 500
    poll_timeout_ms: int = 500
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    summary_interval_s: float = 10.0
    until_caught_up: bool = False
    max_seconds: float | None = None
    partitions: int = 3
    create_topics: bool = True
    client_id: str = "fund-ledger-consumer"


@dataclass
class Stats(BatchTally):
    rewinds: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "duplicates": self.duplicates, "dead_letters": self.dead_letters,
                "events": self.events, "batches": self.batches, "rewinds": self.rewinds,
                "dead_letter_codes": dict(self.dead_letter_codes)}


def tracking_name(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: LedgerConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.owner.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.owner.on_assigned(assigned)


class LedgerConsumer:
    def __init__(self, ledger: Ledger, config: ConsumerConfig, faults: Faults | None = None) -> None:
        assert 0 < config.batch_size <= MAX_BATCH, config.batch_size
        self.ledger = ledger
        self.config = config
        self.faults = faults or Faults()
        self.stats = Stats()
        self.stopping = False
        self.failures = 0
        self.to_commit: dict[TopicPartition, OffsetAndMetadata] = {}
        self.topics = contract.all_topics(config.topic_prefix)
        self.priority = {topic: index for index, topic in enumerate(self.topics)}
        self.kafka: KafkaConsumer | None = None

    # ------------------------------------------------------------------ lifecycle
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        logger.info("consumer.stopping", signal=signum)
        self.stopping = True

    def run(self) -> dict[str, Any]:
        config = self.config
        if config.create_topics:
            ensure_topics(config.bootstrap, config.topic_prefix, config.partitions)
        dead_letter_producer = producer(config.bootstrap)
        self.publish_dead_letters = DeadLetterPublisher(dead_letter_producer, contract.dead_letter_topic(config.topic_prefix))
        self.kafka = KafkaConsumer(
            bootstrap_servers=config.bootstrap, group_id=config.group_id, client_id=config.client_id,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=config.batch_size,
            session_timeout_ms=config.session_timeout_ms, heartbeat_interval_ms=config.heartbeat_interval_ms,
            max_poll_interval_ms=config.max_poll_interval_ms,
        )
        self.kafka.subscribe(self.topics, listener=_Rebalance(self))
        logger.info("consumer.started", topics=self.topics, group_id=config.group_id)
        started = last_summary = time.monotonic()
        summary_stats = Stats()
        try:
            while not self.stopping:
                polled = self.kafka.poll(timeout_ms=config.poll_timeout_ms, max_records=config.batch_size)
                for tp in sorted(polled, key=lambda tp: (self.priority.get(tp.topic, 99), tp.partition)):
                    if self.stopping:
                        break  # what is left of this poll is read again by the next owner
                    self._handle(tp, polled[tp])
                self._commit_kafka()
                now = time.monotonic()
                if now - last_summary >= config.summary_interval_s:
                    self._summary(now - last_summary, summary_stats)
                    summary_stats, last_summary = _copy(self.stats), now
                if config.until_caught_up and not polled and self._caught_up():
                    logger.info("consumer.caught_up")
                    break
                if config.max_seconds is not None and now - started > config.max_seconds:
                    logger.warning("consumer.time_limit", max_seconds=config.max_seconds)
                    break
        finally:
            self._commit_kafka()
            self.kafka.close(autocommit=False)
            dead_letter_producer.close(timeout=10)
            structlog.contextvars.clear_contextvars()
            logger.info("consumer.stopped", **self.stats.as_dict())
        return self.stats.as_dict()

    # ------------------------------------------------------------------ rebalancing
    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        """Seek every newly assigned partition to the position recorded with the ledger's events."""
        assert self.kafka is not None
        for tp in assigned:
            position = self._rewind(tp)
            logger.info("partition.assigned", topic=tp.topic, partition=tp.partition, position=position)

    def on_revoked(self, revoked: list[TopicPartition]) -> None:
        self._commit_kafka()
        for tp in revoked:
            logger.info("partition.revoked", topic=tp.topic, partition=tp.partition)

    def _rewind(self, tp: TopicPartition) -> int | None:
        assert self.kafka is not None
        position = self.ledger.recorder.max_tracking_id(tracking_name(tp))
        if position:
            self.kafka.seek(tp, position)
        else:
            self.kafka.seek_to_beginning(tp)
        self.to_commit.pop(tp, None)
        return position

    # ------------------------------------------------------------------ one batch
    def _handle(self, tp: TopicPartition, records: list[Any]) -> None:
        deliveries = [
            Delivery(value=record.value or b"", topic=tp.topic, partition=tp.partition, offset=record.offset,
                     key=record.key, headers=tuple((k, v or b"") for k, v in (record.headers or ())))
            for record in records
        ]
        try:
            result = apply_batch(self.ledger, deliveries, tracking_name=tracking_name(tp),
                                 publish_dead_letters=self.publish_dead_letters, faults=self.faults)
        except (PersistenceError, KafkaError) as error:
            self._batch_failed(tp, error)
            return
        self.failures = 0
        self.stats.add(result)
        self.to_commit[tp] = OffsetAndMetadata(deliveries[-1].offset + 1, "", -1)
        self.faults.reached("kill_after_commit")
        structlog.contextvars.clear_contextvars()
        logger.debug("batch.committed", topic=tp.topic, partition=tp.partition, first_offset=deliveries[0].offset,
                     last_offset=deliveries[-1].offset, messages=len(deliveries), events=result.events)

    def _batch_failed(self, tp: TopicPartition, error: Exception) -> None:
        """Nothing of the batch was committed: read it again from the recorded position."""
        assert self.kafka is not None
        structlog.contextvars.clear_contextvars()
        self.failures += 1
        self.stats.rewinds += 1
        logger.warning("batch.rolled_back", topic=tp.topic, partition=tp.partition, error=f"{type(error).__name__}: {error}"[:300],
                       consecutive_failures=self.failures)
        if self.failures >= MAX_CONSECUTIVE_FAILURES:
            raise RuntimeError(f"{self.failures} batches failed in a row; last: {error}") from error
        if tp in self.kafka.assignment():
            self._rewind(tp)
        time.sleep(min(BACKOFF_S_MAX, 0.05 * 2 ** min(self.failures, 10)))

    # ------------------------------------------------------------------ offsets and monitoring
    def _commit_kafka(self) -> None:
        """Kafka's committed offsets follow the database, for lag monitoring; never the truth."""
        if not self.to_commit or self.kafka is None:
            return
        offsets, self.to_commit = self.to_commit, {}
        try:
            self.kafka.commit(offsets=offsets)
        except KafkaError as error:
            logger.warning("kafka.commit_failed", error=str(error)[:300])

    def _lag(self) -> dict[str, int]:
        assert self.kafka is not None
        lag = {}
        for tp in self.kafka.assignment():
            highwater = self.kafka.highwater(tp)
            if highwater is not None:
                lag[tracking_name(tp)] = max(0, highwater - self.kafka.position(tp))
        return lag

    def _summary(self, elapsed_s: float, before: Stats) -> None:
        lag = self._lag()
        handled = (self.stats.applied + self.stats.duplicates + self.stats.dead_letters
                   - before.applied - before.duplicates - before.dead_letters)
        structlog.contextvars.clear_contextvars()
        logger.info("consumer.summary", messages_per_s=round(handled / elapsed_s, 1) if elapsed_s else 0.0,
                    lag_total=sum(lag.values()), lag=lag, partitions=len(lag), **self.stats.as_dict())

    def _caught_up(self) -> bool:
        assert self.kafka is not None
        assignment = list(self.kafka.assignment())
        if not assignment:
            return False
        ends = self.kafka.end_offsets(assignment)
        return all(self.kafka.position(tp) >= ends[tp] for tp in assignment)


def _copy(stats: Stats) -> Stats:
    return dataclasses.replace(stats, dead_letter_codes=Counter(stats.dead_letter_codes))
