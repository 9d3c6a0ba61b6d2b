"""Reading a record's bytes before trusting any of them: the one place that turns raw bytes into
JSON, for the handlers, ``publish --raw`` and the dead-letter path alike.

The schemas (``consumers.schemas``) validate a message with pydantic, which reads JSON its own
way: a key given twice silently keeps its last value, and its parser has its own limits. So every
message is first read here, strictly, and refused with a reason when:

- it is larger than ``MAX_MESSAGE_BYTES`` (``too_large``);
- it is not UTF-8, or not JSON (``not_json``, with the position);
- an object repeats a key (``duplicate_key``): which of two amounts is the real one is not for
  the ledger to guess;
- it holds ``NaN``, ``Infinity`` or ``-Infinity`` (``non_finite_number``): not JSON, and not an
  amount;
- it holds a number of more than ``MAX_INTEGER_DIGITS`` digits (``invalid_schema``, naming its
  field): no field takes one, Python's conversion of an integer of more than 4,300 digits raises,
  and pydantic's reader calls a long fraction "out of range" (``not_json``, naming nothing);
  or, with a fraction or an exponent (read exactly, as a ``Decimal``, never a float), a whole
  part of more digits (``1e400``: it was refused as "got inf: a fraction of a fen") or a
  fraction of more places (``1e-400``, which a float read as 0);
- it nests deeper than Python's parser can recurse (``too_deep``): a line of a thousand ``[``
  used to raise ``RecursionError`` in every consumer that read it, again after every restart.
  The parser raises it cleanly, level by level, so it is caught here and becomes a refusal.
  (Anything nested but shallower is harmless: the parsed object is only looked at for its
  envelope, and the schemas refuse every structure they do not expect.)

Nothing here may raise anything but ``MessageRefused``: the dead-letter path calls it too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from consumers.refusals import MessageRefused
from consumers.schemas import MAX_MESSAGE_BYTES
from ledger.commands import MAX_AMOUNT_FEN

LOOSE_FIELD_CHARS = 128
# No field takes an integer of more digits (the largest amount, 10^13 fen, has 14); Python refuses
# to convert more than 4,300 (a ValueError that was once an internal_error), and slowly below that.
MAX_INTEGER_DIGITS = 100
_PRINTABLE_ASCII = re.compile(rf"^[\x20-\x7e]{{1,{LOOSE_FIELD_CHARS}}}$")


def printable(text: str, limit: int = LOOSE_FIELD_CHARS) -> str:
    """``text`` cut to ``limit`` characters with everything outside printable ASCII escaped
    (``\\x1b``, ``\\u202e``...): for names taken from a message nobody has validated."""
    escaped = text[:limit].encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in escaped)


def sha256_hex(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C; a key seen twice leaves the dict shorter than the pairs
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            name = printable(key)
            raise MessageRefused("duplicate_key", name, f"the key {name!r} appears twice in one object: which value is meant cannot be known")
        seen.add(key)
    raise AssertionError("unreachable: a shorter dict has a key seen twice")


def _refuse_constant(name: str) -> Any:
    raise MessageRefused("non_finite_number", "", f"{name} is not a number JSON allows, nor an amount")


class _LongNumber:
    """A number no field can take, in place of its value (never converted, or converted to no
    number): written with more than ``MAX_INTEGER_DIGITS`` digits (or characters, with a fraction
    or an exponent), or a float whose exponent puts it beyond a float's range (``1e400``, read as
    infinity) or below its smallest value (``1e-400``, read as 0)."""

    def __init__(self, text: str, reason: str | None = None) -> None:
        self.digits = len(text.lstrip("-"))
        self.reason = reason or ((f"a number of {self.digits} digits" if text.lstrip("-").isdigit() else
                                  f"a number written with {self.digits} characters") + f": no field takes more than {MAX_INTEGER_DIGITS}")
        self.context = {"digits": self.digits} if reason is None else {}


def _decimal(literal: str) -> Decimal | _LongNumber:
    """A number literal with a fraction or an exponent, read exactly (a ``Decimal``: no float, so
    nothing lost or rounded on the way), or why no field takes it: a whole part of more than
    ``MAX_INTEGER_DIGITS`` digits (``1e400``) or a fraction beyond as many places (``1e-400``), the
    bound of a long integer's digits."""
    value = Decimal(literal)
    if value and value.adjusted() >= MAX_INTEGER_DIGITS:
        return _LongNumber(literal, f"{literal} is too large to read as a number (an amount is a whole number of fen, at most "
                                    f"{MAX_AMOUNT_FEN})")
    if value and value.adjusted() < -MAX_INTEGER_DIGITS:
        return _LongNumber(literal, f"{literal} is a fraction too small to read: a fraction of a fen is refused, never rounded")
    return value


def _where(parsed: Any, wanted: _LongNumber) -> str:
    """The path of ``wanted`` in ``parsed`` (``payload.lines[3].wage_base_fen``), as a refusal's
    field; walked without recursion (a parsed message may nest as deep as the parser goes)."""
    stack: list[tuple[Any, str]] = [(parsed, "")]
    while stack:
        node, path = stack.pop()
        if node is wanted:
            return path
        if isinstance(node, dict):
            stack.extend((child, f"{path}.{printable(key)}" if path else printable(key)) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(node))
    return ""


def read_json(value: bytes) -> Any:
    """``value`` as JSON, read strictly (see the module's docstring). Raises ``MessageRefused``."""
    if len(value) > MAX_MESSAGE_BYTES:
        raise MessageRefused("too_large", "", f"{len(value)} bytes is above the limit of {MAX_MESSAGE_BYTES}", size=len(value))
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MessageRefused("not_json", "", f"not UTF-8 text: {error.reason} at byte {error.start}") from None
    long_numbers: list[_LongNumber] = []

    def parse_number(convert: Callable[[str], int | Decimal | _LongNumber]) -> Callable[[str], int | Decimal | _LongNumber]:
        def parse(literal: str) -> int | Decimal | _LongNumber:
            value = convert(literal) if len(literal.lstrip("-")) <= MAX_INTEGER_DIGITS else _LongNumber(literal)
            if isinstance(value, _LongNumber):
                long_numbers.append(value)
            return value
        return parse

    try:
        parsed = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant, parse_int=parse_number(int),
                            parse_float=parse_number(_decimal))
    except json.JSONDecodeError as error:
        raise MessageRefused("not_json", "", f"not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise MessageRefused("too_deep", "", "nested too deeply to read") from None
    except ValueError as error:  # nothing else is known to raise it; still a refusal, never a bug's trace
        raise MessageRefused("not_json", "", f"not readable as JSON: {printable(str(error), 200)}") from None
    if long_numbers:
        first = long_numbers[0]
        raise MessageRefused("invalid_schema", _where(parsed, first), first.reason, **first.context)
    return parsed


def read_json_leniently(value: bytes) -> Any:
    """``value`` as JSON if Python's parser reads it at all (duplicate keys and ``NaN`` included),
    else ``None``; for finding where a refused message came from, never for applying it. Never
    raises."""
    if len(value) > MAX_MESSAGE_BYTES:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def loose_envelope(value: bytes) -> dict[str, str]:
    """What can be read of an invalid message's envelope, to help find it (never trusted): short
    fields of printable ASCII only, the characters every valid id is made of. Never raises."""
    loose = read_json_leniently(value)
    if not isinstance(loose, dict):
        return {}
    return {name: loose[name] for name in ("message_id", "producer", "type", "region")
            if isinstance(loose.get(name), str) and _PRINTABLE_ASCII.match(loose[name])}
