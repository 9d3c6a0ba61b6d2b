"""Fault injection for crash tests: kill this process with SIGKILL at a chosen point.

Off unless ``FUND_LEDGER_FAULTS`` is set, e.g. ``kill_after_messages=7`` (in the middle of a
batch), ``kill_before_commit=2`` (the 2nd batch: dead letters published, database not committed),
``kill_after_commit=2`` (database committed, Kafka offsets not), ``kill_while_saving=2`` (the 2nd
save about to be written, in the background, while the next batch is applied:
``consumers.save_behind``), ``fail_while_saving=2`` (that save fails once, as a refused write
would, instead of the process dying). Comma-separated to combine.
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


    def fails(self, point: str) -> bool:
        """Count one passage through ``point``; True once, at the configured count: the caller
        then fails as the real fault would."""
        if point not in self.limits:
            return False
        self.counts[point] = self.counts.get(point, 0) + 1
        return self.counts[point] == self.limits[point]


NO_FAULTS = Faults("")
