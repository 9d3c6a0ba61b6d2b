"""``python -m bench.run [--quick]``: the benchmark suite on the project's PostgreSQL and Kafka.

Full sizes by default (about 15 minutes on 2 cores); ``--quick`` for a smoke run (under about
2 minutes). The figures are printed and, for a full run, written to docs/benchmarks.md (a quick
run writes .run/bench/benchmarks-quick.md unless ``--write``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bench import chain, data, encryption, env, ingest, interest, keys, naive, replay, serial, snapshots, transcoder
from bench.measure import Figure, Results, profile, ratio
from bench.report import print_tables, write_document

DOCUMENT = env.REPO / "docs" / "benchmarks.md"
QUICK_DOCUMENT = env.REPO / ".run" / "bench" / "benchmarks-quick.md"

# Targets (issue 14; the peer, Formance Ledger, took 3,080 lines/s on this machine).
INGEST_LINES_PER_S_MIN = 6_500
INGEST_VS_STORED_COPY_MIN = 0.20
INGEST_VS_NAIVE_MIN = 10.0
REPLAY_EVENTS_PER_S_MIN = 20_000
REPLAY_VS_READ_MIN = 0.50  # of reading and decoding the same log, at every size
AS_OF_ONE_PERSON_MS_MAX = 50.0  # one person's balance as of a date, on the largest log
AS_OF_GROWTH_MAX = 2.0  # ... and flat: at most this many times the smallest log's
INTEREST_S_MAX = 60.0
INTEREST_HANG_S_MIN = 60.0
# The consumer's peak RSS over the whole run against its peak once half the run's events were
# saved: twice the events processed may not cost this much more memory. (The first saves of a
# fresh process also load every account and warm its heap up: shown, not judged.)
CONSUMER_GROWTH_MAX = 0.20
CHAIN_MONTHS = 2  # months of remittances in each run of the chain's cost (four runs: two with, two without)
ENCRYPTION_MONTHS = 2  # likewise for the cost of encrypting personal data
TRANSCODER_MONTHS = 4  # the stored JSON by orjson against the library: enrolments and four months
KEYS_PER_PERSON = 50  # the key stores measured with 50 keys a person of the run (a million at full size)


@dataclass(frozen=True)
class Sizes:
    persons: int
    months: int
    naive_lines: int
    interest_accounts: tuple[int, ...]
    query_repeats: int


FULL = Sizes(persons=20_000, months=10, naive_lines=5_000, interest_accounts=(5_000, 10_000, 100_000), query_repeats=3)
QUICK = Sizes(persons=2_000, months=5, naive_lines=1_000, interest_accounts=(1_000, 5_000), query_repeats=2)


def per_round(rates: Iterable[float]) -> str:
    """Each round's rate, in the order run: '188,836, 178,078, 170,285'."""
    return ", ".join(f"{rate:,.0f}" for rate in rates)


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


