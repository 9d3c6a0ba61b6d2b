"""Applying a JSON-lines file of messages without Kafka, through the consumers' handlers.

Each line is a delivery from the pseudo-topic ``file:<name>`` (partition 0, offset = line
number), so provenance and dead letters look the same as from Kafka. Lines are applied in
batches, one transaction per batch. Message ids make a second run of the same file a no-op;
a dead letter is recorded once per (line, content) however often the file is ingested.
Dead letters are recorded in the ledger's store and appended to a local JSON-lines file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumers.handlers import MAX_BATCH, BatchTally, Delivery, apply_batch
from ledger.application import Ledger

DEFAULT_DEAD_LETTER_FILE = Path(".run") / "dead-letters.jsonl"
MAX_LINE_BYTES = 2_000_000


@dataclass
class IngestReport(BatchTally):
    lines: int = 0
    dead_letter_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "applied": self.applied, "duplicates": self.duplicates,
                "dead_letters": self.dead_letters, "events": self.events, "batches": self.batches,
                "dead_letter_codes": dict(self.dead_letter_codes), "dead_letter_ids": self.dead_letter_ids[:100]}


def read_deliveries(path: Path) -> Iterator[Delivery]:
    """One delivery per non-blank line, with its line number as offset."""
    topic = f"file:{path.name}"
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            value = line.rstrip(b"\r\n")
            if not value.strip():
                continue
            if len(value) > MAX_LINE_BYTES:
                value = value[:MAX_LINE_BYTES]  # refused by the schema's size limit, kept for the record
            suffix = "@" + hashlib.sha256(value).hexdigest()[:12]
            yield Delivery(value=value, topic=topic, partition=0, offset=number, id_suffix=suffix)


def ingest_file(ledger: Ledger, path: Path, *, batch_size: int = 500, dead_letter_file: Path | None = DEFAULT_DEAD_LETTER_FILE) -> IngestReport:
    assert 0 < batch_size <= MAX_BATCH, batch_size
    report = IngestReport()
    batch: list[Delivery] = []

    def write_dead_letters(dead_letters: list[dict[str, Any]]) -> None:
        if dead_letter_file is None:
            return
        dead_letter_file.parent.mkdir(parents=True, exist_ok=True)
        with dead_letter_file.open("a", encoding="utf-8") as out:
            for dead in dead_letters:
                out.write(json.dumps(dead, ensure_ascii=False, sort_keys=True) + "\n")

    def flush() -> None:
        result = apply_batch(ledger, batch, publish_dead_letters=write_dead_letters)
        report.add(result)
        report.dead_letter_ids.extend(dead["dead_letter_id"] for dead in result.dead_letters)
        batch.clear()

    for delivery in read_deliveries(path):
        report.lines += 1
        batch.append(delivery)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report
