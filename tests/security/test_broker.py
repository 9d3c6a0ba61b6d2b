"""Only known publishers write, on the real broker (deploy/kafka/start.sh): a client without valid
credentials gets nothing; each service writes its own topics and nothing else; and a message
whose ``producer`` (or type) its topic's owner cannot have sent is dead-lettered."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import AuthorizationError, KafkaError, KafkaTimeoutError

from consumers import contract
from consumers.dead_letters import list_dead_letters
from consumers.kafka_io import admin_client, producer, send_all
from tests.kafka.kafka_helpers import Env, publish_as_owners, role_settings, security, stop, wait_until
from tests.security.people import REGION, enrolment, message

pytestmark = pytest.mark.kafka
QUICK_MS = 3_000  # a client that cannot bootstrap gives up after this long


def _refused_at_bootstrap(bootstrap: str, timeout_ms: int = QUICK_MS, **options: Any) -> None:
    with pytest.raises(KafkaTimeoutError):
        KafkaProducer(bootstrap_servers=bootstrap, bootstrap_timeout_ms=timeout_ms, **options)


def test_a_client_without_valid_credentials_gets_nothing(kafka_bootstrap: str, caplog: pytest.LogCaptureFixture) -> None:
    cafile = role_settings("hospitals")["KAFKA_SSL_CAFILE"]
    _refused_at_bootstrap(kafka_bootstrap, security_protocol="PLAINTEXT")  # nothing listens in clear
    _refused_at_bootstrap(kafka_bootstrap, security_protocol="SSL", ssl_cafile=cafile)  # TLS but no principal
    with caplog.at_level(logging.ERROR, logger="kafka"):
        _refused_at_bootstrap(kafka_bootstrap, 10_000, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                              sasl_plain_username="hospitals", sasl_plain_password="guessed-" + uuid.uuid4().hex, ssl_cafile=cafile)
    assert "Authentication failed during authentication due to invalid credentials" in caplog.text
    known = producer(kafka_bootstrap, security("hospitals"))  # the same client with the service's own password gets in
    known.close(timeout=5)


def _write(bootstrap: str, role: str, topic: str) -> None:
    kafka = producer(bootstrap, security(role))
    try:
        send_all(kafka, [(topic, "k", b"{}", ())])
    finally:
        kafka.close(timeout=5)


def _read(bootstrap: str, role: str, topic: str) -> list[bytes]:
    """What ``role`` gets of ``topic`` in a few seconds (a refused fetch is logged, not raised)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **security(role).client_options())
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        values: list[bytes] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not values:
            values += [r.value for records in consumer.poll(timeout_ms=500).values() for r in records]
        return values
    finally:
        consumer.close()


def test_each_service_writes_its_own_topics_and_nobody_else_reads_creates_or_deletes(kafka_bootstrap: str, prefix: str,
                                                                                     caplog: pytest.LogCaptureFixture) -> None:
    claims, fund = prefix + contract.TOPIC_CLAIMS, prefix + contract.TOPIC_FUND
    _write(kafka_bootstrap, "hospitals", claims)  # its own topic
    for role, topic in (("hospitals", fund), ("finance", claims), ("ledger", claims), ("auditor", claims)):
        with pytest.raises(AuthorizationError):
            _write(kafka_bootstrap, role, topic)
    for role in ("hospitals", "finance", "auditor"):  # only the ledger reads the message topics
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="kafka"):
            try:
                refused = _read(kafka_bootstrap, role, claims) == [] and "not authorized" in caplog.text
            except AuthorizationError:  # kafka-python raises it, or logs it and returns nothing
                refused = True
        assert refused, role
    assert _read(kafka_bootstrap, "ledger", claims) == [b"{}"]

    from kafka.admin import NewTopic

    admin = admin_client(kafka_bootstrap, security("hospitals"))
    try:
        with pytest.raises(AuthorizationError):
            admin.create_topics([NewTopic(prefix + "ledger.extra", 1, 1)])
        with pytest.raises(AuthorizationError):
            admin.delete_topics([claims])
    finally:
        admin.close()
    operator = admin_client(kafka_bootstrap, security("admin"))
    try:
        assert claims in operator.list_topics() and prefix + "ledger.extra" not in operator.list_topics()
    finally:
        operator.close()


