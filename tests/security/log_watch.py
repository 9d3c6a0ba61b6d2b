"""No log line of a whole test run carries a test person's id at info level or above.

``tests/conftest.py`` takes these hooks: from the start of a session every log line of every
fund-ledger process (the command line's subprocesses through ``FUND_LEDGER_LOG_FILE``, which they
inherit; this process through ``cli.logs``) is copied, as JSON, into one file; at its end the file
is read and the session fails if a line at info level or above holds an id of the shape the tests
give their people (``P1``, ``P000123``, ``P-EARLY``, the hostile payroll's ``PAYROLL-...``), naming
the lines. ``consumers.pseudonyms`` is what keeps them out.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOG_DIR = REPO / ".run" / "test-logs"
PERSON_ID = re.compile(r"(?<![A-Za-z0-9])(?:P[0-9]{1,7}|P-[A-Z]+|PAYROLL-[0-9]{5}-X+)(?![A-Za-z0-9])")
LEVELS = frozenset({"info", "warning", "error", "critical", "exception"})
MAX_SHOWN = 20


def log_file() -> Path:
    return LOG_DIR / f"session-{os.getpid()}.jsonl"


def start_watching() -> Path:
    from cli.logs import LOG_FILE_SETTING, configure_logging

    path = log_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.environ[LOG_FILE_SETTING] = str(path)
    configure_logging("json", "info")
    return path


def leaks(path: Path) -> list[str]:
    """The lines at info level or above that hold a test person's id."""
    found = []
    if not path.exists():
        return found
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if PERSON_ID.search(line) and _level(line) in LEVELS:
                found.append(line.strip()[:500])
    return found


def _level(line: str) -> str:
    try:
        entry: Any = json.loads(line)
    except ValueError:
        return ""
    return str(entry.get("level", "")) if isinstance(entry, dict) else ""


def pytest_configure(config: Any) -> None:
    if not hasattr(config, "workerinput"):
        config._fund_ledger_log_file = start_watching()


def pytest_runtest_setup(item: Any) -> None:
    """Every test starts logging at info (a test that runs the command line in this process may
    have set another level)."""
    if getattr(item.config, "_fund_ledger_log_file", None) is not None:
        from cli.logs import configure_logging

        configure_logging("json", "info")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = getattr(session.config, "_fund_ledger_log_file", None)
    if path is None:
        return
    found = leaks(path)
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"{len(found)} log line(s) at info level or above hold a test person's id (tests/security/log_watch.py):",
                                red=True)
            for line in found[:MAX_SHOWN]:
                reporter.write_line("  " + line)
        session.exitstatus = 1
    else:
        path.unlink(missing_ok=True)
