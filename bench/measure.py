"""Figures, targets, memory sampling and profiles."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILE_LINES = 70
# The COPY baselines swing up to 1.6x between runs on one machine: each is timed in this many
# rounds, a fresh table each, and the median kept.
COPY_ROUNDS = 3


@dataclass
class Figure:
    """One measured figure, with the baseline it is compared against in the same run."""

    name: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None  # value / baseline_value, or as the note says
    note: str = ""


@dataclass
class Target:
    name: str
    passed: bool
    measured: str


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)  # title -> pyinstrument text
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.name}: {figure.value:,.1f} {figure.unit}"
              + (f" (baseline {figure.baseline}: {figure.baseline_value:,.1f}; ratio {figure.ratio:.3g})"
                 if figure.ratio is not None and figure.baseline_value is not None else "")
              + (f" [{figure.note}]" if figure.note else ""), flush=True)
        return figure

    def target(self, name: str, passed: bool, measured: str) -> None:
        self.targets.append(Target(name, passed, measured))
        print(f"  target {name}: {'PASS' if passed else 'MISS'} ({measured})", flush=True)


def ratio(value: float, baseline: float) -> float | None:
    return value / baseline if baseline else None


# ---------------------------------------------------------------------------- memory
def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident set size (``VmRSS``) or its high-water mark (``VmHWM``) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def self_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (from /proc)."""
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [grandchild for child in children for grandchild in (child, *descendants(child))]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, with those of the children it has
    waited for (a server's finished connections), and those of its live descendants: a server's
    whole cost so far. 0 if it is gone."""
    ticks = _stat_ticks(pid, with_waited_children=True)
    ticks += sum(_stat_ticks(child, with_waited_children=False) for child in descendants(pid))
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat_ticks(pid: int, with_waited_children: bool) -> int:
    """Clock ticks from ``/proc/PID/stat`` (0 for a process gone meanwhile)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # After the command's name: state (0), ..., utime (11), stime (12), cutime (13), cstime (14).
    return sum(int(value) for value in fields[11:15 if with_waited_children else 13])


@dataclass
class ChildRun:
    returncode: int
    elapsed_s: float
    # The child's high-water mark (VmHWM, last read before it exited), plus those of the processes
    # it started (a year's interest run starts workers): the most the whole run can have held at
    # once. Not wait4's ru_maxrss: Linux carries the RSS a forked child had *before* exec (a copy
    # of this process) into it.
    peak_rss_mib: float
    samples: list[tuple[float, float, Any]]  # (seconds since start, RSS MiB of the child and its processes, progress)
    stdout: str
    stderr: str
    # CPU seconds (user + system) of the child and of the processes it started and waited for:
    # what the run itself cost, whatever else the machine was doing.
    cpu_s: float = 0.0
    # The high-water mark so far (as ``peak_rss_mib``) at each of ``samples``: what the child held
    # at most up to then, short spikes between two samples included.
    peaks_so_far_mib: list[float] = field(default_factory=list)


def run_child(argv: list[str], env: dict[str, str], on_tick: Callable[[], Any] | None = None,
              tick_s: float = 0.25, timeout_s: float = 1800, out_path: Path | None = None) -> ChildRun:
    """Run a subprocess, sampling its RSS (and ``on_tick()``'s progress) every ``tick_s``.
    ``on_tick`` runs in this process between samples (e.g. the projector catching up). Its
    output goes to ``out_path`` + ``.out`` / ``.err`` while it runs (a temporary name if not given)."""
    started = time.perf_counter()
    out_path = out_path or Path(f"/tmp/bench-child-{os.getpid()}-{time.monotonic_ns()}")
    with open(f"{out_path}.out", "w+") as out, open(f"{out_path}.err", "w+") as err:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        samples: list[tuple[float, float, Any]] = []
        peaks_so_far: list[float] = []
        status = None
        peak_by_pid: dict[int, float] = {}
        cpu_s = 0.0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                cpu_s = usage.ru_utime + usage.ru_stime
                break
            now = time.perf_counter() - started
            if now > timeout_s:
                child.kill()
                os.wait4(child.pid, 0)
                raise TimeoutError(f"{argv} took more than {timeout_s} s")
            rss = rss_mib(child.pid)
            tree_rss = 0.0
            for member in (child.pid, *descendants(child.pid)):
                member_rss = rss_mib(member) or 0.0
                tree_rss += member_rss
                peak_by_pid[member] = max(peak_by_pid.get(member, 0.0), rss_mib(member, "VmHWM") or 0.0, member_rss)
            progress = on_tick() if on_tick is not None else None
            if rss is not None:
                samples.append((now, tree_rss, progress))
                peaks_so_far.append(sum(peak_by_pid.values()))
            time.sleep(tick_s)
        peak_mib = sum(peak_by_pid.values())
        elapsed_s = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return ChildRun(child.returncode, elapsed_s, peak_mib, samples, stdout, stderr, cpu_s, peaks_so_far)


# ---------------------------------------------------------------------------- profiles
def profile(title: str, results: Results, work: Callable[[], Any]) -> Any:
    """Run ``work`` under pyinstrument and keep the top of its text report."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.002)
    profiler.start()
    try:
        outcome = work()
    finally:
        profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    lines = [line for line in text.splitlines() if line.strip()]
    results.profiles[title] = "\n".join(lines[:PROFILE_LINES])
    print(f"  profile '{title}' kept ({len(lines)} lines)", flush=True)
    return outcome
