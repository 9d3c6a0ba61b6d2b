"""The consumer against the real broker: end to end, crashes, duplicates, dead letters, groups."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka_helpers import Env, books, group_of, scenario, security, stop, store_books, wait_until

from consumers import contract
from consumers.dead_letters import list_dead_letters
from ledger.application import Ledger

pytestmark = pytest.mark.kafka


def _consume_phases(env: Env, phases: list[list[object]], log: Path) -> None:
    for phase in phases:
        env.publish(phase)  # type: ignore[arg-type]
        assert env.consume(log=log) == 0, log.read_text()[-3000:]


def _dead_letter_topic(env: Env) -> list[dict[str, object]]:
    consumer = KafkaConsumer(contract.dead_letter_topic(env.prefix), bootstrap_servers=env.bootstrap,  # an operator reads them
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000,
                             **security("admin").client_options())
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def test_publish_refuses_an_invalid_file_and_sends_nothing(kafka_env: Env, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(Path("examples/messages.jsonl").read_text() + '{"message_id": "x"}\n')
    published = kafka_env.cli("publish", str(path), "--topic-prefix", kafka_env.prefix, role="admin")
    assert published.returncode == 1
    report = json.loads(published.stdout)
    assert report["sent"] == 0 and report["refused"][0]["line"] == 14


def test_published_messages_reach_the_balances(kafka_env: Env, reference, tmp_path: Path) -> None:
    lines = Path("examples/messages.jsonl").read_text().splitlines()
    messages = [json.loads(line) for line in lines]
    persons = [m for m in messages if m["type"].startswith("person.")]
    rest = [m for m in messages if not m["type"].startswith("person.")]
    for index, phase in enumerate([persons, rest]):  # through `fund-ledger publish`, as producers' developers would
        path = tmp_path / f"phase-{index}.jsonl"
        path.write_text("".join(json.dumps(m) + "\n" for m in phase))
        published = kafka_env.cli("publish", str(path), "--topic-prefix", kafka_env.prefix, role="admin")
        assert published.returncode == 0, published.stdout + published.stderr
        assert json.loads(published.stdout)["sent"] == len(phase)
        assert kafka_env.consume(log=tmp_path / "consumer.log") == 0

    got = store_books(kafka_env.store)
    assert got == reference([persons, rest])
    assert got["balances"]["P001"] > 0 and got["events"]["PooledFund.InpatientBenefitPaid"] == 1
    assert sum(got["trial_balance"].values()) == 0
    log = (tmp_path / "consumer.log").read_text()
    assert '"event": "consumer.summary"' in log or '"event": "consumer.stopped"' in log
    handled = [json.loads(line) for line in log.splitlines() if '"message.handled"' in line]
    assert {"topic", "partition", "offset", "message_id", "region", "duration_ms"} <= set(handled[0])
    lag = _committed(kafka_env)  # committed minus end, each non-empty partition: none behind once the consumer stopped
    assert lag and set(lag.values()) == {0}, lag


def _committed(env: Env) -> dict[tuple[str, int], int]:
    """The consumer group's committed offset of each partition it read, as an operator watching
    its lag reads them (without joining the group), next to the partition's end."""
    reader = KafkaConsumer(bootstrap_servers=env.bootstrap, group_id=group_of(env.prefix), enable_auto_commit=False,
                           **security("admin").client_options())
    try:
        read = [topic for topic in reader.topics() if topic.startswith(env.prefix) and topic != contract.dead_letter_topic(env.prefix)]
        partitions = [TopicPartition(topic, partition) for topic in read for partition in reader.partitions_for_topic(topic) or ()]
        ends = {tp: end for tp, end in reader.end_offsets(partitions).items() if end > 0}
        return {(tp.topic, tp.partition): (reader.committed(tp) or 0) - end for tp, end in ends.items()}
    finally:
        reader.close()


