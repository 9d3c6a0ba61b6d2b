"""Refusals that time may cure, tried again before they become dead letters.

Kafka keeps order within a partition, not between topics: a claim can overtake the enrolment of
its person (``ledger.persons`` and ``ledger.claims`` are read independently), a reversal its
claim, a transfer-in its transfer-out. The ledger refuses them (``unknown_person``,
``unknown_claim``, ``unknown_transfer``); here such a refusal is *deferred* instead:

- the message goes, unchanged (value, key), to the retry topic of its next attempt,
  ``ledger.retry.<n>``, with headers saying which attempt it is, when it is due and where it came
  from (``retry-origin``: its first topic, partition and offset, which stays its identity);
- each retry topic holds one delay (``RetryPlan.delays_s``: growing), so its records fall due in
  the order they were written: the consumer applies a retry partition's records that are due and
  pauses it until the next one is;
- after the last attempt the refusal is final and the message is dead-lettered, under the id of
  its first position.

Publishing a retry happens before the batch's transaction commits, like a dead letter; the
deferral is also recorded in the ledger's store in that transaction (with the original bytes),
so a crash neither loses the message nor applies it twice (it is applied under its message id).
``fund-ledger ingest`` defers the same way, in memory: deferred lines are tried again after the
rest of the file, once per attempt, without waiting.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

RETRIABLE_CODES = frozenset({"unknown_person", "unknown_claim", "unknown_transfer"})
DEFAULT_DELAYS_S: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
MAX_ATTEMPTS = 10
MAX_DELAY_S = 86_400.0
TOPIC_STEM = "ledger.retry."

HEADER_ATTEMPT = "retry-attempt"
HEADER_DUE_MS = "retry-due-ms"
HEADER_ORIGIN = "retry-origin"
HEADER_FIRST_CODE = "retry-first-code"
_ORIGIN = re.compile(r"^(?P<topic>[A-Za-z0-9._:-]{1,249}):(?P<partition>[0-9]{1,6}):(?P<offset>[0-9]{1,19})(?P<suffix>@[0-9a-f]{12})?$")


@dataclass(frozen=True)
class RetryPlan:
    """How many times, and after how long each, a deferred message is tried again."""

    delays_s: tuple[float, ...] = DEFAULT_DELAYS_S

    def __post_init__(self) -> None:
        if not 0 < len(self.delays_s) <= MAX_ATTEMPTS or any(not 0 <= d <= MAX_DELAY_S for d in self.delays_s):
            raise ValueError(f"between 1 and {MAX_ATTEMPTS} retry delays, each of 0 to {MAX_DELAY_S:.0f} seconds")

    @property
    def attempts(self) -> int:
        return len(self.delays_s)

    def topic(self, attempt: int, prefix: str = "") -> str:
        return f"{prefix}{TOPIC_STEM}{attempt}"

    def topics(self, prefix: str = "") -> list[str]:
        return [self.topic(attempt, prefix) for attempt in range(1, self.attempts + 1)]

    def delay_s(self, attempt: int) -> float:
        return self.delays_s[attempt - 1]


def parse_delays(text: str) -> RetryPlan:
    """``"5,30,120"`` -> a plan of three attempts, in whole seconds (a retry topic's delay needs no
    finer step). Raises ``ValueError`` with the reason."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(f"retry delays must be whole seconds separated by commas, got {text[:100]!r}")
    if any(len(part) > len(str(int(MAX_DELAY_S))) for part in parts):
        raise ValueError(f"retry delays: each of 0 to {MAX_DELAY_S:.0f} seconds")
    return RetryPlan(tuple(int(part) for part in parts))


def attempt_of(topic: str, prefix: str = "") -> int:
    """The attempt a retry topic carries (0: not a retry topic)."""
    stem = prefix + TOPIC_STEM
    if topic.startswith(stem) and topic[len(stem):].isdigit():
        return min(int(topic[len(stem):]), MAX_ATTEMPTS)
    return 0


def parse_origin(text: str | None) -> tuple[str, int, int, str] | None:
    """(topic, partition, offset, suffix) from a ``retry-origin`` header, if well formed."""
    match = _ORIGIN.match(text or "")
    if match is None:
        return None
    return match["topic"], int(match["partition"]), int(match["offset"]), match["suffix"] or ""


def due_in_s(due_ms_text: str | None, delay_s: float, now_s: float | None = None) -> float:
    """Seconds until a retry record is due (0 or less: due). A header that is missing,
    malformed or further away than the topic's delay (forged) counts as due after the delay from
    now at the latest."""
    now_s = time.time() if now_s is None else now_s
    try:
        due_s = int(due_ms_text or "") / 1000
    except ValueError:
        return delay_s
    return min(due_s - now_s, delay_s)
