"""Contribution lines through the ledger: end to end through Kafka, and directly from a file.

End to end: the persons are enrolled first (published and consumed, timed on its own), then
``months`` x persons remittance lines, ~200 per message, are published with the project's
publisher (``fund-ledger publish``) and consumed by the project's consumer, a subprocess whose RSS
is sampled, already running as a service runs: started before the publish (``fund-ledger consume
--until-messages``), joined to its group before the clock starts (its start-up is timed on its
own), while this process keeps the balance projection up to date (the batched ``Projector``).
The clock runs from the start of the publish until the projection holds the last event.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import data
from bench.env import REPO, Database, kafka_bootstrap, kafka_broker_pid, kafka_settings, postgres_server_pid
from bench.measure import COPY_ROUNDS, ChildRun, cpu_s, run_child
from consumers.ingest import ingest_file
from ledger.application import Ledger
from ledger.policy import load_policy_file
from projections.projector import FOLLOW_NICENESS, Projector, yield_cpu
from projections.store import open_store

# The command line as ``python -m cli.main`` (the same as the ``fund-ledger`` script, which an
# editable install may not have created).
FUND_LEDGER = [sys.executable, "-m", "cli.main"]
PYINSTRUMENT = [sys.executable, "-m", "pyinstrument"]
WORK_DIR = REPO / ".run" / "bench"
# Messages per transaction: the CLI's default (500). A poll of a partition holds ~100 remittances
# (the 1 MiB fetch limit), ~20,000 events in one save; the library's pipelined insert hung on such
# saves (psycopg#685), adapters/postgres_recorder.py writes them without pipeline mode.
DIRECT_BATCH = 500
CONSUMER_BATCH = 500


def open_bench_ledger(db: Database) -> Ledger:
    ledger = Ledger(env=db.ledger_env())
    ledger.open_region(load_policy_file())
    return ledger


class BackgroundProjector:
    """Keeps the live projection caught up in a thread while something else writes the log, at the
    CPU priority of ``fund-ledger project --follow`` (below the consumer's)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.projector = Projector(ledger, open_store(ledger))
        self.finishing = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackgroundProjector:
        self.thread.start()
        return self

    def _run(self) -> None:
        yield_cpu(FOLLOW_NICENESS)  # as ``fund-ledger project --follow`` does: this thread only
        try:
            while True:
                result = self.projector.catch_up()
                if self.finishing.is_set() and self.projector.position >= self.projector.head():
                    return
                if not result.events:
                    time.sleep(0.05)
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self) -> int:
        """Wait until the projection has every event written so far; its position."""
        self.finishing.set()
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.projector.position

    def __exit__(self, *exc: object) -> None:
        self.finishing.set()
        self.thread.join(timeout=600)


def child_env(db: Database, role: str = "ledger") -> dict[str, str]:
    """A child's environment: the database, and the Kafka credentials of ``role``."""
    return {**os.environ, **db.environ, **kafka_settings(role), "PYTHONPATH": str(REPO), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap()}


def publish(db: Database, path: Path, prefix: str) -> ChildRun:
    """As the operator (a file of enrolments or remittances: one service's each; the admin may
    write every topic, and a publisher's own principal is no faster)."""
    run = run_child([*FUND_LEDGER, "publish", str(path), "--topic-prefix", prefix], child_env(db, "admin"))
    if run.returncode != 0:
        raise RuntimeError(f"publish failed: {run.stdout[-2000:]} {run.stderr[-2000:]}")
    return run


class RunningConsumer:
    """``fund-ledger consume --until-messages`` in a thread of this process, started ahead of the
    publish; ``wait_joined`` returns once it has its partitions."""

    def __init__(self, db: Database, prefix: str, messages: int, on_tick: Callable[[], Any]) -> None:
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        self.out_path = WORK_DIR / f"{prefix}consumer"
        argv = [*FUND_LEDGER, "consume", "--topic-prefix", prefix, "--group-id", prefix + "fund-ledger", "--until-messages",
                str(messages), "--max-seconds", "900", "--batch-size", str(CONSUMER_BATCH)]
        self.runs: list[ChildRun] = []
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, args=(argv, child_env(db), on_tick), daemon=True)
        self.thread.start()

    def _run(self, argv: list[str], env: dict[str, str], on_tick: Callable[[], Any]) -> None:
        try:
            self.runs.append(run_child(argv, env, on_tick=on_tick, timeout_s=900, out_path=self.out_path))
        except BaseException as error:  # noqa: BLE001 - raised by finish()
            self.error = error

    def wait_joined(self, timeout_s: float = 120) -> float:
        """Seconds from its start until it was assigned its partitions."""
        log = Path(f"{self.out_path}.err")
        while time.perf_counter() - self.started < timeout_s:
            if self.error is not None or self.runs:
                raise RuntimeError(f"the consumer stopped before joining: {self.error or self.runs[0].stderr[-2000:]}")
            if log.exists() and '"event": "partition.assigned"' in log.read_text(errors="replace"):
                return time.perf_counter() - self.started
            time.sleep(0.1)
        raise TimeoutError(f"the consumer did not join its group in {timeout_s} s")

    def finish(self) -> ChildRun:
        self.thread.join()
        if self.error is not None:
            raise self.error
        run = self.runs[0]
        if run.returncode != 0:
            raise RuntimeError(f"consume failed ({run.returncode}): {run.stdout[-2000:]} {run.stderr[-3000:]}")
        return run