# ---------------------------------------------------------------------------- ingest
def bench_ingest(sizes: Sizes, results: Results) -> None:
    people = data.persons(sizes.persons)
    lines = sizes.persons * sizes.months
    bootstrap = env.kafka_bootstrap()

    section(f"baseline: COPY of {lines:,} rows into a bare table")
    with env.fresh_database("copy") as db:
        rows, copy_rounds_s = naive.copy_rate(db, people, sizes.months)
    copy_rates = [rows / seconds for seconds in copy_rounds_s]
    copy_lps = statistics.median(copy_rates)
    results.add(Figure("raw COPY of thin rows into a bare table (baseline a)", copy_lps, "rows/s",
                       note=f"{rows:,} rows of six short columns, no index: a floor for any write, not the ledger's rows; "
                            f"median of {len(copy_rounds_s)} rounds: {per_round(copy_rates)} rows/s"))

    section(f"baseline: naive ledger, one save per message, ProjectionRunner ({sizes.naive_lines:,} lines)")
    with env.fresh_database("naive") as db:
        naive_lines, naive_s = naive.naive_rate(db, people, sizes.naive_lines, bootstrap, env.unique_prefix("naive") + "lines")
    naive_lps = naive_lines / naive_s
    results.add(Figure("naive ledger end to end (baseline b)", naive_lps, "lines/s",
                       note=f"subset of {naive_lines:,} lines over {len(people):,} accounts; Kafka -> one save per line -> "
                            "ProjectionRunner, one transaction per event"))

    section(f"end to end through Kafka: {lines:,} lines over {sizes.persons:,} persons")
    prefix = env.unique_prefix("e2e")
    with env.fresh_database("e2e") as db:
        e2e = ingest.kafka_end_to_end(db, people, sizes.months, prefix)
        e2e_lps = e2e["lines"] / e2e["total_s"]
        results.add(Figure("enrolment through Kafka (setup of the end-to-end run)", sizes.persons / e2e["enrol_s"], "messages/s",
                           note="publish + consume, one message per person; projection not included"))
        results.add(Figure("ingest end to end vs raw COPY", e2e_lps, "lines/s", "COPY rows/s", copy_lps, ratio(e2e_lps, copy_lps),
                           note=f"{e2e['messages']:,} remittances of {data.LINES_PER_REMITTANCE} lines; the consumer running, "
                                f"joined {e2e['consumer_start_s']:.1f} s after its start, before the clock; publish "
                                f"{e2e['publish_s']:.1f} s, consumer done at {e2e['consumed_s']:.1f} s, projection at "
                                f"{e2e['total_s']:.1f} s; {e2e['events']:,} events"))
        results.add(Figure("ingest end to end vs naive ledger", e2e_lps, "lines/s", "naive lines/s", naive_lps, ratio(e2e_lps, naive_lps)))
        stored = ingest.copy_stored_rows(db)
        e2e_eps = e2e["events"] / e2e["total_s"]
        results.add(Figure("ingest end to end vs COPY of the rows it stored", e2e_eps, "events/s", "COPY events/s",
                           stored["rows_per_s"], ratio(e2e_eps, stored["rows_per_s"]),
                           note=f"baseline: the {stored['rows']:,} rows of this run's events table ({stored['bytes'] / 2**20:.0f} MiB, "
                                "states and chain hashes included) COPY'd into a table of the same shape and indexes; median "
                                f"of {len(stored['rounds_rows_per_s'])} rounds: {per_round(stored['rounds_rows_per_s'])} events/s"))
        results.details["e2e"] = e2e
        cpu_per_line(e2e, results)
        missed = (e2e_lps < INGEST_LINES_PER_S_MIN or e2e_lps < INGEST_VS_NAIVE_MIN * naive_lps
                  or e2e_eps < INGEST_VS_STORED_COPY_MIN * stored["rows_per_s"])
        if missed:
            section("profile: the consumer on one more month of remittances")
            out = ingest.WORK_DIR / f"{prefix}consumer-profile.txt"
            text = ingest.profile_consumer(db, people, prefix, out, month=sizes.months + 1)
            results.profiles["consumer (fund-ledger consume), one month of remittances in a fresh process (every account read cold)"] = _top(text)
            out.unlink(missing_ok=True)
    results.target(f"ingest >= {INGEST_LINES_PER_S_MIN:,} lines/s end to end", e2e_lps >= INGEST_LINES_PER_S_MIN, f"{e2e_lps:,.0f} lines/s")
    results.target(f"ingest >= {INGEST_VS_NAIVE_MIN:.0f}x the naive ledger", e2e_lps >= INGEST_VS_NAIVE_MIN * naive_lps,
                   f"{e2e_lps / naive_lps:.1f}x ({naive_lps:,.0f} lines/s naive)")
    results.target(f"ingest events/s >= {INGEST_VS_STORED_COPY_MIN:.0%} of COPY of the rows it stored",
                   e2e_eps >= INGEST_VS_STORED_COPY_MIN * stored["rows_per_s"],
                   f"{e2e_eps / stored['rows_per_s']:.1%} ({e2e_eps:,.0f} vs {stored['rows_per_s']:,.0f} events/s)")
    consumer_memory(e2e, results)

    section(f"direct ingest without Kafka (ingest_file): {lines:,} lines")
    with env.fresh_database("direct") as db:
        direct = ingest.direct_ingest(db, people, sizes.months)
        ledger_lps = direct["lines"] / direct["ledger_s"]
        total_lps = direct["lines"] / direct["total_s"]
        results.add(Figure("direct ingest, ledger only (no Kafka, no projection)", ledger_lps, "lines/s", "end to end lines/s", e2e_lps,
                           ratio(ledger_lps, e2e_lps), note=f"{direct['events']:,} events; ratio = how much faster than through Kafka"))
        results.add(Figure("direct ingest + projection caught up", total_lps, "lines/s", "COPY rows/s", copy_lps, ratio(total_lps, copy_lps),
                           note=f"projection {direct['projection_events']:,} events in {direct['projection_s']:.1f} s"))
        if missed:
            section("profile: ingest_file on two more months of remittances, the second profiled (warm)")
            ingest.profile_direct_ingest(db, people, results,
                                         "direct ingest (ingest_file), one warm month of remittances (the month before "
                                         "applied in the same process)", month=sizes.months + 1)
        section("as-of queries")
        bench_queries(db, sizes, results)
        section("the serial point: the stored events saved again, by one writer and by two")
        bench_serial_point(db, stored["rows_per_s"], results)


