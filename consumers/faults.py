"""Fault injection for crash tests: kill this process with SIGKILL at a chosen point.

Off unless ``FUND_LEDGER_FAULTS`` is set, e.g. ``kill_after_messages=7`` (in the middle of a
batch), ``kill_before_commit=2`` (the 2nd batch: dead letters published, database not committed),
``kill_after_commit=2`` (database committed, Kafka offsets not). Comma-separated to combine.
The points are where a real crash hurts most; tests use them to prove that none loses or
doubles a message.
"""

from __future__ import annotations

import os
import signal

ENV = "FUND_LEDGER_FAULTS"


class Faults:
    def __init__(self, spec: str | None = None) -> None:
        spec = os.environ.get(ENV, "") if spec is None else spec
        self.limits: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            self.limits[name] = int(value or "1")
        self.counts: dict[str, int] = {}

    def reached(self, point: str) -> None:
        """Count one passage through ``point``; die at the configured count."""
        if point not in self.limits:
            return
        self.counts[point] = self.counts.get(point, 0) + 1
        if self.counts[point] >= self.limits[point]:
            os.kill(os.getpid(), signal.SIGKILL)


NO_FAULTS = Faults("")