def test_the_broker_creates_no_topic_on_first_use(kafka_bootstrap: str, prefix: str) -> None:
    missing = prefix + "ledger.nobody-made-this"
    kafka = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=3_000, **security("admin").client_options())
    try:
        with pytest.raises(KafkaError):
            kafka.send(missing, b"{}").get(timeout=5)
    finally:
        kafka.close(timeout=5)
    time.sleep(1)
    operator = admin_client(kafka_bootstrap, security("admin"))
    try:
        assert missing not in operator.list_topics()
    finally:
        operator.close()


def _claim(message_id: str, producer_name: str, claim_id: str) -> dict[str, Any]:
    return message(message_id, producer_name, "claim.outpatient", {"claim_id": claim_id, "person_id": "P1", "kind": "outpatient",
                                                                  "on": "2024-03-02", "amount_fen": 300}, "2024-03-02")


def _records(env: Env, messages: list[dict[str, Any]], topic: str) -> list[tuple[str, str, bytes, tuple[()]]]:
    return [(env.prefix + topic, f"{REGION}/P1", json.dumps(m).encode(), ()) for m in messages]


def test_a_message_its_topics_owner_cannot_have_sent_is_dead_lettered(kafka_env: Env, tmp_path: Path) -> None:
    """The hospitals' principal writes three claims-topic records: a claim of its own (``his``), a
    claim signed as the tax bureau (``tax``, reusing a message id of the tax bureau's), and an
    expenditure signed as finance. Only the first is applied; the tax bureau's own message with
    that id is applied later (the forgery did not take the id)."""
    log = tmp_path / "consumer.log"
    kafka_env.publish([enrolment("P1", "1971-03-14", "E77")])
    genuine = _claim("his-1", "his", "OP-1")
    forged = _claim("tax-E77-2024-01", "tax", "OP-2")
    expenditure = message("fin-1", "finance", "expenditure.recorded", {"expenditure_id": "EXP-1", "fund": "pooled",
                                                                        "item": "other", "amount_fen": 100, "on": "2024-03-02"}, "2024-03-02")
    publish_as_owners(kafka_env.bootstrap, _records(kafka_env, [genuine, forged, expenditure], contract.TOPIC_CLAIMS))
    assert kafka_env.consume(log=log) == 0, log.read_text()[-3000:]

    ledger = kafka_env.ledger()
    try:
        refused = {d["provenance"]["message_id"]: d for d in list_dead_letters(ledger)}
        applied = _applied(ledger)
    finally:
        ledger.close()
    assert {mid: (d["code"], d["field"]) for mid, d in refused.items()} == {
        "tax-E77-2024-01": ("producer_mismatch", "producer"), "fin-1": ("producer_mismatch", "type")}
    assert "not a producer of hospitals" in refused["tax-E77-2024-01"]["reason"]
    assert ("his", "his-1") in applied and ("tax", "tax-E77-2024-01") not in applied

    remittance = message("tax-E77-2024-01", "tax", "contribution.remittance", {
        "remittance_id": "E77-2024-01", "payer_kind": "employer", "payer_id": "E77", "period": "2024-01", "received_on": "2024-01-15",
        "declared_total_fen": 40_000, "lines": [{"person_id": "P1", "wage_base_fen": 500_000}]}, "2024-01-15")
    kafka_env.publish([remittance])  # as the tax bureau's principal, on its own topic
    assert kafka_env.consume(log=log) == 0, log.read_text()[-3000:]
    ledger = kafka_env.ledger()
    try:
        assert ("tax", "tax-E77-2024-01") in _applied(ledger)
        # P1, born 1971-03-14, is 52: 2% employee + the 45-and-over band's 2% of 500,000 = 20,000.
        assert ledger.personal_account(REGION, "P1").balance_fen == 20_000
    finally:
        ledger.close()


def _applied(ledger: Any) -> set[tuple[str, str]]:
    return {(event.region, event.business_key) for _, event in ledger.stored_events()
            if type(event).__qualname__ == "BusinessRecord.Recorded" and event.kind == "message"
            and event.region not in ("dead-letters", "deferred")}


def test_a_consumer_whose_principal_may_not_read_stops_with_one_line(kafka_env: Env, tmp_path: Path) -> None:
    log = tmp_path / "consumer.log"
    kafka_env.environ.update(role_settings("hospitals"))
    process = kafka_env.start_consumer("--max-seconds", "60", log=log)
    wait_until(lambda: process.poll() is not None, 60, "the consumer to stop")
    assert stop(process) != 0
    text = log.read_text()
    assert "Traceback" not in text
    # The hospitals' principal sees only its own topic: the others are missing to it, and it may not make them.
    assert "this principal may neither see nor create them" in text, text[-2000:]
