"""Worker processes started with a job: the job pickled on standard input, the worker's reports
as lines on its standard output (what else it prints goes to standard error), and the worker
killed when the process that started it dies (``PR_SET_PDEATHSIG`` on Linux), so a ``kill -9``
leaves none behind. Used by the year's interest run (``ledger.interest_run``) and the replay's
workers (``projections.shards``)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any, TextIO


def start(module: str, job: Any, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """``python -m module`` with ``job`` on its standard input and its standard output piped."""
    process = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env))
    assert process.stdin is not None
    process.stdin.write(pickle.dumps(job))
    process.stdin.close()
    return process


def die_with_parent() -> None:
    """Linux: this process gets ``SIGKILL`` when the process that started it dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def take_job() -> tuple[TextIO, Any] | None:
    """In a worker: die with the starting process, keep standard output as the report channel
    (anything else printed goes to standard error), and read the job. ``None``: the starting
    process died before this one could tie itself to it. (The job's class is the module's as
    imported, not ``__main__``'s: a worker run as ``python -m`` does not check it against its own.)"""
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:
        return None
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    job = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by the process that started this one
    return channel, job
