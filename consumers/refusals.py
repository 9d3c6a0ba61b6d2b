"""The one place where a refused message becomes a dead-letter reason.

Every reason has the same shape as ``LedgerError.as_dict()``: ``code`` (stable, machine-readable),
``field`` (where in the message), ``reason`` (a sentence for a person) and ``context``.

What is a refusal (dead-lettered, the consumer goes on) and what is not (the batch is retried):

- not JSON, not UTF-8, too large, failing its schema: ``not_json``, ``invalid_schema``;
- any ``LedgerError``: its own code (``unknown_person``, ``declared_total_mismatch``, ...);
- a message id seen before with another payload: ``message_conflict``;
- a type whose use case this build does not have: ``unsupported_type``;
- any other exception raised while applying one message (a bug in a use case): ``internal_error``,
  logged with its traceback. Dead-lettering it keeps the bytes and lets the rest of the stream
  through; halting the whole region's ingestion on one poisonous message would be worse.
- **not** a refusal: storage and broker failures (``eventsourcing.persistence.PersistenceError``,
  ``kafka.errors.KafkaError``). They abort the batch, which is retried from the recorded position.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ledger.errors import DuplicateBusinessId, LedgerError


class MessageRefused(Exception):
    """A refusal found at the edge (before or around the ledger)."""

    def __init__(self, code: str, field: str, reason: str, **context: Any) -> None:
        self.code = code
        self.field = field
        self.reason = reason
        self.context = context
        super().__init__(f"{code}: {field}: {reason}")


def refusal(error: BaseException) -> dict[str, Any]:
    """The dead-letter reason for ``error``."""
    if isinstance(error, MessageRefused):
        return {"code": error.code, "field": error.field, "reason": error.reason, "context": _plain(error.context)}
    if isinstance(error, ValidationError):
        return _validation_refusal(error)
    if isinstance(error, DuplicateBusinessId) and error.field == "message_id":
        return {**error.as_dict(), "code": "message_conflict",
                "reason": "this message id was already applied with a different payload"}
    if isinstance(error, LedgerError):
        return error.as_dict()
    if isinstance(error, UnicodeDecodeError):
        return {"code": "not_json", "field": "", "reason": f"not UTF-8 text: {error.reason} at byte {error.start}", "context": {}}
    return {"code": "internal_error", "field": "", "reason": f"{type(error).__name__}: {error}"[:500], "context": {}}


def _validation_refusal(error: ValidationError) -> dict[str, Any]:
    details = error.errors(include_url=False)
    first = details[0] if details else {"type": "", "loc": (), "msg": str(error)}
    if first["type"] == "json_invalid":
        return {"code": "not_json", "field": "", "reason": first["msg"], "context": {}}
    field = _field_path(tuple(first["loc"]))
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):  # the discriminator: the message's type
        field = "type"
    reason = _reason(first)
    given = first.get("input")
    if field.endswith("_fen") and isinstance(given, float):
        reason = (f"must be a whole number of fen, got {given!r}: a fraction of a fen is refused, never rounded"
                  if not given.is_integer() else  # 100.0, 1e20: never read as an integer either (a float may have lost the fen)
                  f"must be a whole number of fen written as an integer, got {given!r}: a number with a point or an exponent is "
                  "refused, never converted")
    problems = [{"field": _field_path(tuple(d["loc"])), "reason": _reason(d)} for d in details[:20]]
    return {"code": "invalid_schema", "field": field, "reason": reason, "context": {"errors": problems, "error_count": len(details)}}


def _reason(detail: Any) -> str:
    """Pydantic's message, in words where it would only quote a regular expression."""
    if detail["type"] == "string_pattern_mismatch":
        return _PATTERN_REASONS.get(str((detail.get("ctx") or {}).get("pattern")), detail["msg"])
    return str(detail["msg"])


def _pattern_reasons() -> dict[str, str]:
    from consumers import schemas

    return {
        schemas.TEXT_PATTERN: "must not contain control characters (terminal escapes, NUL, tabs, line breaks, U+2028/U+2029) or bidirectional overrides",
        schemas.OPTIONAL_TEXT_PATTERN: "must not contain control characters (terminal escapes, NUL, tabs, line breaks, U+2028/U+2029) or "
                                       "bidirectional overrides",
        schemas.ID_PATTERN: "must be ASCII letters, digits and . _ : - only, beginning with a letter or digit",
        schemas.REGION_PATTERN: "must be a 6-digit region code",
        schemas.PERIOD_PATTERN: "must be a month YYYY-MM of a year from 1990 to 2200",
    }


_PATTERN_REASONS = _pattern_reasons()


def _field_path(loc: tuple[int | str, ...]) -> str:
    """``('claim.outpatient', 'payload', 'lines', 3, 'wage_base_fen')`` -> ``payload.lines[3].wage_base_fen``.

    The first element of a discriminated union's location is the type tag: it is left out."""
    parts = list(loc)
    if parts and isinstance(parts[0], str) and "." in parts[0]:
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)
