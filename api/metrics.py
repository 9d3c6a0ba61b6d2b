"""Prometheus metrics at ``/metrics``: request latency (a histogram by route), and, read at each
scrape, the log's head and its rate (events/s), the projections' position and lag, dead letters
by code and status, and each Kafka partition's consumer lag (the broker's end offset less the
position the consumer stored with its events) when a broker is configured."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.settings import SettingsError

logger = structlog.get_logger()

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RATE_WINDOW_S = 60.0
SLOW_FIGURES_TTL_S = 30.0  # dead letters and Kafka offsets are read at most this often
KAFKA_TIMEOUT_MS = 11_000  # above the consumer's session timeout (10 s), as kafka-python requires


class LedgerCollector(Collector):
    def __init__(self, service: Any, bootstrap_servers: str | None) -> None:
        self.service = service
        self.bootstrap_servers = bootstrap_servers
        self.heads: deque[tuple[float, int]] = deque(maxlen=1_000)
        self._lock = threading.Lock()
        self._dead: tuple[float, Counter[tuple[str, str]]] | None = None
        self._dead_lock = threading.Lock()  # one scrape reads the dead letters; the others wait for its figures
        # Kafka's end offsets are fetched in the background (a broker that cannot be reached
        # takes its client 30 s to give up): a scrape shows the last figures fetched.
        self._offsets: dict[tuple[str, int], tuple[int, int]] | None = None
        self._offsets_at = -SLOW_FIGURES_TTL_S
        self._fetching = threading.Event()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = self.service.lag()
        yield _gauge("fund_ledger_log_head_position", "Position (notification id) of the last event in the log", lag.head)
        yield _gauge("fund_ledger_events_per_second", f"Events appended to the log per second, over the last {RATE_WINDOW_S:.0f} s",
                     self._rate(lag.head))
        yield _gauge("fund_ledger_projection_position", "Log position the live projections have applied", lag.position)
        yield _gauge("fund_ledger_projection_lag_events", "Events in the log not yet in the live projections", lag.events)
        dead, offsets = self._slow_figures()
        letters = GaugeMetricFamily("fund_ledger_dead_letters", "Refused messages, by refusal code and status", labels=["code", "status"])
        for (code, status), count in sorted(dead.items()):
            letters.add_metric([code, status], count)
        yield letters
        if offsets is not None:
            consumer = GaugeMetricFamily("fund_ledger_consumer_lag_messages", "Kafka records not yet applied, per partition",
                                         labels=["topic", "partition"])
            for (topic, partition), (position, end) in sorted(offsets.items()):
                consumer.add_metric([topic, str(partition)], max(0, end - position))
            yield consumer

    def _rate(self, head: int) -> float:
        now = time.monotonic()
        with self._lock:
            self.heads.append((now, head))
            while self.heads and now - self.heads[0][0] > RATE_WINDOW_S:
                self.heads.popleft()
            first_s, first_head = self.heads[0]
        return (head - first_head) / (now - first_s) if now > first_s else 0.0

    def _slow_figures(self) -> tuple[Counter[tuple[str, str]], dict[tuple[str, int], tuple[int, int]] | None]:
        with self._dead_lock:
            if self._dead is None or time.monotonic() - self._dead[0] > SLOW_FIGURES_TTL_S:
                self._dead = (time.monotonic(), self._dead_letters())
        now = time.monotonic()
        if self.bootstrap_servers and now - self._offsets_at > SLOW_FIGURES_TTL_S and not self._fetching.is_set():
            self._fetching.set()
            threading.Thread(target=self._fetch_offsets, name="metrics-kafka-offsets", daemon=True).start()
        return self._dead[1], self._offsets

    def _fetch_offsets(self) -> None:
        try:
            self._offsets = self._consumer_offsets()
        except Exception:  # noqa: BLE001 - a metric left out, never a failed scrape
            logger.warning("metrics.consumer_offsets_failed", exc_info=True)
            self._offsets = None
        finally:
            self._offsets_at = time.monotonic()
            self._fetching.clear()

    def _dead_letters(self) -> Counter[tuple[str, str]]:
        from consumers.dead_letters import list_dead_letters

        return Counter((str(dead.get("code")), str(dead.get("status"))) for dead in list_dead_letters(self.service.ledger))

    def _consumer_offsets(self) -> dict[tuple[str, int], tuple[int, int]] | None:
        """Per partition the consumer has stored a position for: (position, the broker's end offset).
        A stored position of a topic or partition the broker no longer has (deleted, or recorded
        against another cluster) is left out; asking for its end offset would fail the whole lot."""
        if not self.bootstrap_servers:
            return None
        stored = stored_kafka_positions(self.service.ledger)
        if not stored:
            return {}
        try:
            from kafka import KafkaConsumer, TopicPartition

            from consumers.kafka_io import client_options

            client = KafkaConsumer(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=KAFKA_TIMEOUT_MS,
                                   connections_max_idle_ms=KAFKA_TIMEOUT_MS + 10_000, **client_options())
            try:
                on_broker = client.topics()
                partitions = [TopicPartition(topic, partition) for topic, partition in stored
                              if topic in on_broker and partition in (client.partitions_for_topic(topic) or ())]
                ends = client.end_offsets(partitions) if partitions else {}
            finally:
                client.close()
        except Exception as error:  # noqa: BLE001 - a broker that cannot be reached leaves the metric out
            logger.warning("metrics.kafka_unreachable", bootstrap_servers=self.bootstrap_servers, error=type(error).__name__,
                           reason=str(error) if isinstance(error, SettingsError) else None)
            return None
        return {(tp.topic, tp.partition): (stored[(tp.topic, tp.partition)], int(end)) for tp, end in ends.items()}


def stored_kafka_positions(ledger: Any) -> dict[tuple[str, int], int]:
    """The next offset the consumer will read, per topic and partition, as stored with its events
    (tracking rows named ``<topic>:<partition>``)."""
    recorder = ledger.recorder
    table = getattr(recorder, "tracking_table_name", None)
    if not table:
        return {}
    statement = f"SELECT application_name, MAX(notification_id) AS position FROM {table} GROUP BY application_name"
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement)
        rows = cursor.fetchall()
    found: dict[tuple[str, int], int] = {}
    for row in rows:
        name, position = (row["application_name"], row["position"]) if not isinstance(row, tuple) else row
        topic, _, partition = str(name).rpartition(":")
        if topic and re.fullmatch(r"[0-9]+", partition):
            found[(topic, int(partition))] = int(position)
    return found


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Metrics:
    def __init__(self, service: Any, bootstrap_servers: str | None) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("fund_ledger_http_request_duration_seconds", "HTTP request latency, by route",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.registry.register(LedgerCollector(service, bootstrap_servers))
