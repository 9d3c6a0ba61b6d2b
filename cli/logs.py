"""structlog, configured once, here: JSON lines in production, console output on a terminal.

No line carries a person's id (``consumers.pseudonyms``: keyed pseudonyms in their place), and
nothing in a line can act on a terminal (``cli.terminal``). ``FUND_LEDGER_LOG_FILE``, if set, also
appends every line, as JSON, to that file (created 0600): a log kept beside the console's.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from cli.terminal import escape_log_values
from consumers.pseudonyms import Pseudonymiser

LOG_FILE_SETTING = "FUND_LEDGER_LOG_FILE"


def processors() -> list[structlog.typing.Processor]:
    """Every processor before the renderer: context, level, time, traceback, pseudonyms, escapes."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        Pseudonymiser(),
        escape_log_values,
    ]


def configure_logging(log_format: str = "auto", level: str = "info", log_file: str | None = None) -> None:
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    copy_to = log_file or os.environ.get(LOG_FILE_SETTING)
    chain = processors()
    if copy_to:
        chain.append(_CopyToFile(copy_to))
    chain.append(renderer)
    structlog.configure(
        processors=chain,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


class _CopyToFile:
    """A processor that appends the line, as JSON, to a file of its own, then passes it on."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: TextIO | None = None

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        try:
            if self._file is None:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._file = os.fdopen(descriptor, "a", encoding="utf-8", buffering=1)
            self._file.write(json.dumps(dict(event_dict), default=str, ensure_ascii=False) + "\n")
        except OSError:  # a log file that cannot be written never stops the command
            pass
        return event_dict
