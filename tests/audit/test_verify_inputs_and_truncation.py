"""``verify`` fails a log whose live projection was built past its end (events removed from the
tail: the prefix's chain is intact and the books balance), and refuses a bad anchor file as a
user's error naming the file and the field (exit 2), never an internal error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.errors import InvalidInput
from projections.anchors import load_anchor_file
from projections.verify import Verifier
from tests.audit.sqlite_file import scenario_file, verify_command

HASH = "0" * 64


class _ProjectionAt:
    """A projection store as ``compare_projection`` reads it, built through ``position``."""

    def __init__(self, position: int) -> None:
        self._position = position

    def position(self, prefix: str) -> int:
        return self._position

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return []


def _compared(env: dict[str, str], ahead_by: int) -> Any:
    ledger = Ledger(env=env)
    try:
        verifier = Verifier(ledger)
        result = verifier.run()
        verifier.compare_projection(_ProjectionAt((ledger.recorder.max_notification_id() or 0) + ahead_by))  # type: ignore[arg-type]
        return result
    finally:
        ledger.close()


def test_a_projection_ahead_of_the_log_fails_verify(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    result = _compared(env, 2)
    assert not result.passed
    (text,) = result.violations["projection ahead of the log"]
    assert "events were removed from the end of the log" in text


def test_a_projection_behind_the_log_is_a_note(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    result = _compared(env, -3)
    assert result.passed and any("not compared" in note for note in result.notes)


@pytest.mark.parametrize(("content", "says"), [
    (b'{"position": 1e400, "chain_hash": "' + HASH.encode() + b'"}\n', "line 1 is not an anchor (position must be a whole number"),
    (b'{"position": 2.5, "chain_hash": "' + HASH.encode() + b'"}\n', "line 1 is not an anchor (position must be a whole number"),
    (b'{"position": true, "chain_hash": "' + HASH.encode() + b'"}\n', "line 1 is not an anchor (position must be a whole number"),
    (b'{"position": 99999999999999999999999, "chain_hash": "' + HASH.encode() + b'"}\n', "line 1 is not an anchor (position must be at most"),
    (b"\xff\xfe\x00bad\n", "is not UTF-8 text"),
], ids=["1e400", "2.5", "true", "beyond 64 bits", "not UTF-8"])
def test_a_bad_anchor_file_is_a_users_error_naming_the_file(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "anchors.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as refused:
        load_anchor_file(path)
    assert refused.value.field == "anchors"
    assert str(path) in refused.value.reason and says in refused.value.reason


def test_verify_exits_2_on_an_anchor_file_that_is_not_text(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    (tmp_path / "anchors.jsonl").write_bytes(b"\xff\xfe\x00bad\n")
    done = verify_command(env, tmp_path, "--anchors", str(tmp_path / "anchors.jsonl"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: anchors: {tmp_path / 'anchors.jsonl'} is not UTF-8 text")