def test_kill_9_at_every_dangerous_point_then_restart_equals_a_clean_run(kafka_env: Env, reference, tmp_path: Path) -> None:
    persons, remittances, claims = scenario()
    bad = [b"{not json", json.dumps({**claims[0], "message_id": "his-bad-1",
                                     "payload": {**claims[0]["payload"], "amount_fen": 10.5}}).encode()]
    claims_with_bad = claims[:20] + bad + claims[20:]
    log = tmp_path / "consumer.log"

    kafka_env.publish(persons)
    assert kafka_env.consume(log=log) == 0

    kafka_env.publish(remittances)
    # Dies in the middle of its 2nd batch (batches of 5 remittances).
    assert kafka_env.consume(faults="kill_after_messages=7", batch_size=5, log=log) == -9
    assert kafka_env.consume(batch_size=5, log=log) == 0

    kafka_env.publish(claims_with_bad)  # type: ignore[arg-type]
    # Dies after publishing its dead letters, before the database commit ...
    assert kafka_env.consume(faults="kill_before_commit=2", batch_size=10, log=log) == -9
    # ... then after a database commit, before committing Kafka offsets ...
    assert kafka_env.consume(faults="kill_after_commit=3", batch_size=10, log=log) == -9
    # ... then in the middle of a batch; and finally runs to the end.
    assert kafka_env.consume(faults="kill_after_messages=15", batch_size=10, log=log) == -9
    assert kafka_env.consume(batch_size=10, log=log) == 0

    got = store_books(kafka_env.store)
    expected = reference([persons, remittances, claims_with_bad])
    assert got == expected
    assert got["dead_letters"] == 2
    # The topic may hold a dead letter twice (published, then killed before the commit): the
    # same id both times. The store holds each once.
    on_topic = {d["dead_letter_id"] for d in _dead_letter_topic(kafka_env)}
    ledger = kafka_env.ledger()
    try:
        in_store = [d["dead_letter_id"] for d in list_dead_letters(ledger)]
    finally:
        ledger.close()
    assert len(in_store) == len(set(in_store)) == 2
    assert set(in_store) == on_topic


def test_duplicate_and_reordered_deliveries_change_nothing(kafka_env: Env, reference, tmp_path: Path) -> None:
    persons, remittances, claims = scenario(seed=11, claims=30)
    rng = random.Random(3)
    # Remittances commute; claims of different persons commute (each person's stay in order, as
    # the key keeps them in one partition): shuffle across persons, deliver everything twice.
    twice_remittances = remittances + remittances[::-1]
    rng.shuffle(twice_remittances)
    by_person: dict[str, list[dict[str, object]]] = {}
    for claim in claims:
        by_person.setdefault(claim["payload"]["person_id"], []).append(claim)
    people = list(by_person)
    rng.shuffle(people)
    reordered_claims = [c for p in people for c in by_person[p]]
    conflict = {**claims[0], "payload": {**claims[0]["payload"], "amount_fen": claims[0]["payload"].get("amount_fen", 1) + 1}}
    phases = [persons + persons[:5], twice_remittances, reordered_claims + claims + [conflict]]
    _consume_phases(kafka_env, phases, tmp_path / "consumer.log")

    got = store_books(kafka_env.store)
    assert got == reference([persons, remittances, claims + [conflict]])
    ledger = kafka_env.ledger()
    try:
        (dead,) = list_dead_letters(ledger)
    finally:
        ledger.close()
    assert dead["code"] == "message_conflict"


