"""``fund-ledger publish`` streams its file: it read the whole file into memory (and split it
into a list of lines) before it looked at its line limit, so a file far past the limit was held
whole before being refused, and a file within it was held whole while being sent."""

from __future__ import annotations

import argparse
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from cli import publish
from consumers import contract
from ledger.errors import InvalidInput

CLAIM = json.dumps(contract.MESSAGE_TYPES["claim.outpatient"].example).encode()


def _args(path: Path) -> argparse.Namespace:
    return argparse.Namespace(file=path, bootstrap_servers="127.0.0.1:1", topic_prefix="", partitions=3, raw=False, fallback_topic=None)


def test_a_file_past_the_limit_is_refused_without_being_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "MAX_LINES", 100)
    path = tmp_path / "long.jsonl"
    with path.open("wb") as out:
        out.write((CLAIM + b"\n") * 101)
        out.write((b"x" * 1023 + b"\n") * 64 * 1024)  # 64 MB more, past the limit
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput) as refused:
            publish.run(_args(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.field == "file"
    assert peak < 8 << 20, f"{peak / 1e6:.1f} MB held to refuse a file past the limit"


def test_a_file_within_the_limit_is_sent_a_chunk_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "MAX_LINES", 100)
    monkeypatch.setattr(publish, "SEND_CHUNK_RECORDS", 30, raising=False)  # (absent before: one send of the whole file)
    path = tmp_path / "ok.jsonl"
    path.write_bytes((CLAIM + b"\r\n") * 99 + b"\n  \n" + CLAIM)  # blank lines do not count, CRLF ends are not sent
    chunks: list[list[Any]] = []

    def send_all(_kafka: Any, records: list[Any]) -> list[Any]:
        chunks.append(list(records))
        return [argparse.Namespace(topic=topic) for topic, *_ in records]

    class Kafka:
        def close(self, timeout: float) -> None:
            pass

    monkeypatch.setattr(publish, "bootstrap_servers", lambda given: "127.0.0.1:1")
    monkeypatch.setattr(publish, "ensure_topics", lambda *_, **__: None)
    monkeypatch.setattr(publish, "producer", lambda _: Kafka())
    monkeypatch.setattr(publish, "send_all", send_all)
    assert publish.run(_args(path)) == 0
    assert [len(chunk) for chunk in chunks] == [30, 30, 30, 10]
    assert {record[2] for chunk in chunks for record in chunk} == {CLAIM}