def consume(db: Database, prefix: str, on_tick: Callable[[], Any] | None = None, profile_to: Path | None = None) -> ChildRun:
    argv = [*FUND_LEDGER, "consume", "--topic-prefix", prefix, "--group-id", prefix + "fund-ledger", "--until-caught-up",
            "--max-seconds", "900", "--batch-size", str(CONSUMER_BATCH)]
    if profile_to is not None:
        argv = [*PYINSTRUMENT, "-r", "text", "-o", str(profile_to), "-m", "cli.main", *argv[3:]]
    run = run_child(argv, child_env(db), on_tick=on_tick, timeout_s=900)
    if run.returncode != 0:
        raise RuntimeError(f"consume failed ({run.returncode}): {run.stdout[-2000:]} {run.stderr[-3000:]}")
    return run


def kafka_end_to_end(db: Database, people: list[data.Person], months: int, prefix: str) -> dict[str, Any]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    enrol_path = data.write_jsonl(WORK_DIR / f"{prefix}enrol.jsonl", data.enrolment_messages(people))
    remit_path = data.write_jsonl(WORK_DIR / f"{prefix}remit.jsonl", data.remittance_messages(people, months))
    ledger = open_bench_ledger(db)
    try:
        # Enrolment, timed on its own: publish, then consume.
        started = time.perf_counter()
        publish(db, enrol_path, prefix)
        enrol_run = consume(db, prefix)
        enrol_s = time.perf_counter() - started
        projector = Projector(ledger, open_store(ledger))
        projector.catch_up()
        start_head = projector.head()

        # Remittances, end to end: the consumer running and joined before the clock starts.
        progress: list[tuple[float, float, Any]] = []
        messages = len(people) * months // data.LINES_PER_REMITTANCE

        def tick() -> int:
            return (ledger.recorder.max_notification_id() or 0) - start_head
        servers = CpuOfServers.now()
        consumer = RunningConsumer(db, prefix, messages, on_tick=tick)
        consumer_start_s = consumer.wait_joined()
        with BackgroundProjector(ledger) as background:
            started = time.perf_counter()
            published = publish(db, remit_path, prefix)
            publish_s = published.elapsed_s
            run = consumer.finish()
            consumed_s = time.perf_counter() - started
            end_position = background.finish()
            total_s = time.perf_counter() - started
        spent = servers.since()
        cpu_s = {"consumer": run.cpu_s, "projection (this process)": spent["this process"], "PostgreSQL": spent["PostgreSQL"],
                 "Kafka broker": spent["Kafka broker"], "publisher": published.cpu_s}
        progress = run.samples
        events = end_position - start_head
    finally:
        ledger.close()
    for path in (enrol_path, remit_path):
        path.unlink(missing_ok=True)
    return {"lines": len(people) * months, "persons": len(people), "messages": len(people) * months // data.LINES_PER_REMITTANCE,
            "enrol_s": enrol_s, "enrol_peak_rss_mib": enrol_run.peak_rss_mib, "consumer_start_s": consumer_start_s,
            "publish_s": publish_s, "consumed_s": consumed_s, "total_s": total_s, "events": events,
            "consumer_peak_rss_mib": run.peak_rss_mib, "consumer_samples": progress,
            "consumer_peaks_so_far_mib": run.peaks_so_far_mib, "cpu_s": cpu_s}


class CpuOfServers:
    """CPU seconds spent by this process, the PostgreSQL server and the Kafka broker since ``now()``."""

    def __init__(self) -> None:
        self.pids = {"PostgreSQL": postgres_server_pid(), "Kafka broker": kafka_broker_pid()}
        self.started = self._read()

    @classmethod
    def now(cls) -> CpuOfServers:
        return cls()

    def _read(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"this process": usage.ru_utime + usage.ru_stime,
                **{name: cpu_s(pid) if pid else 0.0 for name, pid in self.pids.items()}}

    def since(self) -> dict[str, float]:
        return {name: value - self.started[name] for name, value in self._read().items()}


