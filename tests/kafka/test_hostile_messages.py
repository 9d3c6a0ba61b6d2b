"""The hostile catalogue (``tests/hostile/catalogue.py``) through the real broker: published as
they are (``publish --raw``), consumed by a consumer process that must still be running at the
end, every bad record dead-lettered with its reason (the original in the store, a bounded notice
on the topic), every good record applied, ``verify`` passing. And the consumer waits for a
broker or a database it cannot reach instead of dying."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka_helpers import REPO, Env, security, stop, wait_until

from consumers import contract
from consumers.dead_letters import list_dead_letters
from consumers.kafka_io import MAX_NOTICE_BYTES
from tests.hostile.catalogue import Line, catalogue, enrol, outpatient
from tests.hostile.checks import applied_message_ids, check_books, check_outcomes, message_id_of

pytestmark = pytest.mark.kafka
# Enrolments of P1, P2 and of the big payroll's people, and P1 and P2's remittance, are applied
# before the rest is published: Kafka does not order between topics, and a remittance that
# overtakes ten thousand enrolments would exhaust its retries.
@pytest.fixture(autouse=True)
def _the_suite_signs_for_every_service(kafka_env: Env) -> None:
    """The catalogue's messages all say ``producer: hostile-suite``: this deployment lists that
    name among every service's producers (``consumers/publishers.toml``), as a deployment may."""
    kafka_env.allow_producer("hostile-suite")


def _is_setup(index: int, line: Line) -> bool:
    return index < 3 or (line.expect == "applied" and message_id_of(line).startswith("enrol-PAYROLL-"))


def _publish_raw(env: Env, values: list[bytes], path: Path) -> None:
    path.write_bytes(b"".join(value + b"\n" for value in values))
    published = env.cli("publish", "--raw", "--topic-prefix", env.prefix, "--fallback-topic", env.prefix + contract.TOPIC_CLAIMS,
                        str(path), timeout=180, role="admin")
    assert published.returncode == 0, published.stdout + published.stderr


def _notices(env: Env) -> list[tuple[int, dict[str, object]]]:
    consumer = KafkaConsumer(contract.dead_letter_topic(env.prefix), bootstrap_servers=env.bootstrap,  # an operator reads them
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000,
                             **security("admin").client_options())
    try:
        return [(len(record.value), json.loads(record.value)) for record in consumer]
    finally:
        consumer.close()


def test_every_hostile_record_is_dead_lettered_and_the_consumer_keeps_running(kafka_env: Env, tmp_path: Path) -> None:
    lines = [line for line in catalogue() if line.kafka]
    refused = [line for line in lines if line.expect not in ("applied", "duplicate")]
    good_ids = {message_id_of(line) for line in lines if line.expect in ("applied", "duplicate")}
    log = tmp_path / "consumer.log"
    setup = [line.value for index, line in enumerate(lines) if _is_setup(index, line)]
    _publish_raw(kafka_env, setup, tmp_path / "setup.jsonl")
    consumer = kafka_env.start_consumer("--retry-delays", "1,1,1", log=log, batch_size=500)
    try:
        wait_until(lambda: _count_applied(kafka_env) >= len(setup), 180, "the setup to be applied", {log: consumer})
        _publish_raw(kafka_env, [line.value for index, line in enumerate(lines) if not _is_setup(index, line)],
                     tmp_path / "hostile.jsonl")

        def settled() -> bool:
            ledger = kafka_env.ledger()
            try:
                open_ = [d for d in list_dead_letters(ledger) if d["status"] == "open"]
                return len(open_) >= len(refused) and good_ids <= applied_message_ids(ledger)
            finally:
                ledger.close()

        wait_until(settled, 300, "every record to be applied or dead-lettered", {log: consumer})
        assert consumer.poll() is None, "the consumer stopped: " + log.read_text()[-3000:]
    finally:
        assert stop(consumer) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()

    ledger = kafka_env.ledger()
    try:
        by_digest = {dead["sha256"]: dead for dead in list_dead_letters(ledger)}
        refusal_of = {index: by_digest[digest] for index, line in enumerate(lines)
                      if (digest := hashlib.sha256(line.value).hexdigest()) in by_digest}
        check_outcomes(ledger, lines, refusal_of)
        check_books(ledger)
    finally:
        ledger.close()

    notices = _notices(kafka_env)
    assert len({notice["dead_letter_id"] for _, notice in notices}) == len(refused)
    for size, notice in notices:  # a reference to the original, none of its content
        assert size <= MAX_NOTICE_BYTES and "excerpt_b64" not in notice and "value_b64" not in notice
        assert str(notice["original"]).startswith("kept in the ledger's store")
    verified = kafka_env.cli("verify", timeout=300)
    assert verified.returncode == 0, verified.stdout[-3000:]