def test_a_malformed_message_in_a_batch_is_dead_lettered_and_the_rest_applied(kafka_env: Env, tmp_path: Path) -> None:
    persons, _, claims = scenario(people=5, claims=0)
    kafka_env.publish(persons)
    assert kafka_env.consume(log=tmp_path / "c.log") == 0

    def claim(n: int, amount: object = 500) -> dict[str, object]:
        return {"message_id": f"m{n}", "producer": "his", "type": "claim.outpatient", "schema_version": 1, "region": "210100",
                "occurred_at": "2024-05-03T10:00:00+08:00",
                "payload": {"claim_id": f"C{n}", "person_id": "P0000", "kind": "outpatient", "on": "2024-05-03", "amount_fen": amount}}
    bad = json.dumps(claim(3, 12.5)).encode()
    # One key (one person): one partition, one batch, in this order.
    kafka_env.publish([claim(1), claim(2), bad, claim(4), claim(5)])
    assert kafka_env.consume(log=tmp_path / "c.log") == 0

    (dead,) = _dead_letter_topic(kafka_env)  # the topic has a notice: a reference to the original, none of its content
    assert "excerpt_b64" not in dead and "sha256" not in dead and "reason" not in dead
    assert dead["size_bytes"] == len(bad)
    assert (dead["code"], dead["field"]) == ("invalid_schema", "payload.amount_fen")
    assert dead["provenance"]["topic"] == kafka_env.prefix + "ledger.claims"
    assert dead["provenance"]["message_id"] == "m3"
    ledger = kafka_env.ledger()
    try:
        statement = ledger.statement("210100", "P0000")
    finally:
        ledger.close()
    assert [line["reference"] for line in statement] == ["C1", "C2", "C4", "C5"]

    listed = kafka_env.cli("dead-letters", "--json")
    assert listed.returncode == 0, listed.stderr
    stored = json.loads(listed.stdout.splitlines()[0])
    assert stored["dead_letter_id"] == dead["dead_letter_id"]
    assert base64.b64decode(stored["value_b64"]) == bad  # the store keeps the original
    assert stored["sha256"] == hashlib.sha256(bad).hexdigest()
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(claim(3, 1250)))
    republished = kafka_env.cli("dead-letters", "--republish", str(dead["dead_letter_id"]), "--file", str(fixed),
                                "--topic-prefix", kafka_env.prefix, role="hospitals")  # as the claims' owner
    assert republished.returncode == 0, republished.stdout + republished.stderr
    assert kafka_env.consume(log=tmp_path / "c.log") == 0
    ledger = kafka_env.ledger()
    try:
        assert [line["reference"] for line in ledger.statement("210100", "P0000")] == ["C1", "C2", "C4", "C5", "C3"]
        assert list_dead_letters(ledger)[0]["status"] == "resolved"
    finally:
        ledger.close()
    assert kafka_env.cli("dead-letters").stdout.strip().endswith("0 dead letter(s)")


def test_two_consumers_in_one_group_give_the_same_books_as_one(kafka_env: Env, reference, tmp_path: Path) -> None:
    phases = scenario(seed=5, people=60, employers=6, claims=90)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # Their time limit outlasts every wait below (90 s, then 60 s a phase): a consumer never stops on
    # its own while the test still waits on it, and one that stops is reported at once with its log.
    consumers = [kafka_env.start_consumer("--max-seconds", "300", log=log, batch_size=20) for log in logs]
    running = dict(zip(logs, consumers, strict=True))
    try:
        # A group's rebalance waits for every member to rejoin: 90 s leaves room for a loaded machine;
        # on a timeout, the consumers' own logs say where each one stood.
        wait_until(lambda: all('"partition.assigned"' in log.read_text() for log in logs), 90,
                   "both consumers to get partitions", running)
        ledger = kafka_env.ledger()
        try:
            for phase in phases:
                kafka_env.publish(phase)  # type: ignore[arg-type]
                wait_until(lambda: _caught_up(kafka_env, ledger), 60, "the phase to be applied", running)
        finally:
            ledger.close()
    finally:
        codes = [stop(process) for process in consumers]
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]  # SIGTERM: clean exit
    for log in logs:
        text = log.read_text()
        assert '"consumer.stopped"' in text
        assert '"message.handled"' in text  # both did some of the work
    assert store_books(kafka_env.store) == reference(phases)


def _caught_up(env: Env, ledger: object) -> bool:
    from kafka import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=env.bootstrap, **security("admin").client_options())
    try:
        partitions = [TopicPartition(t, p) for t in contract.all_topics(env.prefix) for p in range(3)]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    recorder = ledger.recorder  # type: ignore[attr-defined]
    return all(end == 0 or (recorder.max_tracking_id(f"{tp.topic}:{tp.partition}") or 0) >= end for tp, end in ends.items())




