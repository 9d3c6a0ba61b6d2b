"""Applying a JSON-lines file of messages without Kafka, through the consumers' handlers.

Each line is a delivery from the pseudo-topic ``file:<name>`` (partition 0, offset = line
number), so provenance and dead letters look the same as from Kafka. Lines are applied in
batches, one transaction per batch; on PostgreSQL a batch's save is written while the next batch
is applied (``consumers.save_behind``, as the Kafka consumer does), and a save that fails stops
the ingest with its error, nothing after it written. Message ids make a second run of the same
file a no-op (so does running it again after a failure: what was written is not applied twice);
a dead letter is recorded once per (line, content) however often the file is ingested.
Dead letters are recorded in the ledger's store and appended to a local JSON-lines file, their
content sealed there as in the store (``adapters.crypto``: the original, its reason and digest
under the refused message's own key, which ``erase-person`` destroys with the person).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from adapters.crypto import sealed_refusal
from consumers.handlers import MAX_BATCH, BatchTally, Delivery, Outcome, apply_batch
from consumers.retries import RetryPlan
from consumers.save_behind import SaveBehind
from ledger.application import Ledger

DEFAULT_DEAD_LETTER_FILE = Path(".run") / "dead-letters.jsonl"
MAX_LINE_BYTES = 2_000_000
READ_CHUNK_BYTES = 1 << 20
# A file is applied in one go: a deferred line is tried again at once, after the rest of the file.
INGEST_RETRY_PLAN = RetryPlan((0.0, 0.0, 0.0))


def append_private(path: Path, lines: list[str]) -> None:
    """Append lines to a file only its owner can read (dead letters hold the original messages,
    personal data included): created 0600 in a 0700 folder when new."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")


@dataclass
class IngestReport(BatchTally):
    lines: int = 0
    dead_letter_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "applied": self.applied, "duplicates": self.duplicates,
                "dead_letters": self.dead_letters, "retried": self.deferred, "events": self.events, "batches": self.batches,
                "dead_letter_codes": dict(self.dead_letter_codes), "dead_letter_ids": self.dead_letter_ids[:100]}


def read_deliveries(path: Path | None, source: BinaryIO | None = None) -> Iterator[Delivery]:
    """One delivery per non-blank line of ``path`` (or of ``source``, e.g. standard input, named
    ``stdin``), with its line number as offset. A line longer than ``MAX_LINE_BYTES`` is read
    in chunks, never whole: its delivery keeps its first ``MAX_LINE_BYTES`` and the size and
    digest of all of it (it is refused as too large, and recorded for what it was)."""
    topic = f"file:{path.name}" if path is not None else "file:stdin"
    with (path.open("rb") if path is not None else contextlib.nullcontext(source)) as handle:
        assert handle is not None
        for number, (value, size_bytes, digest) in enumerate(_lines(handle), start=1):
            if size_bytes <= MAX_LINE_BYTES and not value.strip():
                continue
            truncated = size_bytes != len(value)
            yield Delivery(value=value, topic=topic, partition=0, offset=number, id_suffix="@" + digest[:12],
                           full_size_bytes=size_bytes if truncated else None, full_sha256=digest if truncated else None)


def _lines(handle: BinaryIO) -> Iterator[tuple[bytes, int, str]]:
    """(the line's first ``MAX_LINE_BYTES`` without its line end, its whole size, its SHA-256)."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            value = line.rstrip(b"\r\n")
            yield value, len(value), hashlib.sha256(value).hexdigest()
            continue
        kept, digest, size_bytes = line[:MAX_LINE_BYTES], hashlib.sha256(line), len(line)
        while not line.endswith(b"\n"):
            line = handle.readline(READ_CHUNK_BYTES)
            if not line:
                break
            body = line.rstrip(b"\r\n")
            digest.update(body)
            size_bytes += len(body)
        yield kept, size_bytes, digest.hexdigest()


def ingest_file(ledger: Ledger, path: Path | None, *, batch_size: int = 500, dead_letter_file: Path | None = DEFAULT_DEAD_LETTER_FILE,
                source: BinaryIO | None = None, retry_plan: RetryPlan = INGEST_RETRY_PLAN,
                save_behind: bool = True) -> IngestReport:
    """Apply the lines of ``path`` (or of ``source`` when ``path`` is ``None``), then the lines
    deferred (``consumers.retries``: a claim before its person's enrolment), once per attempt of
    ``retry_plan``, at once: a file's order between such lines is no more reliable than Kafka's
    between topics. ``save_behind``: write each save while the next batch is applied, where the
    store may be written from another thread (PostgreSQL); ``False``: each save before the next
    batch. The report counts what was written."""
    assert 0 < batch_size <= MAX_BATCH, batch_size
    saves = SaveBehind(ledger, background=None if save_behind else False)
    try:
        return _ingest(ledger, path, source, batch_size, dead_letter_file, retry_plan, saves)
    finally:
        saves.close()


def _ingest(ledger: Ledger, path: Path | None, source: BinaryIO | None, batch_size: int, dead_letter_file: Path | None,
            retry_plan: RetryPlan, saves: SaveBehind) -> IngestReport:
    report = IngestReport()
    batch: list[Delivery] = []
    deferred: list[Delivery] = []

    def write_dead_letters(dead_letters: list[dict[str, Any]]) -> None:
        if dead_letter_file is not None:
            append_private(dead_letter_file, [json.dumps(sealed_refusal(ledger.mapper, dead), ensure_ascii=False, sort_keys=True)
                                              for dead in dead_letters])

    def defer(outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            assert outcome.deferral is not None
            deferred.append(dataclasses.replace(outcome.delivery, retry_attempt=outcome.deferral["retry_attempt"],
                                                origin_id=outcome.delivery.dead_letter_id))

    def flush() -> None:
        result = apply_batch(ledger, batch, publish_dead_letters=write_dead_letters, retry_plan=retry_plan, schedule_retries=defer,
                             saves=saves, on_saved=lambda part, _: report.add(part))
        report.dead_letter_ids.extend(dead["dead_letter_id"] for dead in result.dead_letters)  # (written with the batch)
        batch.clear()

    def add(delivery: Delivery) -> None:
        batch.append(delivery)
        if len(batch) >= batch_size:
            flush()

    for delivery in read_deliveries(path, source):
        report.lines += 1
        add(delivery)
    # The lines deferred are tried again in batches of ``batch_size`` too: a file of claims before
    # its persons can defer more lines than one batch may hold (``MAX_BATCH``).
    for _ in range(retry_plan.attempts + 1):
        if batch:
            flush()
        retrying = list(deferred)
        deferred.clear()  # what these defer again (``defer``) waits for the next attempt
        for delivery in retrying:
            add(delivery)
    assert not batch and not deferred, "the last attempt defers nothing"
    saves.wait()
    return report