def cpu_per_line(e2e: dict[str, Any], results: Results) -> None:
    """What a line costs in CPU, every process of the run counted (what a faster clock or more
    processes cannot change), against what the machine's cores give a line at the target rate."""
    cores = os.cpu_count() or 1
    per_line_us = {name: seconds / e2e["lines"] * 1e6 for name, seconds in e2e["cpu_s"].items()}
    total_us = sum(per_line_us.values())
    budget_us = cores * 1e6 / INGEST_LINES_PER_S_MIN
    results.add(Figure("CPU per line end to end, every process", total_us, "us/line",
                       f"{cores} cores at {INGEST_LINES_PER_S_MIN:,} lines/s, us/line", budget_us, ratio(total_us, budget_us),
                       note="; ".join(f"{name} {us:.0f}" for name, us in per_line_us.items())
                            + f": at most {cores * 1e6 / total_us:,.0f} lines/s on {cores} cores, were every process busy all the time"))


def bench_serial_point(db: env.Database, copy_eps: float, results: Results) -> None:
    """Events a second into one events table through the ledger's recorder (``bench/serial.py``)."""
    point = serial.measure(db)
    results.details["serial_point"] = point
    note = f"{point['events']:,} stored events saved again into a fresh database, {point['save_events']:,} a save"
    results.add(Figure("serial point: one events table, one writer", point["one_writer_eps"], "events/s",
                       "COPY of the end-to-end run's rows, events/s", copy_eps, ratio(point["one_writer_eps"], copy_eps),
                       note=note + "; the recorder's lock, chain and insert, no rules"))
    results.add(Figure("serial point: one events table, two writers side by side", point["two_writers_eps"], "events/s",
                       "one writer, events/s", point["one_writer_eps"], ratio(point["two_writers_eps"], point["one_writer_eps"]),
                       note=note + "; each writer half of the accounts: the table's lock takes one save at a time"))


