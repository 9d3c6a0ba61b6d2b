"""The watch over a whole run's logs (tests/security/log_watch.py) sees what it must."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from tests.security.log_watch import leaks


def test_a_person_id_at_info_or_above_is_a_leak_and_a_pseudonym_or_debug_line_is_not(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = [{"event": "message.handled", "level": "info", "message_id": "hr-P000123"},
             {"event": "message.dead_lettered", "level": "warning", "reason": "person 'P-EARLY' is not enrolled"},
             {"event": "message.dead_lettered.reason", "level": "debug", "reason": "person 'P1' is not enrolled"},
             {"event": "message.handled", "level": "info", "message_id": "hr-person:0123456789abcdef"},
             {"event": "region.opened", "level": "info", "region": "210100", "policy": "PBOC-2023-06"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [json.loads(line)["event"] for line in leaks(path)] == ["message.handled", "message.dead_lettered"]


def test_this_processs_lines_reach_the_watched_file() -> None:
    """The session copies every line of this process too (cli.logs, FUND_LEDGER_LOG_FILE)."""
    import os

    structlog.get_logger().info("log_watch.self_check", note="no person here")
    watched = Path(os.environ["FUND_LEDGER_LOG_FILE"])
    assert "log_watch.self_check" in watched.read_text()
