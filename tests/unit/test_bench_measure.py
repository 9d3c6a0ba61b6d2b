"""The benchmarks' CPU accounting: a server's cost is its own CPU, its live processes' and its
finished ones' (a PostgreSQL connection's backend exits with it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.measure import cpu_s, descendants

BURN_S = 1.0
PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    f"'import time\\nend = time.process_time() + {BURN_S}\\nwhile time.process_time() < end: pass\\n'])\n"
    "child.wait()\n"
    "time.sleep(60)\n"
)


def test_a_process_that_spins_counts_its_cpu() -> None:
    before = cpu_s(os.getpid())
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    assert 0.25 <= cpu_s(os.getpid()) - before < 5


def _until(condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_live_child_and_a_finished_one_count_for_their_parent() -> None:
    """A parent (idle) whose child burns a second of CPU: the child's CPU counts while it runs
    (a live descendant) and once it has exited (a child the parent waited for)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        _until(lambda: descendants(parent.pid))
        _until(lambda: cpu_s(parent.pid) >= 0.5)
        assert descendants(parent.pid), "counted while the child was still running"
        _until(lambda: not descendants(parent.pid))
        assert BURN_S <= cpu_s(parent.pid) < BURN_S + 2
    finally:
        parent.kill()
        parent.wait()
    assert cpu_s(parent.pid) == 0.0  # gone
