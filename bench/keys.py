"""What a process pays to read personal data's keys (issue 14): the key database
(``adapters.keys.SQLiteKeyStore``, read by key id, the default) against the key file
(``FileKeyStore``, read whole by every process that opens personal data), both holding the same
number of keys.

Each store is filled in saves of 2,000 keys (``deferred()``, as enrolments make them), then a fresh
process opens it and reads 1,000 keys at random: the time to its first key, to the 1,000, and its
peak RSS beyond that of a process that only imports the module. Rounds alternated; the best kept.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from adapters.keys import FileKeyStore, SQLiteKeyStore
from bench import env
from bench.measure import Figure, Results, ratio

ROUNDS = 2
SAVE = 2_000
READS = 1_000
STORES = {"database": SQLiteKeyStore, "file": FileKeyStore}

_READER = """
import json, random, sys, time
from pathlib import Path
kind, path, count, reads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
from adapters.keys import FileKeyStore, SQLiteKeyStore
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
out = {"imports_kib": peak_kib()}
if kind != "none":
    started = time.perf_counter()
    store = {"database": SQLiteKeyStore, "file": FileKeyStore}[kind](path)
    assert store.get("person/0") is not None
    out["first_s"] = time.perf_counter() - started
    wanted = random.Random(7).sample(range(count), reads)
    started = time.perf_counter()
    assert all(store.get(f"person/{i}") is not None for i in wanted)
    out["reads_s"] = time.perf_counter() - started
out["peak_kib"] = peak_kib()
print(json.dumps(out))
"""


def _fill(kind: str, path: Path, count: int) -> None:
    store = STORES[kind](path)
    for start in range(0, count, SAVE):
        with store.deferred():
            for index in range(start, min(count, start + SAVE)):
                store.get_or_create(f"person/{index}")


def _read(kind: str, path: Path, count: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _READER, kind, str(path), str(count), str(READS)], cwd=env.REPO,
                          capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def bench_keys(count: int, results: Results) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    try:
        paths = {kind: directory / "keys" / f"ledger.{kind}" for kind in STORES}
        for kind, path in paths.items():
            _fill(kind, path, count)
        base_kib = min(_read("none", paths["file"], count)["peak_kib"] for _ in range(ROUNDS))
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in STORES}
        for _ in range(ROUNDS):
            for kind, path in paths.items():
                runs[kind].append(_read(kind, path, count))
        sizes = {kind: sum(file.stat().st_size for file in path.parent.glob(path.name + "*")) for kind, path in paths.items()}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    best = {kind: {name: min(run[name] for run in kind_runs) for name in ("first_s", "reads_s", "peak_kib")}
            for kind, kind_runs in runs.items()}
    database, file = best["database"], best["file"]
    extra_mib = {kind: (values["peak_kib"] - base_kib) / 1024 for kind, values in best.items()}
    results.add(Figure(f"first key read by a new process, {count:,} keys in the key database", database["first_s"] * 1000, "ms",
                       "the key file read whole, ms", file["first_s"] * 1000, ratio(database["first_s"], file["first_s"]),
                       note=f"stores of {count:,} keys made in saves of {SAVE:,}: the database {sizes['database'] / 2**20:.0f} MiB, "
                            f"the file {sizes['file'] / 2**20:.0f} MiB; best of {ROUNDS} alternated"))
    results.add(Figure(f"{READS:,} keys at random after the first, key database", database["reads_s"] * 1000, "ms",
                       "the key file (held in memory), ms", file["reads_s"] * 1000, ratio(database["reads_s"], file["reads_s"]),
                       note="an indexed read a key (the last 10,000 kept) against a dict"))
    results.add(Figure(f"memory of a process reading {READS:,} keys, {count:,} in the key database", extra_mib["database"], "MiB",
                       "the key file, MiB", extra_mib["file"], ratio(extra_mib["database"], extra_mib["file"]),
                       note=f"peak RSS beyond a process that only imports the module ({base_kib / 1024:.0f} MiB)"))
