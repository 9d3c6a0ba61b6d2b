"""What encrypting personal data costs (issue 13): direct ingest (``ingest_file``, no Kafka) with
the ledger's mapper (``adapters.crypto``: personal fields sealed with AES-256-GCM under each
person's key from a key file, the keys a save makes written and synced before its events) against
the library's plain mapper, in the same run on the same data.

- Enrolment, timed: every event has three sealed fields and its message record a sealed
  fingerprint, and every person a new key.
- Remittances, timed: the contribution events hold no personal field, but every account read
  (the first month reads them all from the store) opens its sealed fields.

Two rounds each, alternated; the faster of each kept.
"""

from __future__ import annotations

import time
from pathlib import Path

from eventsourcing.application import Application
from eventsourcing.persistence import EventStore, Mapper

from adapters.crypto import TwoStepEventStore
from bench import data, env
from bench.ingest import DIRECT_BATCH, WORK_DIR
from bench.measure import Figure, Results, ratio
from consumers.ingest import ingest_file
from ledger.application import Ledger
from ledger.policy import load_policy_file

ROUNDS = 2


class PlainLedger(Ledger):
    """The ledger with the library's mapper: personal fields stored as they are."""

    name = "FundLedger"  # the same tables (the library names them after the application)

    def construct_mapper(self) -> Mapper:  # type: ignore[type-arg]
        return Application.construct_mapper(self)

    def construct_event_store(self) -> EventStore:  # type: ignore[type-arg]
        return TwoStepEventStore(self.mapper, self.recorder)  # the library's store, its save in the ledger's two steps


def _ingest(ledger: Ledger, enrol: Path, remit: Path) -> tuple[float, float, int, int]:
    """(enrolment seconds, remittance seconds, enrolment events, remittance events)."""
    ledger.open_region(load_policy_file())
    started = time.perf_counter()
    enrolled = ingest_file(ledger, enrol, batch_size=DIRECT_BATCH, dead_letter_file=None)
    enrol_s = time.perf_counter() - started
    started = time.perf_counter()
    remitted = ingest_file(ledger, remit, batch_size=DIRECT_BATCH, dead_letter_file=None)
    remit_s = time.perf_counter() - started
    assert enrolled.dead_letters == remitted.dead_letters == 0, (enrolled.as_dict(), remitted.as_dict())
    return enrol_s, remit_s, enrolled.events, remitted.events


def bench_encryption(persons: int, months: int, results: Results) -> None:
    people = data.persons(persons)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    enrol = data.write_jsonl(WORK_DIR / "encryption-enrol.jsonl", data.enrolment_messages(people))
    remit = data.write_jsonl(WORK_DIR / "encryption-remit.jsonl", data.remittance_messages(people, months))
    timings: dict[bool, list[tuple[float, float, int, int]]] = {True: [], False: []}
    try:
        for _ in range(ROUNDS):
            for encrypted in (True, False):
                with env.fresh_database("crypto" if encrypted else "plain") as db:
                    ledger = (Ledger if encrypted else PlainLedger)(env=db.ledger_env())
                    try:
                        timings[encrypted].append(_ingest(ledger, enrol, remit))
                    finally:
                        ledger.close()
    finally:
        enrol.unlink(missing_ok=True)
        remit.unlink(missing_ok=True)
    lines = persons * months
    best = {encrypted: (min(t[0] for t in runs), min(t[1] for t in runs)) for encrypted, runs in timings.items()}
    enrol_events, remit_events = timings[True][0][2], timings[True][0][3]
    (enrol_on, remit_on), (enrol_off, remit_off) = best[True], best[False]
    results.add(Figure("enrolment with personal data encrypted", persons / enrol_on, "messages/s", "stored as they are, messages/s",
                       persons / enrol_off, ratio(persons / enrol_on, persons / enrol_off),
                       note=f"{persons:,} enrolments, {enrol_events:,} events: birth date, employer and pension sealed (AES-256-GCM), "
                            f"a key made per person and synced before the save; best of {ROUNDS}: {enrol_on:.1f} s with, {enrol_off:.1f} s without"))
    results.add(Figure("remittances with personal data encrypted", lines / remit_on, "lines/s", "stored as they are, lines/s",
                       lines / remit_off, ratio(lines / remit_on, lines / remit_off),
                       note=f"{lines:,} lines, {remit_events:,} events: nothing to seal, every account's sealed fields opened when read; "
                            f"best of {ROUNDS}: {remit_on:.1f} s with, {remit_off:.1f} s without"))
