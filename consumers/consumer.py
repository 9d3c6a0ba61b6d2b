"""The Kafka consumer: exactly-once in effect.

- One consumer group; ``enable_auto_commit=False``; each poll's records of one partition are a
  batch, applied in one transaction (``consumers.handlers.apply_batch``) together with the
  partition's position, ``Tracking("<topic>:<partition>", offset + 1)``.
- On PostgreSQL a batch's save is written while the next batch is applied
  (``consumers.save_behind``): at most two saves handed over, written one at a time in order,
  each counted only once written. A failed save takes every batch applied after it with it: the whole cache is
  forgotten and every partition is read again from its recorded position.
- The database position is the truth. On assignment (start or rebalance) the consumer seeks each
  partition to it; Kafka's committed offsets are written after the database commit, for lag
  monitoring only. A crash anywhere therefore re-reads from the last committed batch, and a
  message is applied once: its events and the position that covers it commit together.
- Two owners of one partition at once (a consumer paused past its session timeout while another
  took over) cannot both commit: the position must advance and the aggregates' versions must be
  free, so the late one's commit fails as a whole and it rewinds to the recorded position.
- The same failure path handles concurrent writers of one aggregate (two partitions posting to
  one region's pooled fund): the batch is rolled back and read again from the recorded position.
- A broker or a database that cannot be reached is waited for, never a reason to exit: the
  consumer logs what it waits for (``consumer.waiting``) and tries again with a growing back-off
  (at most ``BACKOFF_S_MAX``), on start, while joining the group, and for a batch (rolled back and
  read again from the recorded position). Other storage failures (a conflict that repeats) are
  retried ``MAX_CONSECUTIVE_FAILURES`` times, then the consumer exits non-zero with one line
  saying why, for its supervisor to restart it.
- Refusals that time may cure (a claim before its person's enrolment) are deferred to the retry
  topics and applied when due (``consumers.retries``): a retry partition whose next record is
  not due yet is paused until it is.
- SIGTERM / SIGINT: the current batch finishes, offsets are committed, the consumer leaves the
  group (a fast rebalance) and exits 0.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import AuthorizationError, KafkaError
from kafka.structs import OffsetAndMetadata

from consumers import contract, retries
from consumers.faults import Faults
from consumers.handlers import MAX_BATCH, BatchResult, BatchTally, Delivery, apply_batch
from consumers.kafka_io import (
    BOOTSTRAP_TIMEOUT_MS,
    DeadLetterPublisher,
    KafkaSecurity,
    RetryScheduler,
    client_options,
    ensure_topics,
    producer,
)
from consumers.retries import RetryPlan
from consumers.save_behind import SaveBehind
from ledger.application import Ledger

logger = structlog.get_logger()

MAX_CONSECUTIVE_FAILURES = 20
BACKOFF_S_MAX = 30.0
T = TypeVar("T")
# What cannot be reached (is waited for), as opposed to what went wrong (is retried a few times).
UNAVAILABLE = (KafkaError, OperationalError, InterfaceError)


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
    until_messages: int | None = None  # caught up, and at least this many messages handled
    max_seconds: float | None = None
    partitions: int = 3
    create_topics: bool = True
    client_id: str = "fund-ledger-consumer"
    retry_plan: RetryPlan = dataclasses.field(default_factory=RetryPlan)
    security: KafkaSecurity | None = None  # None: the settings' (KafkaSecurity.from_env)


@dataclass
class Stats(BatchTally):
    rewinds: int = 0
    waits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "duplicates": self.duplicates, "dead_letters": self.dead_letters,
                "deferred": self.deferred, "events": self.events, "batches": self.batches, "rewinds": self.rewinds,
                "waits": self.waits, "dead_letter_codes": dict(self.dead_letter_codes)}


def tracking_name(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


def describe_unavailable(error: BaseException, bootstrap: str) -> str:
    """What the consumer waits for, in words."""
    if isinstance(error, KafkaError):
        return f"the Kafka broker at {bootstrap}"
    return "the ledger's database"


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: LedgerConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.owner.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.owner.on_assigned(assigned)


class Patience:
    """Waiting for what cannot be reached, until asked to stop (SIGTERM, SIGINT) or out of time."""

    def __init__(self, bootstrap: str, max_seconds: float | None = None) -> None:
        self.bootstrap = bootstrap
        self.max_seconds = max_seconds
        self.started = time.monotonic()
        self.stopping = False
        self.waits = 0

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        logger.info("consumer.stopping", signal=signum)
        self.stopping = True

    def out_of_time(self) -> bool:
        return self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds

    def until_reachable(self, attempt: Callable[[], T]) -> T | None:
        """``attempt()``, tried again while what it needs cannot be reached (``UNAVAILABLE``), with
        a growing back-off and a log line saying what it waits for. ``None`` if asked to stop (or
        out of time) first."""
        failures = 0
        while not self.stopping and not self.out_of_time():
            try:
                result = attempt()
            except AuthorizationError as error:  # no waiting cures an ACL: the operator must
                raise ConsumerFailed(f"the broker refuses this principal: {type(error).__name__}: {error}"[:500]) from None
            except UNAVAILABLE as error:
                failures += 1
                self._wait(error, failures)
                continue
            if failures:
                logger.info("consumer.reachable_again", after_attempts=failures + 1)
            return result
        return None

    def _wait(self, error: BaseException, failures: int) -> None:
        self.waits += 1
        structlog.contextvars.clear_contextvars()
        backoff_s = min(BACKOFF_S_MAX, 0.5 * 2 ** min(failures - 1, 8))
        hint = {"hint": "a broker that refuses the credentials (KAFKA_SASL_*) looks unreachable: see its log"} \
            if isinstance(error, KafkaError) else {}
        logger.warning("consumer.waiting", waiting_for=describe_unavailable(error, self.bootstrap),
                       error=f"{type(error).__name__}: {error}"[:300], attempt=failures, retry_in_s=backoff_s, **hint)
        deadline = time.monotonic() + backoff_s
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, backoff_s))


class LedgerConsumer:
    def __init__(self, ledger: Ledger, config: ConsumerConfig, faults: Faults | None = None, patience: Patience | None = None) -> None:
        assert 0 < config.batch_size <= MAX_BATCH, config.batch_size
        self.ledger = ledger
        self.config = config
        self.faults = faults or Faults()
        self.stats = Stats()
        self.patience = patience or Patience(config.bootstrap, config.max_seconds)
        self.failures = 0
        self.to_commit: dict[TopicPartition, OffsetAndMetadata] = {}
        self.topics = [*contract.all_topics(config.topic_prefix), *config.retry_plan.topics(config.topic_prefix)]
        self.priority = {topic: index for index, topic in enumerate(self.topics)}
        self.paused_until: dict[TopicPartition, float] = {}  # retry partitions waiting for their next record (monotonic s)
        self.kafka: KafkaConsumer | None = None
        self.saves = SaveBehind(ledger, faults=self.faults)

    # ------------------------------------------------------------------ lifecycle
    @property
    def stopping(self) -> bool:
        return self.patience.stopping

    def install_signal_handlers(self) -> None:
        self.patience.install_signal_handlers()

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        self.patience.request_stop(signum, frame)

    def until_reachable(self, attempt: Callable[[], T]) -> T | None:
        return self.patience.until_reachable(attempt)

    def _connect(self) -> bool:
        """Topics, the producer of dead letters and retries, and the consumer, once the broker
        answers. False if asked to stop first."""
        config = self.config
        def create_topics() -> bool:
            ensure_topics(config.bootstrap, config.topic_prefix, config.partitions, config.retry_plan, security=config.security)
            return True

        if config.create_topics and self.until_reachable(create_topics) is None:
            return False
        kafka_producer = self.until_reachable(lambda: producer(config.bootstrap, config.security))
        if kafka_producer is None:
            return False
        self.producer = kafka_producer
        self.publish_dead_letters = DeadLetterPublisher(self.producer, contract.dead_letter_topic(config.topic_prefix))
        self.schedule_retries = RetryScheduler(self.producer, config.retry_plan, config.topic_prefix)
        self.kafka = self.until_reachable(lambda: KafkaConsumer(
            bootstrap_servers=config.bootstrap, group_id=config.group_id, client_id=config.client_id,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=config.batch_size,
            session_timeout_ms=config.session_timeout_ms, heartbeat_interval_ms=config.heartbeat_interval_ms,
            max_poll_interval_ms=config.max_poll_interval_ms, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **client_options(config.security),
        ))
        if self.kafka is None:
            return False
        self.kafka.subscribe(self.topics, listener=_Rebalance(self))
        return True

    def run(self) -> dict[str, Any]:
        config = self.config
        if not self._connect():
            self.stats.waits = self.patience.waits
            logger.info("consumer.stopped", **self.stats.as_dict())
            return self.stats.as_dict()
        assert self.kafka is not None
        logger.info("consumer.started", topics=self.topics, group_id=config.group_id)
        last_summary = time.monotonic()
        summary_stats = Stats()
        try:
            while not self.stopping:
                self._resume_due()
                polled = self.until_reachable(lambda: self.kafka.poll(timeout_ms=config.poll_timeout_ms,  # type: ignore[union-attr]
                                                                      max_records=config.batch_size))
                if polled is None:
                    break
                for tp in sorted(polled, key=lambda tp: (self.priority.get(tp.topic, 99), tp.partition)):
                    if self.stopping:
                        break  # what is left of this poll is read again by the next owner
                    if not self._handle(tp, polled[tp]):
                        break  # every partition is read again from its recorded position
                if not polled:
                    self._settle()  # nothing more to apply: the saves in flight written and counted
                self._commit_kafka()
                now = time.monotonic()
                if now - last_summary >= config.summary_interval_s:
                    self._summary(now - last_summary, summary_stats)
                    summary_stats, last_summary = _copy(self.stats), now
                if self._done(polled):
                    logger.info("consumer.caught_up")
                    break
                if self.patience.out_of_time():
                    logger.warning("consumer.time_limit", max_seconds=config.max_seconds)
                    break
        finally:
            self._close()
        return self.stats.as_dict()

    def _close(self) -> None:
        assert self.kafka is not None
        try:
            self.saves.close()
        except PersistenceError as error:  # read again, from its recorded position, by the next owner
            logger.warning("batch.rolled_back", error=f"{type(error).__name__}: {error}"[:300])
        self._commit_kafka(wait=True)
        try:
            self.kafka.close(autocommit=False)
            self.producer.close(timeout=10)
        except KafkaError as error:  # leaving a group the broker cannot hear about is no failure
            logger.warning("consumer.close_incomplete", error=f"{type(error).__name__}: {error}"[:300])
        structlog.contextvars.clear_contextvars()
        self.stats.waits = self.patience.waits
        logger.info("consumer.stopped", **self.stats.as_dict())

    # ------------------------------------------------------------------ rebalancing
    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        """Seek every newly assigned partition to the position recorded with the ledger's events."""
        assert self.kafka is not None
        for tp in assigned:
            self.paused_until.pop(tp, None)
            position = self._rewind(tp)
            logger.info("partition.assigned", topic=tp.topic, partition=tp.partition, position=position)

    def on_revoked(self, revoked: list[TopicPartition]) -> None:
        failed = self._settled()  # before another consumer may take the partitions
        if failed is not None:  # the assignment that follows seeks every partition to its recorded position
            self.stats.rewinds += 1
            logger.warning("batch.rolled_back", error=f"{type(failed).__name__}: {failed}"[:300])
        self._commit_kafka(wait=True)
        for tp in revoked:
            self.paused_until.pop(tp, None)
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

    # ------------------------------------------------------------------ retry partitions
    def _due(self, tp: TopicPartition, records: list[Any]) -> list[Any]:
        """The records of a retry partition that are due, from its first; the partition is
        paused at the first that is not, until it is."""
        attempt = retries.attempt_of(tp.topic, self.config.topic_prefix)
        if not attempt or attempt > self.config.retry_plan.attempts:
            return records
        delay_s = self.config.retry_plan.delay_s(attempt)
        for index, record in enumerate(records):
            wait_s = retries.due_in_s(_header(record, retries.HEADER_DUE_MS), delay_s)
            if wait_s > 0:
                assert self.kafka is not None
                self.kafka.seek(tp, record.offset)
                self.kafka.pause(tp)
                self.paused_until[tp] = time.monotonic() + wait_s
                return records[:index]
        return records

    def _resume_due(self) -> None:
        now = time.monotonic()
        due = [tp for tp, until in self.paused_until.items() if until <= now]
        if due and self.kafka is not None:
            self.kafka.resume(*due)
            for tp in due:
                del self.paused_until[tp]

    # ------------------------------------------------------------------ one batch
    def _handle(self, tp: TopicPartition, records: list[Any]) -> bool:
        """Apply one partition's records of a poll; False if a batch failed (this one, or the
        saves in flight before it), after which every partition is read again."""
        records = self._due(tp, records)
        if not records:
            return True
        attempt = retries.attempt_of(tp.topic, self.config.topic_prefix)
        deliveries = [_delivery(tp, record, attempt) for record in records]
        try:
            apply_batch(self.ledger, deliveries, tracking_name=tracking_name(tp), publish_dead_letters=self.publish_dead_letters,
                        retry_plan=self.config.retry_plan, schedule_retries=self.schedule_retries, faults=self.faults,
                        saves=self.saves, on_saved=lambda part, last_offset: self._saved(tp, part, last_offset))
        except (PersistenceError, KafkaError) as error:
            self._batch_failed(error, tp)
            return False
        return True

    def _saved(self, tp: TopicPartition, part: BatchResult, last_offset: int) -> None:
        """A save written: counted, and its partition's offset noted for Kafka."""
        self.failures = 0
        self.stats.add(part)
        self.to_commit[tp] = OffsetAndMetadata(last_offset + 1, "", -1)
        self.faults.reached("kill_after_commit")
        logger.debug("batch.committed", topic=tp.topic, partition=tp.partition, last_offset=last_offset,
                     messages=len(part.outcomes), events=part.events)

    def _settled(self) -> PersistenceError | None:
        """Wait for the saves in flight; the first failure's error, if one failed (everything in memory forgotten)."""
        try:
            self.saves.wait()
        except PersistenceError as error:
            return error
        return None

    def _settle(self) -> None:
        failed = self._settled()
        if failed is not None:
            self._batch_failed(failed)

    def _batch_failed(self, error: Exception, tp: TopicPartition | None = None) -> None:
        """Nothing of the failed batch, nor of any applied after it, was committed: every
        partition is read again from its recorded position, after waiting for what could not be
        reached, or after a short back-off (a bounded number of times) for anything else."""
        assert self.kafka is not None
        structlog.contextvars.clear_contextvars()
        if isinstance(error, AuthorizationError):  # dead letters or retries it may not publish
            raise ConsumerFailed(f"the broker refuses this principal: {type(error).__name__}: {error}"[:500])
        self._settled()  # a save still in flight: written and counted, or forgotten with the rest
        self.stats.rewinds += 1
        where = {"topic": tp.topic, "partition": tp.partition} if tp is not None else {}
        logger.warning("batch.rolled_back", **where, error=f"{type(error).__name__}: {error}"[:300])
        if isinstance(error, UNAVAILABLE):
            self.until_reachable(self._rewind_all)
            return
        self.failures += 1
        if self.failures >= MAX_CONSECUTIVE_FAILURES:
            raise ConsumerFailed(f"{self.failures} batches failed in a row; the last: {type(error).__name__}: {error}"[:500])
        self._rewind_all()
        time.sleep(min(BACKOFF_S_MAX, 0.05 * 2 ** min(self.failures, 10)))

    def _rewind_all(self) -> bool:
        assert self.kafka is not None
        for tp in self.kafka.assignment():
            self._rewind(tp)
        return True

    # ------------------------------------------------------------------ offsets and monitoring
    def _commit_kafka(self, wait: bool = False) -> None:
        """Kafka's committed offsets follow the database, for lag monitoring; never the truth (a
        partition's owner starts from the position stored with the events). So the applying
        thread does not wait for the broker's answer, but when its partitions go or it stops (``wait``)."""
        if not self.to_commit or self.kafka is None:
            return
        offsets, self.to_commit = self.to_commit, {}
        try:
            if wait:
                self.kafka.commit(offsets=offsets)
            else:
                self.kafka.commit_async(offsets=offsets, callback=_log_failed_commit)
        except KafkaError as error:
            _log_failed_commit(offsets, error)

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

    def _done(self, polled: dict[TopicPartition, list[Any]]) -> bool:
        """Whether an ``--until-caught-up`` or ``--until-messages`` run may stop."""
        config, stats = self.config, self.stats
        wanted = config.until_messages
        if polled or not (config.until_caught_up or wanted is not None):
            return False
        handled = stats.applied + stats.duplicates + stats.dead_letters + stats.deferred
        return (wanted is None or handled >= wanted) and self._caught_up()

    def _caught_up(self) -> bool:
        assert self.kafka is not None
        assignment = list(self.kafka.assignment())
        if not assignment:
            return False
        ends = self.kafka.end_offsets(assignment)
        return all(self.kafka.position(tp) >= ends[tp] for tp in assignment)


