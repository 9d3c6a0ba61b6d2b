"""``python -m bench.api [--quick]``: the HTTP service's latency for the heaviest report under 20
concurrent clients (``make bench`` runs it after the suite), against one client in the same run.

On a fresh PostgreSQL database with the demo's books (3,000 insured people and a year:
about 65,000 events), projected, the service is started as ``make serve`` starts it (reading as
the finance role) on 127.0.0.1, and asked for ``GET /api/v1/reports/personal?region=210100``:
every personal account of the region (3,000 rows, 1.3 MB of JSON), the largest answer from the
tables. One client first (the baseline), then 20 at once; each client makes a bounded number of
requests over one keep-alive connection. The figures replace the section "The API's latency"
of docs/benchmarks.md (``--quick`` writes .run/bench/api-quick.md instead).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from bench import env

HEAVIEST = "/api/v1/reports/personal?region=210100"
CLIENTS = 20
SECTION_TITLE = "## The API's latency (issue 12)"
DOCUMENT = env.REPO / "docs" / "benchmarks.md"
QUICK_DOCUMENT = env.REPO / ".run" / "bench" / "api-quick.md"
RUN_LIMIT_S = 600.0  # every request loop stops by then, whatever is left


@dataclass(frozen=True)
class Sizes:
    people: int
    requests_alone: int
    requests_each: int  # per concurrent client


FULL, QUICK = Sizes(3_000, 40, 15), Sizes(300, 10, 5)


@dataclass
class Run:
    clients: int
    latencies_s: list[float]
    elapsed_s: float
    failures: int
    workers: int = 1

    def quantile(self, share: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]

    @property
    def throughput(self) -> float:
        return len(self.latencies_s) / self.elapsed_s


def cli(environ: dict[str, str], *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli.main", *argv], env=environ, cwd=env.REPO, capture_output=True, text=True,
                          timeout=1_800, check=True)
    return done.stdout


def load(url: str, token: str, clients: int, requests_each: int, deadline: float) -> Run:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            for _ in range(requests_each):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                answer = http.get(HEAVIEST)
                elapsed = time.perf_counter() - started
                with lock:
                    if answer.status_code == 200 and b'"person_id"' in answer.content:  # not parsed: the client shares the cores
                        latencies.append(elapsed)
                    else:
                        failures[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Run(clients, latencies, time.perf_counter() - started, failures[0])


def measure(sizes: Sizes) -> tuple[list[Run], dict[str, object]]:
    with env.fresh_database("api") as database:
        environ = {**os.environ, **database.environ, "PYTHONPATH": str(env.REPO)}
        print(f"loading the demo's books ({sizes.people:,} people) into {database.name}", flush=True)
        cli(environ, "demo", "--people", str(sizes.people))
        cli(environ, "project")
        token = json.loads(cli(environ, "token", "create", "--role", "auditor", "--name", "bench", "--format", "json"))["token"]
        finance = env.postgres_settings("finance")
        serve_env = {**environ, "FUND_LEDGER_READ_USER": finance["POSTGRES_USER"], "FUND_LEDGER_READ_PASSWORD": finance["POSTGRES_PASSWORD"]}
        port = 18_000 + os.getpid() % 1_000
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + RUN_LIMIT_S
        load_before = os.getloadavg()[0]
        with serving(serve_env, port, 1):
            head = httpx.get(url + "/readyz", timeout=10).json()["head"]
            size = len(httpx.get(url + HEAVIEST, headers={"Authorization": f"Bearer {token}"}, timeout=120).content)
            alone = load(url, token, 1, sizes.requests_alone, deadline)
            print(f"1 client: p50 {alone.quantile(0.5) * 1000:.0f} ms", flush=True)
            crowd = load(url, token, CLIENTS, sizes.requests_each, deadline)
            print(f"{CLIENTS} clients: p50 {crowd.quantile(0.5) * 1000:.0f} ms, p99 {crowd.quantile(0.99) * 1000:.0f} ms", flush=True)
        with serving(serve_env, port, 2):
            crowd_two = load(url, token, CLIENTS, sizes.requests_each, deadline)
            crowd_two.workers = 2
            print(f"{CLIENTS} clients, 2 workers: p50 {crowd_two.quantile(0.5) * 1000:.0f} ms", flush=True)
        machine_load = f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after it"
    return [alone, crowd, crowd_two], {"events": head, "bytes": size, "load": machine_load}


@contextmanager
def serving(serve_env: dict[str, str], port: int, workers: int) -> Iterator[None]:
    """``fund-ledger serve`` with ``workers`` processes, until the block ends."""
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", str(workers),
                               "--log-level", "warning"], env=serve_env, cwd=env.REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    """Until ``/readyz`` answers 200 (at most 120 s)."""
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"fund-ledger serve exited with {server.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("fund-ledger serve was not ready after 120 s")


def section(runs: list[Run], facts: dict[str, object], sizes: Sizes) -> str:
    ms = 1000
    alone, crowd, crowd_two = runs
    machine = env.machine()
    return "\n".join([
        SECTION_TITLE, "",
        f"Measured with `python -m bench.api` (`make bench`), {date.today().isoformat()}, on {machine.get('cpu', 'this machine')} "
        f"({machine.get('cores', '2')} cores): `GET {HEAVIEST}` (every personal account of the demo's region, "
        f"{int(str(facts['bytes'])) / 1e6:.1f} MB of JSON) from `fund-ledger serve` (uvicorn, 20 request threads, reading as the "
        f"finance role) over {facts['events']:,} events of the demo's books ({sizes.people:,} people, a year), clients on the same "
        "machine, keep-alive connections.", "",
        "| clients | serve --workers | requests | p50 | p99 | max | throughput | failed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {run.clients} | {run.workers} | {len(run.latencies_s)} | {run.quantile(0.5) * ms:,.0f} ms | {run.quantile(0.99) * ms:,.0f} ms | "
          f"{max(run.latencies_s) * ms:,.0f} ms | {run.throughput:.1f} req/s | {run.failures} |" for run in runs),
        "",
        f"Under {CLIENTS} concurrent clients the median is {crowd.quantile(0.5) / alone.quantile(0.5):.1f}x the single client's and "
        f"the 99th percentile {crowd.quantile(0.99) / alone.quantile(0.5):.1f}x it; throughput is "
        f"{crowd.throughput / alone.throughput:.2f}x one client's. With two worker processes (`serve --workers 2`) the "
        f"20 clients' median is {crowd_two.quantile(0.5) * ms:,.0f} ms and the 99th percentile {crowd_two.quantile(0.99) * ms:,.0f} ms "
        f"({crowd_two.throughput / crowd.throughput:.2f}x the throughput of one).", "",
        f"What bounds it: each answer is built in Python ({sizes.people:,} rows read, labelled and encoded as "
        f"{int(str(facts['bytes'])) / 1e6:.1f} MB of JSON: {statistics.median(alone.latencies_s) * ms:,.0f} ms with one client), and one process runs Python on one core at a "
        "time (the GIL): twenty clients queue for it, so the latency grows with the clients while the throughput is bounded "
        "by the cores the service gets. Here the clients (one Python process receiving every answer) and other work share "
        f"the machine's two cores with it (load average {facts['load']}), which is why a second worker process gains only "
        f"{crowd_two.throughput / crowd.throughput:.2f}x. The service keeps no state between requests, so on a server whose cores "
        "are not taken by the clients, `serve --workers N` or several `fund-ledger serve` behind a proxy add cores (not "
        "measurable on this machine; each worker keeps its own request-latency histogram). A smaller answer (a region's "
        "accounts a page at a time) would cut the cost per request. The reports finance reads most (balances, income, "
        "budget) answer in tens of milliseconds, and so do reports as of a date, read from the tables; the three as-of "
        "reports still folded from the events (contributions, claim, memo-persons) read the whole log and are limited to "
        "two at a time.", "",
    ])


def write(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    current = path.read_text() if path.exists() else ""
    if SECTION_TITLE in current:
        before, _, rest = current.partition(SECTION_TITLE)
        after = rest[rest.find("\n## "):] if "\n## " in rest else ""
        current = before.rstrip("\n") + "\n\n" + text + after.lstrip("\n")
    else:
        current = current.rstrip("\n") + ("\n\n" if current else "") + text
    path.write_text(current if current.endswith("\n") else current + "\n")
    print(f"written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the HTTP service's latency under 20 concurrent clients")
    parser.add_argument("--quick", action="store_true", help="a smoke run (small books, few requests)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    runs, facts = measure(sizes)
    text = section(runs, facts, sizes)
    print(text)
    write(text, QUICK_DOCUMENT if args.quick else DOCUMENT)
    return 0 if not any(run.failures for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
