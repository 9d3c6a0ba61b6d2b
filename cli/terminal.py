"""What the command line prints never drives the terminal it is printed on.

Message ids, producers, reasons and keys can come from a message nobody has validated; printed
raw, an escape sequence in one changed a window's title and cleared the screen. Every character
that a terminal acts upon (C0 and C1 controls but line feed and tab, DEL, and the bidirectional
overrides that reorder what is shown) is written as ``\\uXXXX`` instead: readable, and in JSON
output a valid escape of the same character.
"""

from __future__ import annotations

import io
import re
from collections.abc import MutableMapping
from typing import Any, TextIO

_ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    return _ACTIVE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class SafeStream(io.TextIOBase):
    """A text stream that escapes active characters in everything written to it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def escape_log_values(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: active characters in string values escaped (see the module)."""
    return {key: escape_controls(value) if isinstance(value, str) else value for key, value in event_dict.items()}
