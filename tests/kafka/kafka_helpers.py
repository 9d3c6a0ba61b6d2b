"""Helpers of the Kafka tests: credentials of each principal, running the CLI, publishing (each
message by the service that owns its topic), a scenario, the books to compare."""

from __future__ import annotations

import functools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from consumers import contract
from consumers.kafka_admin import CONSUMER_GROUP, grant
from consumers.kafka_io import KafkaSecurity, admin_client, ensure_topics, producer, route_raw, send_all
from consumers.publishers import DEFAULT_PUBLISHERS_FILE, base_topic, configured_publishers
from ledger.application import Ledger
from ledger.policy import load_policy_file
from ledger.rules import age_on, contribution_split, laid_off_wage_base_fen
from tests.conftest import exported

REPO = Path(__file__).resolve().parents[2]
KAFKA = REPO / "deploy" / "kafka"
REGION = "210100"
# Fast rebalances: the broker's minimum session timeout is 6 s.
FAST = ["--session-timeout-ms", "6000", "--heartbeat-interval-ms", "1000", "--max-poll-interval-ms", "20000"]


@functools.cache
def role_settings(role: str) -> dict[str, str]:
    """A principal's client settings for the local broker (``deploy/kafka/env.sh``): ``admin``,
    ``ledger``, ``auditor``, or a service of ``consumers/publishers.toml``."""
    flags = [f"--{role}"] if role in ("admin", "ledger", "auditor") else ["--service", role]
    return exported(subprocess.run([str(KAFKA / "env.sh"), *flags], capture_output=True, text=True, check=True, timeout=30).stdout)


def security(role: str) -> KafkaSecurity:
    return KafkaSecurity.from_env(role_settings(role))


