"""The baselines: what PostgreSQL takes raw, and a ledger built the obvious way.

- ``copy_rate``: the same number of rows, COPY'd into a bare table (psycopg 3 ``cursor.copy``):
  the physical limit of the database for this many lines.
- ``naive_rate``: a tiny eventsourcing application on the same library and the same database,
  one aggregate per person, **one ``save`` per message** (one remittance line = one Kafka
  message), read from Kafka by a plain consumer loop, and the library's ``ProjectionRunner``
  keeping a balance table with **one transaction per event**. End to end, like the real one:
  from the first publish until the runner's view has the last event.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from kafka import KafkaConsumer
from psycopg.sql import SQL, Identifier

from bench.data import Person
from bench.env import Database, kafka_settings
from bench.measure import COPY_ROUNDS
from consumers.kafka_io import KafkaSecurity, admin_client, producer, send_all

NAIVE_POLL_MS = 200
# The naive consumer saves a message at a time with a projection thread beside it: a longer
# session than kafka-python's default, so that a busy loop does not cost it its group; and a
# deadline, so that a consumer that stops receiving fails the run instead of hanging it (seen
# once: joined and assigned, then never fetched from a broker that had run for hours; a fresh
# broker cured it).
NAIVE_SESSION_TIMEOUT_MS = 60_000
NAIVE_STALL_S = 120


def copy_rate(db: Database, people: list[Person], months: int, rounds: int = COPY_ROUNDS) -> tuple[int, list[float]]:
    """(rows, each round's seconds) to COPY one row per remittance line into a fresh bare table."""
    rows = [(f"{p.employer_id}-2024-{m:02d}", p.person_id, f"2024-{m:02d}", p.wage_base_fen,
             p.wage_base_fen * 2 // 100, p.wage_base_fen * 6 // 100) for m in range(1, months + 1) for p in people]
    seconds = []
    with db.connect() as conn:
        for _ in range(rounds):
            conn.execute("DROP TABLE IF EXISTS copy_lines")
            conn.execute("CREATE TABLE copy_lines (remittance_id text, person_id text, period text, "
                         "wage_base_fen bigint, employee_fen bigint, employer_fen bigint)")
            conn.commit()
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(
                    "COPY copy_lines (remittance_id, person_id, period, wage_base_fen, employee_fen, employer_fen) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            seconds.append(time.perf_counter() - started)
            count = conn.execute("SELECT count(*) FROM copy_lines").fetchone()[0]  # type: ignore[index]
            assert count == len(rows), (count, len(rows))
    return len(rows), seconds


# ---------------------------------------------------------------------------- the naive ledger
class NaiveAccount(Aggregate):
    @staticmethod
    def create_id(person_id: str) -> UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"naive/{person_id}")

    @event("Opened")
    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        self.balance_fen = 0

    @event("Credited")
    def credit(self, amount_fen: int, reference: str) -> None:
        self.balance_fen += amount_fen


class NaiveLedger(Application[UUID]):
    name = "NaiveLedger"


class NaiveBalances(PostgresTrackingRecorder):
    """A balance per person, written with the event's tracking record in one transaction."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0}.naive_balances (person_id text PRIMARY KEY, balance_fen bigint NOT NULL)"
        ).format(Identifier(self.datastore.schema)))

    def credit(self, person_id: str, amount_fen: int, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("INSERT INTO {0}.naive_balances VALUES (%s, %s) ON CONFLICT (person_id) DO UPDATE "
                               "SET balance_fen = naive_balances.balance_fen + excluded.balance_fen"
                               ).format(Identifier(self.datastore.schema)), (person_id, amount_fen))
            self._insert_tracking(cursor, tracking)

    def balance_count(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(SQL("SELECT count(*) AS n FROM {0}.naive_balances").format(Identifier(self.datastore.schema)))
            row = cursor.fetchone()
        return int(row["n"])  # type: ignore[index]


class NaiveProjection(Projection[NaiveBalances]):
    name = "naive_projection"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        if isinstance(domain_event, NaiveAccount.Credited):
            self.view.credit(self.person_of(domain_event), domain_event.amount_fen, tracking)
        else:
            self.view.insert_tracking(tracking)

    def person_of(self, domain_event: Any) -> str:
        return str(domain_event.reference).split("/")[1]


def naive_rate(db: Database, people: list[Person], lines: int, bootstrap: str, topic: str) -> tuple[int, float]:
    """(lines, seconds) end to end through the naive ledger: publish ``lines`` one-line messages,
    consume them with one save each, until the runner's view has the last event."""
    env = db.owner_ledger_env()  # a plain eventsourcing application: it creates its own tables
    env.pop("AGGREGATE_CACHE_MAXSIZE", None)
    app = NaiveLedger(env=env)
    try:
        for start in range(0, len(people), 1000):  # setup, untimed: the accounts exist
            app.save(*[NaiveAccount(p.person_id) for p in people[start:start + 1000]])
        setup_head = app.recorder.max_notification_id() or 0
        messages = [json.dumps({"person_id": p.person_id, "amount_fen": p.wage_base_fen // 10,
                                "reference": f"line/{p.person_id}/{n}"}).encode()
                    for n, p in enumerate((people * (lines // len(people) + 1))[:lines])]
        with ProjectionRunner(application_class=NaiveLedger, projection_class=NaiveProjection,
                              view_class=NaiveBalances, env=env) as runner:
            runner.wait(setup_head, timeout=120)  # the runner has caught up with the setup
            operator = KafkaSecurity.from_env(kafka_settings("admin"))  # the baseline's own topic: the operator's
            _create_topic(bootstrap, topic, operator)
            started = time.perf_counter()
            kafka = producer(bootstrap, operator)
            try:
                send_all(kafka, [(topic, None, m, ()) for m in messages])
            finally:
                kafka.close(timeout=10)
            consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic, auto_offset_reset="earliest",
                                     session_timeout_ms=NAIVE_SESSION_TIMEOUT_MS, heartbeat_interval_ms=NAIVE_SESSION_TIMEOUT_MS // 10,
                                     **operator.client_options())
            try:
                done = 0
                last_progress = time.monotonic()
                while done < lines:
                    if time.monotonic() - last_progress > NAIVE_STALL_S:
                        raise RuntimeError(f"the naive consumer received nothing for {NAIVE_STALL_S} s after {done:,} of {lines:,} lines")
                    for records in consumer.poll(timeout_ms=NAIVE_POLL_MS).values():
                        last_progress = time.monotonic()
                        for record in records:
                            message = json.loads(record.value)
                            account = app.repository.get(NaiveAccount.create_id(message["person_id"]))
                            account.credit(message["amount_fen"], message["reference"])
                            app.save(account)
                            done += 1
            finally:
                consumer.close()
            runner.wait(app.recorder.max_notification_id(), timeout=600)
            elapsed_s = time.perf_counter() - started
    finally:
        app.close()
    return lines, elapsed_s


def _create_topic(bootstrap: str, topic: str, operator: KafkaSecurity) -> None:
    from kafka.admin import NewTopic

    admin = admin_client(bootstrap, operator)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
