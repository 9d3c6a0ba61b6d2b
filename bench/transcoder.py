"""What the stored JSON's transcoder costs (issue 14): ``adapters.transcoder.OrjsonTranscoder``
(the ledger's) against the library's ``JSONTranscoder``, on the same stored events of one run.

- Decoding and encoding: every stored state of a ledger of enrolments and months of remittances
  (direct ingest), decoded, and the decoded states encoded again, by each transcoder (the bytes
  checked equal). Rounds alternated; the fastest of each kept.
- A replay in one process (``projections.replay.rebuild``, one worker) with each, alternated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import JSONTranscoder

from adapters.transcoder import OrjsonTranscoder
from bench import data, env
from bench.ingest import DIRECT_BATCH, WORK_DIR
from bench.measure import Figure, Results, ratio
from consumers.ingest import ingest_file
from ledger.application import Ledger
from ledger.policy import load_policy_file
from projections.replay import rebuild
from projections.store import open_store

ROUNDS = 3
TOPICS = {"library": "eventsourcing.persistence:JSONTranscoder", "orjson": "adapters.transcoder:OrjsonTranscoder"}


def _cpu_us_each(action: Callable[[], Any], count: int) -> float:
    started = time.process_time()
    action()
    return (time.process_time() - started) / count * 1e6


def _build(db: env.Database, persons: int, months: int) -> None:
    people = data.persons(persons)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    enrol = data.write_jsonl(WORK_DIR / "transcoder-enrol.jsonl", data.enrolment_messages(people))
    remit = data.write_jsonl(WORK_DIR / "transcoder-remit.jsonl", data.remittance_messages(people, months))
    ledger = Ledger(env=db.ledger_env())
    try:
        ledger.open_region(load_policy_file())
        for path in (enrol, remit):
            report = ingest_file(ledger, path, batch_size=DIRECT_BATCH, dead_letter_file=None)
            assert report.dead_letters == 0, report.as_dict()
    finally:
        ledger.close()
        enrol.unlink(missing_ok=True)
        remit.unlink(missing_ok=True)


def _codec_times(db: env.Database) -> tuple[dict[str, float], dict[str, float], int]:
    """Fastest decode and encode, microseconds a state, by transcoder; and the number of states."""
    ledger = Ledger(env=db.ledger_env())
    try:
        states = [n.state for n in ledger.recorder.select_notifications(start=1, limit=10**9)]
        codecs: dict[str, JSONTranscoder] = {"library": JSONTranscoder(), "orjson": OrjsonTranscoder()}
        for codec in codecs.values():
            ledger.register_transcodings(codec)
    finally:
        ledger.close()
    decoded = [codecs["library"].decode(state) for state in states]
    assert [codecs["orjson"].decode(state) for state in states] == decoded, "orjson read other values than the library"
    assert [codecs["orjson"].encode(value) for value in decoded] == states, "orjson wrote other bytes than the library"
    decode: dict[str, list[float]] = {name: [] for name in codecs}
    encode: dict[str, list[float]] = {name: [] for name in codecs}
    for _ in range(ROUNDS):
        for name, codec in codecs.items():
            decode[name].append(_cpu_us_each(lambda codec=codec: [codec.decode(state) for state in states], len(states)))
            encode[name].append(_cpu_us_each(lambda codec=codec: [codec.encode(value) for value in decoded], len(states)))
    return {n: min(v) for n, v in decode.items()}, {n: min(v) for n, v in encode.items()}, len(states)


def _replay_rates(db: env.Database) -> tuple[dict[str, float], int]:
    rates: dict[str, list[float]] = {name: [] for name in TOPICS}
    events = 0
    for _ in range(ROUNDS):
        for name, topic in TOPICS.items():
            ledger = Ledger(env={**db.ledger_env(), "TRANSCODER_TOPIC": topic})
            store = open_store(ledger)
            try:
                store.drop_tables("bench_codec_")
                report = rebuild(ledger, store, "bench_codec_", workers=1)
                rates[name].append(report.events_per_s)
                events = report.events
                store.drop_tables("bench_codec_")
            finally:
                store.close()
                ledger.close()
    return {n: max(v) for n, v in rates.items()}, events


def bench_transcoder(persons: int, months: int, results: Results) -> None:
    with env.fresh_database("transcoder") as db:
        _build(db, persons, months)
        decode, encode, states = _codec_times(db)
        replay, events = _replay_rates(db)
    results.add(Figure("decoding stored states with orjson", decode["orjson"], "us/state", "the library's transcoder, us/state",
                       decode["library"], ratio(decode["orjson"], decode["library"]),
                       note=f"{states:,} states ({persons:,} enrolments, {months} months of remittances); CPU, fastest of {ROUNDS} "
                            "alternated; the same values read"))
    results.add(Figure("encoding states with orjson", encode["orjson"], "us/state", "the library's transcoder, us/state",
                       encode["library"], ratio(encode["orjson"], encode["library"]),
                       note=f"the {states:,} decoded states written again; the same bytes as the library's (checked)"))
    results.add(Figure("replay in one process with orjson", replay["orjson"], "events/s", "the library's transcoder, events/s",
                       replay["library"], ratio(replay["orjson"], replay["library"]),
                       note=f"{events:,} events, projections.replay.rebuild with one worker; best of {ROUNDS} alternated"))