@pytest.mark.postgres
def test_the_consumer_on_postgresql_survives_a_kill_and_equals_a_clean_run(kafka_env: Env, reference, postgres_env, tmp_path: Path) -> None:
    """The production store: positions and events in one PostgreSQL transaction."""
    kafka_env.environ.update(postgres_env)
    persons, remittances, claims = scenario(seed=2, people=20, claims=30)
    log = tmp_path / "consumer.log"
    kafka_env.publish(persons)
    assert kafka_env.consume(log=log) == 0
    kafka_env.publish(remittances)
    # Batches of 3 remittances, each saved while the next is applied (consumers.save_behind): the
    # 2nd save fails once as it is written (every partition read again from its recorded
    # position, the batch applied on it forgotten); then the consumer dies while its 3rd save
    # is written.
    assert kafka_env.consume(faults="fail_while_saving=2,kill_while_saving=3", batch_size=3, log=log) == -9
    assert '"event": "batch.rolled_back"' in log.read_text()
    assert kafka_env.consume(log=log) == 0
    kafka_env.publish(claims)
    assert kafka_env.consume(faults="kill_after_messages=12", batch_size=8, log=log) == -9
    assert kafka_env.consume(batch_size=8, log=log) == 0

    assert postgres_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    ledger = Ledger(env={**postgres_env})
    try:
        assert books(ledger) == reference([persons, remittances, claims])
    finally:
        ledger.close()


def test_a_consumer_started_before_the_publish_waits_for_its_messages_then_stops(kafka_env: Env, reference, tmp_path: Path) -> None:
    """``--until-messages N``: caught up with nothing published, it keeps reading until N messages
    were handled (what a job or a benchmark started ahead of its publisher needs), then stops."""
    persons, remittances, _ = scenario(seed=5, people=12, claims=0)
    log = tmp_path / "consumer.log"
    process = kafka_env.start_consumer("--until-messages", str(len(persons)), "--max-seconds", "80", log=log)
    try:
        deadline = time.monotonic() + 40
        while '"event": "partition.assigned"' not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert '"event": "partition.assigned"' in log.read_text()
        time.sleep(2)  # caught up with the empty topics for a few polls
        assert process.poll() is None, "stopped before its messages were published"
        kafka_env.publish(persons)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert store_books(kafka_env.store) == reference([persons])


@pytest.mark.postgres
def test_a_consumer_joining_on_postgresql_while_saves_are_in_flight_gives_the_same_books(
        kafka_env: Env, reference, postgres_env, tmp_path: Path) -> None:
    """On PostgreSQL the first consumer writes its saves behind (``consumers.save_behind``); a
    second joins the group while it works through the remittances: the first waits for its saves
    in flight before its partitions are revoked, and the books are those of a clean run."""
    kafka_env.environ.update(postgres_env)
    persons, remittances, claims = scenario(seed=8, people=60, employers=6, claims=60)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    ledger = Ledger(env={**postgres_env})
    # Time limits longer than the waits below together (40 + 60 + 40 + 90 s): neither stops on its own
    # while the test waits on it.
    processes = [kafka_env.start_consumer("--max-seconds", "300", log=logs[0], batch_size=3)]
    running = {logs[0]: processes[0]}
    try:
        wait_until(lambda: '"partition.assigned"' in logs[0].read_text(), 40, "the first consumer to get partitions", running)
        kafka_env.publish(persons)
        wait_until(lambda: _caught_up(kafka_env, ledger), 60, "the enrolments to be applied", running)
        kafka_env.publish(remittances + claims)  # type: ignore[arg-type]
        wait_until(lambda: '"message.handled"' in logs[0].read_text().split('"contribution.remittance"', 1)[-1], 40,
                   "the first consumer to be applying remittances", running)
        processes.append(kafka_env.start_consumer("--max-seconds", "300", log=logs[1], batch_size=3))
        running[logs[1]] = processes[1]
        wait_until(lambda: _caught_up(kafka_env, ledger), 90, "everything to be applied", running)
    finally:
        codes = [stop(process) for process in processes]
    try:
        assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
        assert '"partition.revoked"' in logs[0].read_text()  # the second consumer's arrival took partitions from it
        assert books(ledger) == reference([persons, remittances, claims])
    finally:
        ledger.close()