def grant_prefix(bootstrap: str, prefix: str) -> None:
    """Topics and ACLs under ``prefix``, as the operator makes them (the admin principal)."""
    admin = admin_client(bootstrap, security("admin"))
    try:
        grant(admin, prefix)
    finally:
        admin.close()
    ensure_topics(bootstrap, prefix, partitions=3, security=security("admin"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The broker, started if needed; stopped at the end only if this session started it (other
    sessions may be using it)."""
    was_running = subprocess.run([str(KAFKA / "wait.sh")], capture_output=True, timeout=30).returncode == 0
    started = subprocess.run([str(KAFKA / "start.sh")], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        pytest.fail(f"deploy/kafka/start.sh failed:\n{started.stdout}\n{started.stderr}")
    yield f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"
    if not was_running:
        subprocess.run([str(KAFKA / "stop.sh")], capture_output=True, timeout=60)


@pytest.fixture
def prefix(kafka_bootstrap: str) -> str:
    """Unique topic names (and group id) per test, so tests are independent, with the ACLs a
    deployment has under that prefix."""
    name = f"t{uuid.uuid4().hex[:10]}."
    grant_prefix(kafka_bootstrap, name)
    return name


@pytest.fixture
def kafka_env(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Env:
    return Env(kafka_bootstrap, prefix, tmp_path / "ledger.sqlite")


def group_of(prefix: str, suffix: str = "") -> str:
    """A consumer group the ledger's principal may join under ``prefix`` (its ACL: ``<prefix>fund-ledger*``)."""
    return f"{prefix}{CONSUMER_GROUP}{suffix}"


def owner_of(topic: str) -> str:
    """The service whose principal may write ``topic``."""
    base = base_topic(topic)
    owner = configured_publishers().owner_of(base) if base else None
    assert owner is not None, f"no service owns {topic}"
    return owner.name


def publish_as_owners(bootstrap: str, records: list[tuple[str, str | None, bytes, Any]]) -> None:
    """Send each record with the credentials of the service that owns its topic, in order per topic."""
    by_owner: dict[str, list[tuple[str, str | None, bytes, Any]]] = defaultdict(list)
    for record in records:
        by_owner[owner_of(record[0])].append(record)
    for owner, owned in by_owner.items():
        kafka = producer(bootstrap, security(owner))
        try:
            send_all(kafka, owned)
        finally:
            kafka.close(timeout=10)


class Env:
    """Running the CLI against one ledger store and one broker, as the ledger's principal unless
    told otherwise (``cli(..., role=...)``)."""

    def __init__(self, bootstrap: str, prefix: str, store: Path) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.store = store
        self.environ = {**os.environ, "FUND_LEDGER_SQLITE": str(store), **role_settings("ledger"), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                        "PYTHONPATH": str(REPO)}
        self.environ.pop("PERSISTENCE_MODULE", None)
        self.environ.pop("FUND_LEDGER_FAULTS", None)

    def allow_producer(self, name: str) -> None:
        """A deployment whose every service may sign its messages ``name`` (a publishers file of
        its own, ``FUND_LEDGER_PUBLISHERS``)."""
        text = DEFAULT_PUBLISHERS_FILE.read_text()
        text = re.sub(r"^producers = \[", f'producers = ["{name}", ', text, flags=re.MULTILINE)
        path = self.store.with_name("publishers.toml")
        path.write_text(text)
        self.environ["FUND_LEDGER_PUBLISHERS"] = str(path)

    def consume_args(self, *extra: str, batch_size: int = 50, group: str | None = None) -> list[str]:
        return [sys.executable, "-m", "cli.main", "--log-format", "json", "--log-level", "info", "consume",
                "--topic-prefix", self.prefix, "--group-id", group or group_of(self.prefix), "--batch-size", str(batch_size),
                "--summary-interval", "1", *FAST, *extra]

    def start_consumer(self, *extra: str, faults: str | None = None, log: Path, batch_size: int = 50,
                       group: str | None = None) -> subprocess.Popen[bytes]:
        environ = dict(self.environ)
        if faults:
            environ["FUND_LEDGER_FAULTS"] = faults
        with log.open("ab") as err:
            return subprocess.Popen(self.consume_args(*extra, batch_size=batch_size, group=group), cwd=REPO, env=environ,
                                    stdout=subprocess.PIPE, stderr=err)

    def consume(self, *extra: str, faults: str | None = None, log: Path, batch_size: int = 50, timeout: float = 90) -> int:
        """Run a consumer until it has read everything (or dies of an injected fault)."""
        process = self.start_consumer("--until-caught-up", "--max-seconds", str(timeout - 10), *extra, faults=faults,
                                      log=log, batch_size=batch_size)
        process.communicate(timeout=timeout)
        return process.returncode

    def cli(self, *args: str, timeout: float = 60, role: str = "ledger") -> subprocess.CompletedProcess[str]:
        environ = {**self.environ, **role_settings(role), "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=environ, capture_output=True,
                              text=True, timeout=timeout)

    def publish(self, messages: list[dict[str, Any] | bytes], fallback: str = contract.TOPIC_CLAIMS) -> None:
        """Send messages (dicts, or raw bytes for malformed ones) to their topics, keyed as the
        contract says, each by the service that owns its topic; order is kept per key."""
        records = []
        for message in messages:
            value = message if isinstance(message, bytes) else json.dumps(message).encode()
            topic, key = route_raw(value, self.prefix, self.prefix + fallback)
            records.append((topic, key, value, ()))
        publish_as_owners(self.bootstrap, records)

    def ledger(self) -> Ledger:
        return Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(self.store)})


def books(ledger: Ledger) -> dict[str, Any]:
    """What must be equal between two runs of the same messages: the trial balance, every
    personal account's balance, and how many events of each type (nothing doubled or lost).
    Dead letters are counted by id, not by event (their ids differ between Kafka and a file)."""
    events: Counter[str] = Counter()
    balances: dict[str, int] = {}
    dead_letters = 0
    for _, event in ledger.stored_events():
        name = type(event).__qualname__
        if name == "BusinessRecord.Recorded" and getattr(event, "region", "") == "dead-letters":
            dead_letters += 1
            continue
        events[name] += 1
        if name == "PersonalAccount.Enrolled":
            balances[event.person_id] = 0  # type: ignore[attr-defined]
    for person_id in balances:
        balances[person_id] = ledger.personal_account(REGION, person_id).balance_fen
    return {"trial_balance": ledger.trial_balance(), "balances": balances, "events": dict(events),
            "pooled_fen": ledger.pooled_fund(REGION).balance_fen, "dead_letters": dead_letters}


