"""What a user checks after a run of the hostile catalogue, through ingest or through Kafka."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from consumers.dead_letters import list_dead_letters
from ledger.application import Ledger
from tests.hostile.catalogue import EXPECTED, REGION, Line


def applied_message_ids(ledger: Ledger, producer: str = "hostile-suite") -> set[str]:
    return {event.business_key for _, event in ledger.stored_events()
            if type(event).__qualname__ == "BusinessRecord.Recorded" and event.kind == "message" and event.region == producer}


def message_id_of(line: Line) -> str:
    return str(json.loads(line.value)["message_id"])


def check_outcomes(ledger: Ledger, lines: list[Line], refusal_of: dict[int, dict[str, Any]]) -> None:
    """Every line as the catalogue says: applied (or acknowledged as a duplicate) with no open
    dead letter, or dead-lettered with its code, field and original bytes (a line kept in part:
    its true size and digest). ``refusal_of`` maps a line's index to its dead letter."""
    applied = applied_message_ids(ledger)
    for index, line in enumerate(lines):
        dead = refusal_of.get(index)
        if line.expect in ("applied", "duplicate"):
            assert dead is None or dead["status"] == "resolved", (index, line.note, dead and dead["code"])
            assert message_id_of(line) in applied, (index, line.note)
            continue
        assert dead is not None, f"line {index} ({line.note or line.expect}) was not dead-lettered"
        assert (dead["code"], dead["status"]) == (line.expect, "open"), (index, line.note, dead["code"], dead["reason"])
        if line.field is not None:
            assert dead["field"] == line.field, (index, line.note, dead["field"], dead["reason"])
        assert dead["reason"], index
        assert dead["size_bytes"] == len(line.value) and dead["sha256"] == hashlib.sha256(line.value).hexdigest(), index
        kept = base64.b64decode(dead["value_b64"])
        assert kept == line.value if not dead.get("value_truncated") else line.value.startswith(kept), index


def check_books(ledger: Ledger) -> None:
    for person_id, balance_fen in EXPECTED["balances_fen"].items():
        assert ledger.personal_account(REGION, person_id).balance_fen == balance_fen, person_id
    assert ledger.pooled_fund(REGION).balance_fen == EXPECTED["pooled_fen"]
    assert sum(ledger.trial_balance().values()) == 0


def dead_letters_by_position(ledger: Ledger) -> dict[str, dict[str, Any]]:
    return {dead["dead_letter_id"]: dead for dead in list_dead_letters(ledger)}
