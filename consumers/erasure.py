"""Erasing a person: the ledger records it (``ledger.erasure``), then every key of their data goes.

What a person's data is encrypted under (``adapters.crypto``):

- their own key (``person/<account id>``): the personal fields of their events, the fingerprints
  and personal fields of the records about them;
- the key of each refused message that names them (``dead-letter/...``): the original, its reason
  and digest, in the store and in the dead-letter file. Such a message may name others too (a
  remittance's lines): its content goes for all of them, its refusal (code, field, provenance)
  stays.

Destroying them is final. Nothing else changes: the events, the chain, every amount.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.crypto import ERASED, PersonalDataMapper, dead_letter_key_id, person_key_id, unsealed_personal_fields
from consumers import wire
from consumers.dead_letters import list_dead_letters
from consumers.pseudonyms import people_of
from ledger.aggregates import PersonalAccount
from ledger.erasure import ErasePerson, erase_person
from ledger.settings import SettingsError


@dataclass
class Erasure:
    region: str
    person_id: str
    recorded: dict[str, Any]
    person_key_destroyed: bool = False
    dead_letters: list[str] = field(default_factory=list)
    unsealed: list[str] = field(default_factory=list)  # fields recorded in clear, before encryption: not erasable

    def as_dict(self) -> dict[str, Any]:
        found = {**self.recorded, "person_key": "destroyed" if self.person_key_destroyed else "already destroyed",
                 "dead_letters_erased": self.dead_letters}
        if self.unsealed:
            found["not_erasable"] = {"fields": self.unsealed[:50], "why": "recorded in clear before this ledger encrypted "
                                     "personal data: the events are append-only and chained, so they stay as they are"}
        return found


def names_person(dead: dict[str, Any], region: str, person_id: str) -> bool:
    """Whether a refused message (opened) is about ``person_id`` of ``region``: its routing key,
    or its payload's ``person_id`` or lines, read leniently."""
    provenance = dead.get("provenance") or {}
    if provenance.get("key") == f"{region}/{person_id}":
        return True
    value = dead.get("value_b64")
    if not isinstance(value, str) or value == ERASED:
        return False
    try:
        loose = wire.read_json_leniently(base64.b64decode(value))
    except (ValueError, binascii.Error):
        return False
    return isinstance(loose, dict) and loose.get("region") == region and person_id in people_of(loose.get("payload"))


def erase(ledger: Any, region: str, person_id: str, *, dry_run: bool = False) -> Erasure:
    """Record the erasure (if the retention period allows it), then destroy the keys; with
    ``dry_run``, only say whether it may and what it would destroy."""
    mapper = ledger.mapper
    if not isinstance(mapper, PersonalDataMapper) or mapper.keys is None:
        raise SettingsError("erase-person needs the ledger's key store (FUND_LEDGER_KEYS): the keys are what it destroys")
    today = datetime.now(UTC).date()
    recorded = erase_person(ledger, ErasePerson(region, person_id, today), dry_run=dry_run)
    erasure = Erasure(region, person_id, recorded)
    erasure.dead_letters = [dead["dead_letter_id"] for dead in list_dead_letters(ledger) if names_person(dead, region, person_id)]
    erasure.unsealed = unsealed_personal_fields(ledger.recorder, PersonalAccount.id_for(region, person_id))
    if dry_run:
        return erasure
    erasure.person_key_destroyed = mapper.keys.destroy(person_key_id(region, person_id))
    for dead_letter_id in erasure.dead_letters:
        mapper.keys.destroy(dead_letter_key_id(dead_letter_id))
    return erasure