class ConsumerFailed(Exception):
    """The consumer cannot go on (the same batch failed again and again): its message says why."""


def _header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value or b"").decode(errors="replace")
    return None


def _delivery(tp: TopicPartition, record: Any, attempt: int) -> Delivery:
    """A record as the handlers take it; one from a retry topic keeps its first position."""
    origin = retries.parse_origin(_header(record, retries.HEADER_ORIGIN)) if attempt else None
    return Delivery(value=record.value or b"", topic=tp.topic, partition=tp.partition, offset=record.offset, key=record.key,
                    headers=tuple((k, v or b"") for k, v in (record.headers or ())),
                    retry_attempt=attempt if origin is not None else 0,
                    origin_id=f"{origin[0]}:{origin[1]}:{origin[2]}{origin[3]}" if origin is not None else None)


def _copy(stats: Stats) -> Stats:
    return dataclasses.replace(stats, dead_letter_codes=Counter(stats.dead_letter_codes))


def _log_failed_commit(offsets: dict[TopicPartition, Any], response: Any) -> None:
    """The callback of an asynchronous commit (and a synchronous one's error): only a failure is logged."""
    if isinstance(response, BaseException):
        logger.warning("kafka.commit_failed", partitions=len(offsets), error=f"{type(response).__name__}: {response}"[:300])