def store_books(store: Path) -> dict[str, Any]:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store)})
    try:
        return books(ledger)
    finally:
        ledger.close()


# --------------------------------------------------------------------------- scenario
def _envelope(type_name: str, message_id: str, payload: dict[str, Any], producer_name: str) -> dict[str, Any]:
    return {"message_id": message_id, "producer": producer_name, "type": type_name, "schema_version": 1, "region": REGION,
            "occurred_at": "2024-06-01T09:00:00+08:00", "payload": payload}


def scenario(seed: int = 7, people: int = 40, employers: int = 4, months: int = 3, claims: int = 60) -> list[list[dict[str, Any]]]:
    """Three phases, each to be read to its end before the next is published (Kafka does not
    order across topics): enrolments; remittances (order-free: credits commute); claims, each
    person's in order (same key), small enough never to exhaust an account (so order-free too)."""
    rng = random.Random(seed)
    policy = load_policy_file().versions[0]
    population = []
    for index in range(people):
        category = "laid_off" if index % 10 == 9 else ("retiree" if index % 7 == 6 else "employee")
        payer = "RC01" if category == "laid_off" else f"E{index % employers:02d}"
        birth = date(rng.randint(1950, 1960) if category == "retiree" else rng.randint(1965, 2000), rng.randint(1, 12), rng.randint(1, 28))
        wage_fen = rng.randrange(300_000, 1_500_000, 100) if category == "employee" else 0
        population.append((f"P{index:04d}", category, birth, payer, wage_fen))
    persons = [_envelope("person.enrolled", f"hr-{pid}", {"person_id": pid, "category": cat, "birth_date": birth.isoformat(),
                                                          "employer_id": payer, "enrolled_on": "2024-01-01"}, "hr")
               for pid, cat, birth, payer, _ in population]
    remittances = []
    for month in range(1, months + 1):
        period = f"2024-{month:02d}"
        for payer in sorted({p[3] for p in population}):
            lines, total_fen = [], 0
            for pid, cat, birth, member_payer, wage_fen in population:
                if member_payer != payer:
                    continue
                base_fen = laid_off_wage_base_fen(policy) if cat == "laid_off" else wage_fen
                total_fen += contribution_split(policy, cat, age_on(birth, date(2024, month, 1)), base_fen).payable_fen
                lines.append({"person_id": pid, "wage_base_fen": wage_fen} if cat == "employee" else {"person_id": pid})
            remittances.append(_envelope("contribution.remittance", f"tax-{payer}-{period}", {
                "remittance_id": f"{payer}-{period}", "payer_kind": "reemployment_centre" if payer == "RC01" else "employer",
                "payer_id": payer, "period": period, "received_on": f"{period}-15", "declared_total_fen": total_fen,
                "lines": lines}, "tax"))
    claim_messages = []
    for index in range(claims):
        pid = population[rng.randrange(people)][0]
        if index % 6 == 5:
            payload = {"claim_id": f"IP-{index}", "person_id": pid, "hospital_level": rng.choice([1, 2, 3]),
                       "admitted_on": "2024-05-02", "discharged_on": "2024-05-09", "total_cost_fen": rng.randrange(20_000, 200_000)}
            claim_messages.append(_envelope("claim.inpatient", f"his-{index}", payload, "his"))
        else:
            payload = {"claim_id": f"OP-{index}", "person_id": pid, "kind": rng.choice(["outpatient", "pharmacy"]),
                       "on": "2024-05-03", "amount_fen": rng.randrange(100, 2_000)}
            claim_messages.append(_envelope("claim.outpatient", f"his-{index}", payload, "his"))
    return [persons, remittances, claim_messages]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               running: dict[Path, subprocess.Popen[bytes]] | None = None) -> None:
    """Wait for ``predicate``; with ``running`` (each consumer process by its log), fail at once
    if one of them has stopped, with its exit status and its log's tail, rather than time out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for log, process in (running or {}).items():
            if process.poll() is not None:
                raise AssertionError(f"the consumer logging to {log.name} stopped (exit status {process.returncode}) "
                                     f"while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    tails = "".join(f"\n--- {log.name}:\n{log.read_text()[-3000:]}" for log in (running or {}))
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{tails}")


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=timeout)
    return process.returncode