def profile_consumer(db: Database, people: list[data.Person], prefix: str, out: Path, month: int) -> str:
    """Profile the consumer on one more month of remittances (``month``), after the timed run."""
    messages = data.remittance_messages(people, month)[-(len(people) // data.LINES_PER_REMITTANCE):]
    path = data.write_jsonl(WORK_DIR / f"{prefix}profile.jsonl", messages)
    publish(db, path, prefix)
    consume(db, prefix, profile_to=out)
    path.unlink(missing_ok=True)
    return out.read_text()


def direct_ingest(db: Database, people: list[data.Person], months: int) -> dict[str, Any]:
    """``fund-ledger ingest``'s function, in this process: enrolments, then the remittances (timed),
    then the projection caught up (timed separately)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    enrol_path = data.write_jsonl(WORK_DIR / f"{db.name}-enrol.jsonl", data.enrolment_messages(people))
    remit_path = data.write_jsonl(WORK_DIR / f"{db.name}-remit.jsonl", data.remittance_messages(people, months))
    ledger = open_bench_ledger(db)
    try:
        started = time.perf_counter()
        enrolled = ingest_file(ledger, enrol_path, dead_letter_file=None)
        enrol_s = time.perf_counter() - started
        assert enrolled.applied == len(people), enrolled.as_dict()
        projector = Projector(ledger, open_store(ledger))
        projector.catch_up()
        started = time.perf_counter()
        report = ingest_file(ledger, remit_path, batch_size=DIRECT_BATCH, dead_letter_file=None)
        ledger_s = time.perf_counter() - started
        assert report.dead_letters == 0, report.as_dict()
        caught = projector.catch_up()
        total_s = time.perf_counter() - started
    finally:
        ledger.close()
    for path in (enrol_path, remit_path):
        path.unlink(missing_ok=True)
    return {"lines": len(people) * months, "enrol_s": enrol_s, "ledger_s": ledger_s, "projection_s": caught.elapsed_s,
            "projection_events": caught.events, "total_s": total_s, "events": report.events}


def profile_direct_ingest(db: Database, people: list[data.Person], results: Any, title: str, month: int) -> None:
    """Profile ``ingest_file`` (the ledger alone, no Kafka) on a warm month: ``month``'s
    remittances applied first, unprofiled, in the same process (every account read once, as a
    consumer past its first month holds them), then ``month + 1``'s profiled. The consumer's
    profile is the cold month (a fresh process); this one is what the other months cost."""
    from bench.measure import profile

    per_month = len(people) // data.LINES_PER_REMITTANCE
    messages = data.remittance_messages(people, month + 1)
    warm_path = data.write_jsonl(WORK_DIR / f"{db.name}-warm.jsonl", messages[-2 * per_month:-per_month])
    path = data.write_jsonl(WORK_DIR / f"{db.name}-profile.jsonl", messages[-per_month:])
    ledger = open_bench_ledger(db)
    try:
        ingest_file(ledger, warm_path, batch_size=DIRECT_BATCH, dead_letter_file=None)
        profile(title, results, lambda: ingest_file(ledger, path, batch_size=DIRECT_BATCH, dead_letter_file=None))
    finally:
        ledger.close()
        warm_path.unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def copy_stored_rows(db: Database, rounds: int = COPY_ROUNDS) -> dict[str, Any]:
    """The write limit for what the ledger stored: the events table's rows of this database (the
    same bytes: states, chain hashes, ids), written again with ``COPY`` into a table of the same
    shape and indexes (``LIKE ... INCLUDING ALL``), in one transaction, ``rounds`` times (a fresh
    table each). Reading them out is not timed. Returns rows, bytes, each round's rows/s and
    their median as ``rows_per_s``."""
    table = "fundledger_events"
    with db.connect() as conn:
        buffer = bytearray()
        with conn.cursor().copy(f"COPY (SELECT * FROM {table} ORDER BY notification_id) TO STDOUT (FORMAT binary)") as out:
            for chunk in out:
                buffer += chunk
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        rates = [rows / _copy_once(conn, table, buffer) for _ in range(rounds)]
    return {"rows": rows, "bytes": len(buffer), "rounds_rows_per_s": rates, "rows_per_s": statistics.median(rates)}


def _copy_once(conn: Any, table: str, buffer: bytearray) -> float:
    """Seconds to COPY ``buffer`` (binary rows of ``table``) into a fresh copy of it, committed."""
    conn.execute(f"CREATE TABLE copy_of_events (LIKE {table} INCLUDING ALL)")
    conn.commit()
    started = time.perf_counter()
    with conn.cursor().copy("COPY copy_of_events FROM STDIN (FORMAT binary)") as into:
        for start in range(0, len(buffer), 1 << 20):
            into.write(buffer[start:start + (1 << 20)])
    conn.commit()
    elapsed_s = time.perf_counter() - started
    conn.execute("DROP TABLE copy_of_events")
    conn.commit()
    return elapsed_s
