"""What the hash chain costs (issue 11): direct ingest (``ingest_file``, no Kafka) and replay, each
against the same work without the chain, in the same run on the same data.

- Ingest with the chain: the ledger as shipped, as the application role (``adapters.postgres_recorder``:
  lock through the owner's function, head and positions in one round trip, INSERT with the
  hashes). Without: the recorder as it was before the chain (lock, notify, INSERT: the library's
  statements without pipeline mode), on a database whose tables it creates itself (as the owner:
  it needs the table lock). Two rounds each, alternated; the faster of each kept.
- Replay: rebuilding the projections from position 0 (``Projector.catch_up`` into fresh tables),
  then the same plus the chain recomputed from position 0 (``adapters.chain.check_whole_chain``,
  what ``fund-ledger replay`` does first).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ProcessRecorder, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder

from bench import data, env
from bench.ingest import DIRECT_BATCH, WORK_DIR
from bench.measure import Figure, Results, ratio
from consumers.ingest import ingest_file
from ledger.application import Ledger
from ledger.policy import load_policy_file

ROUNDS = 2
REPLAY_PREFIX = "bench_chain_"


class UnchainedPostgresProcessRecorder(PostgresProcessRecorder):
    """The recorder before the chain: the same statements as the library, without pipeline mode."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        rows = [self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events]
        with self.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)
            if not stored_events:
                return []
            self._lock_table(cursor)
            self._notify_channel(cursor)
            cursor.execute(query=self.insert_events_statement, params=(rows,))
            return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)


class UnchainedLedger(Ledger):
    def construct_recorder(self) -> ProcessRecorder:
        factory: Any = self.factory
        recorder = UnchainedPostgresProcessRecorder(factory.datastore, events_table_name="fundledger_events",
                                                    tracking_table_name="fundledger_tracking")
        recorder.create_table()
        return recorder


def _ingest(ledger: Ledger, people: list[data.Person], months: int, label: str) -> tuple[float, int]:
    """Enrol (untimed), then the remittances: (seconds, events)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    enrol = data.write_jsonl(WORK_DIR / f"chain-{label}-enrol.jsonl", data.enrolment_messages(people))
    remit = data.write_jsonl(WORK_DIR / f"chain-{label}-remit.jsonl", data.remittance_messages(people, months))
    try:
        ledger.open_region(load_policy_file())
        # Each save written before the next batch (save_behind=False), with either recorder: the
        # library's does not say it writes from any thread, and the figure is the recorders' cost.
        ingest_file(ledger, enrol, dead_letter_file=None, save_behind=False)
        started = time.perf_counter()
        report = ingest_file(ledger, remit, batch_size=DIRECT_BATCH, dead_letter_file=None, save_behind=False)
        elapsed_s = time.perf_counter() - started
        assert report.dead_letters == 0, report.as_dict()
        return elapsed_s, report.events
    finally:
        enrol.unlink(missing_ok=True)
        remit.unlink(missing_ok=True)


def _replay(ledger: Ledger) -> tuple[float, float, int]:
    """(projection rebuild seconds, chain check seconds, events)."""
    from adapters.chain import check_whole_chain
    from projections.projector import Projector
    from projections.store import open_store

    store = open_store(ledger)
    try:
        store.drop_tables(REPLAY_PREFIX)
        caught = Projector(ledger, store, prefix=REPLAY_PREFIX).catch_up()
        store.drop_tables(REPLAY_PREFIX)
        started = time.perf_counter()
        checked = check_whole_chain(ledger.recorder)
        chain_s = time.perf_counter() - started
        assert checked is not None and checked.intact
        return caught.elapsed_s, chain_s, caught.events
    finally:
        store.close()


def bench_chain(persons: int, months: int, results: Results) -> None:
    people = data.persons(persons)
    lines = persons * months
    chained_s: list[float] = []
    plain_s: list[float] = []
    replay: tuple[float, float, int] | None = None
    for round_number in range(ROUNDS):
        with env.fresh_database("chain") as db:
            ledger = Ledger(env=db.ledger_env())
            try:
                seconds, events = _ingest(ledger, people, months, f"on-{round_number}")
                chained_s.append(seconds)
                if replay is None:
                    replay = _replay(ledger)
            finally:
                ledger.close()
        with env.fresh_database("nochain", migrate=False) as db:
            ledger = UnchainedLedger(env=db.owner_ledger_env())
            try:
                seconds, _ = _ingest(ledger, people, months, f"off-{round_number}")
                plain_s.append(seconds)
            finally:
                ledger.close()
    chained_lps, plain_lps = lines / min(chained_s), lines / min(plain_s)
    results.add(Figure("direct ingest with the hash chain", chained_lps, "lines/s", "without the chain, lines/s", plain_lps,
                       ratio(chained_lps, plain_lps),
                       note=f"{lines:,} lines, {events:,} events; best of {ROUNDS} rounds each: "
                            "the recorder without the chain is the one before it (4 round trips a save), the chained one takes 2; "
                            f"{', '.join(f'{s:.1f}' for s in chained_s)} s with, {', '.join(f'{s:.1f}' for s in plain_s)} s without"))
    assert replay is not None
    projection_s, chain_s, replayed = replay
    results.add(Figure("replay with the chain checked", replayed / (projection_s + chain_s), "events/s", "replay alone, events/s",
                       replayed / projection_s, ratio(projection_s / (projection_s + chain_s), 1.0),
                       note=f"{replayed:,} events: projections rebuilt in {projection_s:.1f} s, chain recomputed from position 0 "
                            f"in {chain_s:.1f} s ({replayed / chain_s:,.0f} events/s)"))
