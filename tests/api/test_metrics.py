"""The consumer-lag metric's first half: the position the consumer stored with its events, per
topic and partition, read from the ledger's tracking table (the broker's end offsets are the
other half)."""

from __future__ import annotations

import pytest

from ledger.application import Ledger
from ledger.settings import ledger_env
from tests.api.service import RunningService
from tests.conftest import as_role, connect


def test_the_consumers_stored_positions_are_read_per_topic_and_partition(service: RunningService) -> None:
    settings = {key: value for key, value in service.env.items() if key.startswith(("POSTGRES_", "PERSISTENCE_"))}
    with connect(settings, "superuser") as connection:
        connection.execute("INSERT INTO fundledger_tracking (application_name, notification_id) VALUES "
                           "('ledger.claims:0', 42), ('ledger.persons:2', 7), ('not-a-partition', 99)")
    from api.metrics import stored_kafka_positions

    ledger = Ledger(env=ledger_env({**as_role(settings, "finance"), "CREATE_TABLE": "n"}))
    try:
        assert stored_kafka_positions(ledger) == {("ledger.claims", 0): 42, ("ledger.persons", 2): 7}
    finally:
        ledger.close()


def test_consumer_lag_is_the_brokers_end_offset_less_the_stored_position(service: RunningService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five records on partition 0 of a topic of its own, the consumer's stored position 2 (the
    next offset it will read): a lag of 3 records. Positions stored for a partition the topic does
    not have and for a topic the broker does not have are left out, not the whole metric (they
    made the broker's answer fail, and the lag vanished from the page)."""
    import os
    import subprocess
    import time
    import uuid
    from types import SimpleNamespace

    from api.metrics import LedgerCollector
    from api.service import Lag
    from consumers.kafka_io import producer as kafka_producer
    from tests.conftest import REPO
    from tests.kafka.kafka_helpers import grant_prefix, role_settings, security

    subprocess.run([str(REPO / "deploy/kafka/start.sh")], check=True, capture_output=True, timeout=180)
    bootstrap = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"
    prefix = f"api{uuid.uuid4().hex[:8]}."
    grant_prefix(bootstrap, prefix)  # the topics and ACLs, as the operator makes them
    topic = f"{prefix}ledger.claims"
    producer = kafka_producer(bootstrap, security("admin"))
    for number in range(5):
        producer.send(topic, value=f"record {number}".encode(), partition=0)
    producer.flush(timeout=30)
    producer.close()
    for name, value in role_settings("ledger").items():  # the service reads the end offsets as the ledger's principal
        monkeypatch.setenv(name, value)
    settings = {key: value for key, value in service.env.items() if key.startswith(("POSTGRES_", "PERSISTENCE_"))}
    with connect(settings, "superuser") as connection:
        connection.execute("INSERT INTO fundledger_tracking (application_name, notification_id) VALUES (%s, 2), (%s, 4), (%s, 9)",
                           (f"{topic}:0", f"{topic}:7", f"gone{prefix}ledger.claims:0"))
    ledger = Ledger(env=ledger_env({**as_role(settings, "finance"), "CREATE_TABLE": "n"}))
    try:
        collector = LedgerCollector(SimpleNamespace(ledger=ledger, lag=lambda: Lag(0, 0)), bootstrap)
        collector._slow_figures()  # starts the background fetch of the end offsets
        deadline = time.monotonic() + 60
        while collector._fetching.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        families = {family.name: family for family in collector.collect()}
        samples = {(s.labels["topic"], s.labels["partition"]): s.value for s in families["fund_ledger_consumer_lag_messages"].samples}
        assert samples[(topic, "0")] == 3
        assert (topic, "7") not in samples
        assert not [key for key in samples if key[0].startswith("gone")]
    finally:
        ledger.close()


def test_scrapes_arriving_together_read_the_dead_letters_once() -> None:
    # Each read lists every message record of the log: scrapes arriving together each did it.
    import threading
    import time
    from collections import Counter
    from types import SimpleNamespace

    from api.metrics import LedgerCollector

    reads = []
    collector = LedgerCollector(SimpleNamespace(ledger=None), None)

    def slow_read() -> Counter[tuple[str, str]]:
        reads.append(1)
        time.sleep(0.2)
        return Counter({("invalid_schema", "open"): 1})

    collector._dead_letters = slow_read  # type: ignore[method-assign]
    scrapes = [threading.Thread(target=collector._slow_figures) for _ in range(4)]
    for scrape in scrapes:
        scrape.start()
    for scrape in scrapes:
        scrape.join(5)
    assert len(reads) == 1
    assert collector._slow_figures()[0] == Counter({("invalid_schema", "open"): 1})