def _count_applied(env: Env) -> int:
    ledger = env.ledger()
    try:
        return len(applied_message_ids(ledger))
    except Exception:  # noqa: BLE001 - the store may not exist yet
        return 0
    finally:
        ledger.close()


def test_the_consumer_waits_for_an_unreachable_broker_and_stops_cleanly(kafka_env: Env, tmp_path: Path) -> None:
    """Once an uncaught KafkaConnectionError ended the consumer; now it says what it waits for."""
    log = tmp_path / "consumer.log"
    with log.open("ab") as err:
        process = subprocess.Popen([sys.executable, "-m", "cli.main", "consume", "--log-format", "json", "--bootstrap-servers",
                                    "127.0.0.1:9", "--topic-prefix", kafka_env.prefix], cwd=REPO, env=kafka_env.environ,
                                   stdout=subprocess.PIPE, stderr=err)
    try:
        wait_until(lambda: "consumer.waiting" in log.read_text(), 90, "a line saying what the consumer waits for")
        time.sleep(1)
        assert process.poll() is None, log.read_text()[-3000:]
    finally:
        assert stop(process) == 0, log.read_text()[-3000:]
    waiting = [json.loads(line) for line in log.read_text().splitlines() if '"consumer.waiting"' in line]
    assert waiting[0]["waiting_for"] == "the Kafka broker at 127.0.0.1:9"
    assert "Traceback" not in log.read_text()


def test_the_consumer_waits_for_an_unreachable_database_and_stops_cleanly(kafka_env: Env, tmp_path: Path) -> None:
    log = tmp_path / "consumer.log"
    environ = {**kafka_env.environ, "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "ledger",
               "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "9", "POSTGRES_USER": "nobody", "POSTGRES_PASSWORD": "x",
               "POSTGRES_CONNECT_TIMEOUT": "2"}
    with log.open("ab") as err:
        process = subprocess.Popen([sys.executable, "-m", "cli.main", "consume", "--log-format", "json", "--topic-prefix",
                                    kafka_env.prefix], cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=err)
    try:
        wait_until(lambda: "consumer.waiting" in log.read_text(), 90, "a line saying what the consumer waits for")
        assert process.poll() is None, log.read_text()[-3000:]
    finally:
        assert stop(process, timeout=60) == 0, log.read_text()[-3000:]
    waiting = [json.loads(line) for line in log.read_text().splitlines() if '"consumer.waiting"' in line]
    assert waiting[0]["waiting_for"] == "the ledger's database"
    assert "Traceback" not in log.read_text()


def test_a_claim_that_overtakes_its_persons_enrolment_waits_in_the_retry_topics_then_applies(kafka_env: Env, tmp_path: Path) -> None:
    log = tmp_path / "consumer.log"
    claim = outpatient("op-late", "CL", "P7", "2024-02-10", 700)
    consumer = kafka_env.start_consumer("--retry-delays", "2,2,2,2,2", log=log)
    try:
        kafka_env.publish([claim])

        def deferral() -> dict[str, object] | None:
            ledger = kafka_env.ledger()
            try:
                return next((d for d in list_dead_letters(ledger) if d["provenance"].get("message_id") == "op-late"), None)
            except Exception:  # noqa: BLE001 - the store may not exist yet
                return None
            finally:
                ledger.close()

        wait_until(lambda: (deferral() or {}).get("status") == "retrying", 60, "the claim to be deferred", {log: consumer})
        kafka_env.publish([enrol("P7")])
        wait_until(lambda: (deferral() or {}).get("status") == "resolved", 60, "the claim to be applied after the enrolment",
                   {log: consumer})
        assert consumer.poll() is None
    finally:
        assert stop(consumer) == 0, log.read_text()[-3000:]
    ledger = kafka_env.ledger()
    try:
        assert "op-late" in applied_message_ids(ledger)  # applied once, after the enrolment
        assert ledger.personal_account("210100", "P7").balance_fen == 0  # an empty account: the 700 was out of pocket
    finally:
        ledger.close()
    records = _retry_records(kafka_env)
    assert records, "nothing went through the retry topics"
    headers = dict(records[0].headers)
    assert headers["retry-attempt"] == b"1" and headers["retry-first-code"] == b"unknown_person"
    assert headers["retry-origin"].decode().startswith(kafka_env.prefix + contract.TOPIC_CLAIMS + ":")


def _retry_records(env: Env) -> list[Any]:
    consumer = KafkaConsumer(f"{env.prefix}ledger.retry.1", bootstrap_servers=env.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000, **security("admin").client_options())
    try:
        return list(consumer)
    finally:
        consumer.close()