def consumer_memory(e2e: dict[str, Any], results: Results) -> None:
    """Does the consumer's memory grow with the events it processed? Its high-water mark over the
    whole run against its high-water mark once half the run's events were saved: two peaks, each
    with whatever spike fell between two samples (sampled RSS misses a save's spike). The first
    month's high-water mark is shown: a fresh process loads every account and warms its heap up
    over its first saves. The first sample past a point may include up to one tick (0.25 s) of
    the work after it."""
    rows = [(rss, progress, peak) for (_, rss, progress), peak in zip(e2e["consumer_samples"], e2e["consumer_peaks_so_far_mib"], strict=True)
            if progress is not None]
    events, months = e2e["events"], max(1, e2e["lines"] // e2e["persons"])

    def peak_once(share: float) -> float | None:
        return next((peak for _, progress, peak in rows if progress >= events * share), None)

    month_peak, half_peak = peak_once(1 / months), peak_once(0.5)
    at_end = rows[-1][0] if rows else None
    peak = e2e["consumer_peak_rss_mib"]
    lines = results.details.setdefault("memory_lines", [])
    lines += ["| process | peak once the first month was saved | peak once half the events were saved | at the end | peak | "
              "growth over the second half |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines.append(f"| consumer, enrolment of {e2e['persons']:,} persons | - | - | - | {e2e['enrol_peak_rss_mib']:.0f} MiB | - |")
    growth = (peak / half_peak - 1) if half_peak else None
    lines.append(f"| consumer, {e2e['lines']:,} remittance lines over {months} months ({events:,} events) | {month_peak or 0:.0f} MiB | "
                 f"{half_peak:.0f} MiB | {at_end or 0:.0f} MiB | {peak:.0f} MiB | {growth:+.0%} |"
                 if growth is not None and half_peak is not None else
                 f"| consumer, {e2e['lines']:,} lines | (too fast to sample) | - | - | {peak:.0f} MiB | - |")
    results.details["consumer_growth"] = growth
    results.target(f"consumer memory does not grow with events (the run's peak < {CONSUMER_GROWTH_MAX:.0%} over its peak at half the events)",
                   growth is not None and growth < CONSUMER_GROWTH_MAX,
                   f"peak {half_peak or 0:.0f} MiB once half the events were saved -> {peak:.0f} MiB over the run"
                   + (f" ({growth:+.0%}); {month_peak or 0:.0f} MiB once the first month was saved" if growth is not None else ""))


def _median_s(repeats: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_queries(db: env.Database, sizes: Sizes, results: Results) -> None:
    from projections.projector import Projector
    from projections.reports import Filters, as_of_report, run_report
    from projections.store import open_store

    ledger = ingest.open_bench_ledger(db)
    store = open_store(ledger)
    try:
        Projector(ledger, store).catch_up()
        events = ledger.recorder.max_notification_id() or 0
        person = data.person(sizes.persons // 2).person_id
        day = date(data.YEAR, 3, 31)
        balance = Filters(region=data.REGION, person=person)
        monthly = Filters(region=data.REGION, year=data.YEAR, period="month")

        sources: dict[str, str] = {}

        def as_of(name: str, filters: Filters) -> None:
            # The path `fund-ledger report NAME --as-of DAY` takes: the projection tables where the
            # report can be served from them, else a fold of the events up to the day.
            sources[name] = as_of_report(ledger, store, name, day, filters)[1]

        fund_balances = Filters(region=data.REGION)
        for label, name, filters in (("balance of one person", "personal", balance), ("fund balances", "balances", fund_balances),
                                     ("monthly income report", "income", monthly)):
            live_s = _median_s(sizes.query_repeats * 3, lambda n=name, f=filters: run_report(n, store, f))
            as_of_s = _median_s(sizes.query_repeats, lambda n=name, f=filters: as_of(n, f))
            how = ("from the projection tables (daily flows)" if sources[name] == "tables"
                   else f"folds the log ({events:,} events) into an in-memory store per query")
            results.add(Figure(f"as-of query: {label} (as of {day})", as_of_s * 1000, "ms", "live-table query ms", live_s * 1000,
                               ratio(as_of_s, live_s), note=f"median of {sizes.query_repeats}; {how}"))
    finally:
        store.close()
        ledger.close()


# ---------------------------------------------------------------------------- interest and replay
def bench_interest_and_replay(sizes: Sizes, results: Results) -> None:
    largest = max(sizes.interest_accounts)
    replays: dict[int, dict[str, Any]] = {}
    interest_s: dict[int, float | None] = {}
    hung_at: int | None = None
    failed_at: int | None = None
    lifted_s: dict[int, float] = {}
    previous: tuple[int, float] | None = None
    for count in sizes.interest_accounts:
        section(f"year-end interest over {count:,} accounts")
        with env.fresh_database(f"interest{count}") as db:
            setup = interest.set_up(db, count)
            print(f"  setup: {setup['events_before']:,} events in {setup['setup_s']:.1f} s", flush=True)
            env.settle(db)  # each timed phase below starts on a settled server (bench.env.settle)
            events, read_s = interest.read_log(db)
            posted = None
            if hung_at is None:
                # A hang is declared at 10x the time the smaller size would take at the same rate.
                timeout_s = max(INTEREST_HANG_S_MIN, 10 * previous[1] * count / previous[0]) if previous else INTEREST_HANG_S_MIN * 2
                try:
                    posted = interest.post_interest_in_subprocess(db, timeout_s)
                except interest.InterestFailed as error:
                    failed_at = count
                    interest_s[count] = None
                    results.details.setdefault("interest_failures", []).append(f"{count:,} accounts: {error}")
                    results.add(Figure(f"post_interest, {count:,} accounts", 0, "s (failed)", note=f"failed: {error}"))
                    # What the computation itself costs, with the library's 5 s idle-in-transaction
                    # limit lifted (not the default: a diagnosis, not the figure).
                    try:
                        lifted = interest.post_interest_in_subprocess(
                            db, timeout_s, {"POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "600"})
                    except interest.InterestFailed:
                        lifted = None
                    if lifted is not None:
                        lifted_s[count] = lifted["interest_s"]
                        results.add(Figure(f"post_interest, {count:,} accounts, idle-in-transaction limit lifted", lifted["interest_s"], "s",
                                           "one read of the log, s", read_s, ratio(lifted["interest_s"], read_s),
                                           note=f"POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT=600; peak RSS {lifted['peak_rss_mib']:.0f} MiB"))
                    posted = None
                else:
                    if posted is None:
                        hung_at = count
                        interest_s[count] = None
                        results.add(Figure(f"post_interest, {count:,} accounts", timeout_s, "s (killed)", note=(
                            f"did not finish in {timeout_s:.0f} s")))
                if posted is not None:
                    assert posted["outcome"]["accounts_credited"] == count, posted["outcome"]
                    interest_s[count] = posted["interest_s"]
                    previous = (count, posted["interest_s"])
                    results.add(Figure(f"post_interest, {count:,} accounts", posted["interest_s"], "s", "one read of the log, s", read_s,
                                       ratio(posted["interest_s"], read_s),
                                       note=f"{count / posted['interest_s']:,.0f} accounts/s; fresh process, cold cache; "
                                            f"log of {events:,} events; peak RSS {posted['peak_rss_mib']:.0f} MiB"))
            else:
                interest_s[count] = None
                results.add(Figure(f"post_interest, {count:,} accounts", 0, "s (not run)",
                                   note=f"not run: {hung_at:,} accounts already hung (one save of every account's event)"))
            events = ledger_events(db)
            section(f"replay of {events:,} events ({count:,} accounts)")
            env.settle(db)
            replayed = replay.replay_in_subprocess(db)
            replays[count] = replayed
            replay_eps = replayed["events"] / replayed["elapsed_s"]
            env.settle(db)
            events_read, read_s = interest.read_log(db)
            read_eps = events_read / read_s
            replayed["read_eps"] = read_eps
            results.add(Figure(f"replay, {count:,} accounts", replay_eps, "events/s", "log read + decode events/s", read_eps,
                               ratio(replay_eps, read_eps), note=f"{replayed['events']:,} events into fresh tables, "
                                                                 f"{replayed['batches']} batches, {replayed['workers']} processes"))
            if count == largest and replayed["workers"] > 1:
                alone = replay.replay_in_subprocess(db, workers=1)
                alone_eps = alone["events"] / alone["elapsed_s"]
                results.add(Figure(f"replay in {replayed['workers']} processes, {count:,} accounts", replay_eps, "events/s",
                                   "the same in one process, events/s", alone_eps, ratio(replay_eps, alone_eps),
                                   note=f"REPLAY_WORKERS={replayed['workers']} against 1; peak RSS {replayed['peak_rss_mib']:.0f} "
                                        f"against {alone['peak_rss_mib']:.0f} MiB (every process)"))
            if replayed.get("as_of_ms") is not None:
                smallest = replays[min(replays)]
                results.add(Figure(f"as-of: one person's balance, {count:,} accounts", replayed["as_of_ms"], "ms",
                                   f"the same at {min(replays):,} accounts, ms", smallest["as_of_ms"],
                                   ratio(replayed["as_of_ms"], smallest["as_of_ms"]),
                                   note=f"median of {replay.AS_OF_PEOPLE} people as of {replay.AS_OF_DAY}, from the tables the replay "
                                        f"built; log of {replayed['events']:,} events"))
            if count == min(sizes.interest_accounts):
                small_db_profiles(db, results, count)
    largest_replay = replays[largest]
    replay_eps = largest_replay["events"] / largest_replay["elapsed_s"]
    results.target(f"replay >= {REPLAY_EVENTS_PER_S_MIN:,} events/s", replay_eps >= REPLAY_EVENTS_PER_S_MIN,
                   f"{replay_eps:,.0f} events/s over {largest_replay['events']:,} events")
    slowest = min(replays.values(), key=lambda r: r["events"] / r["elapsed_s"] / r["read_eps"])
    results.target(f"replay >= {REPLAY_VS_READ_MIN:.0%} of reading and decoding the same log, at every size",
                   all(r["events"] / r["elapsed_s"] >= REPLAY_VS_READ_MIN * r["read_eps"] for r in replays.values()),
                   ", ".join(f"{r['events'] / r['elapsed_s'] / r['read_eps']:.0%} at {r['events']:,} events" for r in replays.values())
                   + f" (lowest {slowest['events'] / slowest['elapsed_s'] / slowest['read_eps']:.0%})")
    as_of_ms = {count: r["as_of_ms"] for count, r in replays.items() if r.get("as_of_ms") is not None}
    if as_of_ms:
        small_ms, large_ms = as_of_ms[min(as_of_ms)], as_of_ms[max(as_of_ms)]
        results.target(f"one person as of a date <= {AS_OF_ONE_PERSON_MS_MAX:.0f} ms on the largest log, "
                       f"and flat (<= {AS_OF_GROWTH_MAX:.0f}x the smallest log's)",
                       large_ms <= AS_OF_ONE_PERSON_MS_MAX and large_ms <= AS_OF_GROWTH_MAX * small_ms,
                       f"{large_ms:.1f} ms over {replays[max(as_of_ms)]['events']:,} events, {small_ms:.1f} ms over "
                       f"{replays[min(as_of_ms)]['events']:,}")
    done = interest_s.get(largest)
    results.target(f"year-end interest over {largest:,} accounts < {INTEREST_S_MAX:.0f} s", done is not None and done < INTEREST_S_MAX,
                   f"{done:.1f} s" if done is not None else
                   (f"failed at {failed_at:,} accounts" + (f" ({lifted_s[failed_at]:.1f} s with the idle-in-transaction limit lifted)"
                                                            if failed_at in lifted_s else "")) if failed_at else
                   f"did not complete: hangs from {hung_at:,} accounts" + (f"; {previous[0]:,} accounts took {previous[1]:.1f} s "
                   f"(linear: {previous[1] * largest / previous[0]:.0f} s for {largest:,})" if previous else ""))
    lines = results.details.setdefault("memory_lines", [])
    lines += ["", "| replay (subprocess) | events | peak RSS |", "| --- | --- | --- |"]
    lines += [f"| {count:,} accounts | {r['events']:,} | {r['peak_rss_mib']:.0f} MiB |" for count, r in sorted(replays.items())]
    small, large = replays[min(replays)], replays[largest]
    results.add(Figure("replay peak RSS growth", large["peak_rss_mib"], "MiB", f"peak RSS at {min(replays):,} accounts, MiB",
                       small["peak_rss_mib"], ratio(large["peak_rss_mib"], small["peak_rss_mib"]),
                       note=f"{small['events']:,} -> {large['events']:,} events"))


def ledger_events(db: env.Database) -> int:
    with db.connect() as conn:
        return int(conn.execute("SELECT count(*) FROM fundledger_events").fetchone()[0])  # type: ignore[index]


def small_db_profiles(db: env.Database, results: Results, count: int) -> None:
    """Profiles on the smaller database (run always: cheap, and they explain the large figures)."""
    from ledger.application import Ledger
    from ledger.commands import PostInterest
    from projections.projector import Projector
    from projections.store import open_store

    section(f"profiles on {count:,} accounts")
    ledger = Ledger(env=db.ledger_env())
    store = open_store(ledger)
    try:
        store.drop_tables("bench_profile_")
        projector = Projector(ledger, store, prefix="bench_profile_")
        profile(f"replay (Projector.catch_up), {count:,} accounts", results, projector.catch_up)
        store.drop_tables("bench_profile_")
        # post_interest again for the next year over the same accounts, cold cache.
        ledger.close()
        ledger = Ledger(env=db.ledger_env())
        profile(f"post_interest, {count:,} accounts (the following year, cold cache)", results,
                lambda: ledger.post_interest(PostInterest(data.REGION, data.YEAR + 1)))
    finally:
        store.close()
        ledger.close()


def _top(text: str, lines: int = 70) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[:lines])


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md even with --quick")
    parser.add_argument("--only", choices=["ingest", "interest", "chain", "encryption", "transcoder", "keys", "snapshots"], help="run one group only")
    args = parser.parse_args(argv)

    from cli.logs import configure_logging
    configure_logging("auto", "warning")
    sizes = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    leftovers = env.drop_leftover_databases()
    if leftovers:
        print(f"dropped {len(leftovers)} databases left by an earlier run")
    machine = env.machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()), flush=True)
    started = time.perf_counter()
    results = Results()
    if args.only in (None, "ingest"):
        bench_ingest(sizes, results)
    if args.only in (None, "interest"):
        bench_interest_and_replay(sizes, results)
    if args.only in (None, "chain"):
        section(f"the hash chain's cost: direct ingest of {sizes.persons * CHAIN_MONTHS:,} lines and replay, with and without")
        chain.bench_chain(sizes.persons, CHAIN_MONTHS, results)
    if args.only in (None, "encryption"):
        section(f"personal data encrypted: direct ingest of {sizes.persons:,} enrolments and {sizes.persons * ENCRYPTION_MONTHS:,} "
                "remittance lines, with and without")
        encryption.bench_encryption(sizes.persons, ENCRYPTION_MONTHS, results)
    if args.only in (None, "transcoder"):
        section(f"the stored JSON by orjson: {sizes.persons:,} enrolments and {TRANSCODER_MONTHS} months of remittances, "
                "decoded, encoded and replayed with each transcoder")
        transcoder.bench_transcoder(sizes.persons, TRANSCODER_MONTHS, results)
    if args.only in (None, "keys"):
        count = sizes.persons * KEYS_PER_PERSON
        section(f"the keys of personal data: a new process reading {keys.READS:,} of {count:,} keys, key database and key file")
        keys.bench_keys(count, results)
    if args.only in (None, "snapshots"):
        section(f"personal-account snapshots: {sizes.persons:,} accounts through a year of remittances, then loaded by a fresh "
                "process from their snapshots and from every event")
        snapshots.bench_snapshots(sizes.persons, results)
    elapsed_s = time.perf_counter() - started
    print_tables(results)
    # A quick or partial (--only) run never replaces the full run's figures unless --write.
    path = DOCUMENT if ((not args.quick and args.only is None) or args.write) else QUICK_DOCUMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    write_document(path, results, machine, mode, elapsed_s)
    print(f"\nwritten to {Path(path).relative_to(env.REPO)} ({elapsed_s / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
