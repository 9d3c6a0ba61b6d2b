"""A dead letter is resolved by its own message re-published from it and applied, never by a
header alone: ``republished-from`` is a record header any producer can set. It resolved the dead
letter it named whatever the message was (another producer's, another message id, a message
applied before the dead letter existed), so a forged header hid a real dead letter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consumers import dead_letters as dead_letters_module
from consumers.dead_letters import list_dead_letters
from consumers.handlers import Delivery, apply_batch
from consumers.refusals import MessageRefused
from ledger.application import Ledger

REGION = "210100"


def _message(message_id: str, type_name: str, payload: dict[str, Any], producer: str = "test", region: str = REGION) -> bytes:
    return json.dumps({"message_id": message_id, "producer": producer, "type": type_name, "schema_version": 1, "region": region,
                       "occurred_at": "2024-05-01T08:00:00+08:00", "payload": payload}).encode()


def _enrol(person_id: str, message_id: str | None = None, producer: str = "test") -> bytes:
    return _message(message_id or f"enrol-{person_id}", "person.enrolled", {
        "person_id": person_id, "category": "employee", "birth_date": "1980-01-01", "employer_id": "E1", "enrolled_on": "2024-01-01"},
        producer=producer)


def _claim(message_id: str, amount: object) -> bytes:
    return _message(message_id, "claim.outpatient", {"claim_id": message_id.upper(), "person_id": "P1", "kind": "outpatient",
                                                     "on": "2024-05-01", "amount_fen": amount})


def _delivery(value: bytes, offset: int, republished_from: str | None = None) -> Delivery:
    headers = (("republished-from", republished_from.encode()),) if republished_from else ()
    return Delivery(value=value, topic="stream", partition=0, offset=offset, headers=headers)


def _status(ledger: Ledger) -> dict[str, tuple[str, str | None]]:
    return {d["dead_letter_id"]: (d["status"], d.get("resolved_by")) for d in list_dead_letters(ledger)}


@pytest.fixture
def dead(store: Ledger) -> str:
    """A claim of 12.5 fen, dead-lettered at stream:0:1."""
    result = apply_batch(store, [_delivery(_enrol("P1"), 0), _delivery(_claim("op-3", 12.5), 1)])
    (dead_letter,) = result.dead_letters
    assert dead_letter["dead_letter_id"] == "stream:0:1"
    return "stream:0:1"


@pytest.mark.parametrize("forged", [
    _enrol("P2"),                                  # another message of the same producer
    _enrol("P2", message_id="op-3", producer="other"),  # the dead letter's message id, another producer
    _message("op-3", "person.enrolled", {"person_id": "P3", "category": "employee", "birth_date": "1980-01-01",
                                         "employer_id": "E1", "enrolled_on": "2024-01-01"}),  # its id, another type
], ids=["another-message", "another-producer", "another-type"])
def test_a_header_on_another_message_resolves_nothing(store: Ledger, dead: str, forged: bytes) -> None:
    (outcome,) = apply_batch(store, [_delivery(forged, 10, republished_from=dead)]).outcomes
    assert outcome.status == "applied"  # the message itself is applied: only the header is not believed
    assert _status(store) == {dead: ("open", None)}


def test_its_own_message_fixed_and_applied_resolves_it_once(store: Ledger, dead: str) -> None:
    fixed = _claim("op-3", 1250)
    (outcome,) = apply_batch(store, [_delivery(fixed, 10, republished_from=dead)]).outcomes
    assert outcome.status == "applied"
    assert _status(store) == {dead: ("resolved", "test/op-3")}
    (again,) = apply_batch(store, [_delivery(fixed, 11, republished_from=dead)]).outcomes  # sent twice: a duplicate
    assert again.status == "duplicate" and _status(store) == {dead: ("resolved", "test/op-3")}


def test_its_own_message_refused_again_resolves_nothing(store: Ledger, dead: str) -> None:
    (outcome,) = apply_batch(store, [_delivery(_claim("op-3", 2.5), 10, republished_from=dead)]).outcomes
    assert outcome.status == "dead_letter"
    assert _status(store) == {dead: ("open", None), "stream:0:10": ("open", None)}


def test_a_header_naming_a_position_not_yet_refused_resolves_nothing_later(store: Ledger) -> None:
    """Applied first, with the header naming the position where its own id will be refused (a
    conflicting payload): the dead letter recorded afterwards stays open."""
    apply_batch(store, [_delivery(_enrol("P1"), 0), _delivery(_claim("op-3", 300), 1, republished_from="stream:0:2")])
    (dead_letter,) = apply_batch(store, [_delivery(_claim("op-3", 301), 2)]).dead_letters
    assert dead_letter["code"] == "message_conflict"
    assert _status(store) == {"stream:0:2": ("open", None)}


def test_republish_refuses_a_fixed_message_that_is_not_the_dead_letters_own(store: Ledger, dead: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_broker(*_: Any, **__: Any) -> Any:
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(dead_letters_module, "producer", no_broker)
    with pytest.raises(MessageRefused) as refused:
        dead_letters_module.republish(store, dead, "127.0.0.1:1", fixed=_claim("op-4", 1250))
    assert (refused.value.code, refused.value.field) == ("not_its_message", "message_id")


def test_a_store_of_before_resolutions_were_recorded_is_read_with_the_same_checks(store: Ledger, dead: str,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages applied with the header before the resolution was recorded with them: only the
    dead letter's own message, applied after it, resolves it."""
    from consumers import handlers

    monkeypatch.setattr(handlers, "_record_republished", lambda *_: None)
    apply_batch(store, [_delivery(_enrol("P2"), 10, republished_from=dead)])
    assert _status(store) == {dead: ("open", None)}
    apply_batch(store, [_delivery(_claim("op-3", 1250), 11, republished_from=dead)])
    assert _status(store) == {dead: ("resolved", "test/op-3")}
