"""Dead letters as the ledger's store keeps them, and re-publishing a fixed message.

The store is the truth (each dead letter is recorded in the transaction of its batch, keyed by
its position); the ``ledger.dead-letters`` topic is the notification. A dead letter counts as
resolved once its own message (same producer, message id, type and region), re-published from it
(header ``republished-from``), has been applied; a header alone, which any producer can set,
resolves nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from eventsourcing.utils import get_topic

from adapters.crypto import ERASED, SEALED
from consumers import contract
from consumers.handlers import DEAD_LETTER_SOURCE, DEFERRED_SOURCE, REPUBLISHED_FROM, is_own_message, read_message
from consumers.kafka_io import Sent, producer, send_all
from consumers.refusals import MessageRefused
from ledger.aggregates import BusinessRecord
from ledger.application import Ledger

PAGE = 1000
MAX_PAGES = 1_000_000  # a bound on the scan: a billion events


def _message_records(ledger: Ledger) -> Iterator[Any]:
    """Every message record (applied or dead-lettered), oldest first."""
    topic = get_topic(BusinessRecord.Recorded)
    start = 1
    for _ in range(MAX_PAGES):
        notifications = ledger.recorder.select_notifications(start=start, limit=PAGE, topics=[topic])
        if not notifications:
            return
        for notification in notifications:
            event = ledger.mapper.to_domain_event(notification)
            if getattr(event, "kind", None) == "message":
                yield event
        start = notifications[-1].id + 1


def list_dead_letters(ledger: Ledger) -> list[dict[str, Any]]:
    """Every refused message with ``status``: "open" (dead-lettered), "retrying" (deferred, its
    next attempt due: ``consumers.retries``), or "resolved" by the message that replaced it: its
    own later attempt, applied or found applied by another delivery of it, or its own message
    re-published from it and applied (``handlers._record_republished``: a header naming it is not
    enough)."""
    refused: dict[str, dict[str, Any]] = {}
    resolved: dict[str, str] = {}
    for event in _message_records(ledger):
        outcome = event.outcome if isinstance(event.outcome, dict) else {}
        # The refusals' sources are reserved (``schemas.RESERVED_PRODUCERS``), but a store may hold
        # a message applied under one of their names before they were: told apart by its outcome.
        if event.region == DEAD_LETTER_SOURCE and isinstance(outcome.get("dead_letter"), dict):
            refused[event.business_key] = {**outcome["dead_letter"], "status": "open"}
        elif event.region == DEFERRED_SOURCE and isinstance(outcome.get("deferred"), dict):
            deferral = outcome["deferred"]
            if refused.get(deferral["dead_letter_id"], {}).get("status") != "open":
                refused[deferral["dead_letter_id"]] = {**deferral, "status": "retrying"}
        elif event.region in (DEAD_LETTER_SOURCE, DEFERRED_SOURCE) and isinstance(outcome.get("resolved"), dict):
            resolution = outcome["resolved"]  # checked when recorded: its own message, applied or found applied
            resolved[resolution["dead_letter_id"]] = resolution["resolved_by"]
        else:
            provenance = outcome.get("provenance") or {}
            # An applied attempt of a deferred message; or, in a store of before resolutions were
            # recorded, a message applied with the header republished-from: either resolves only a
            # refusal already recorded, of this very message.
            for origin in (provenance.get("first_position"), provenance.get("republished_from")):
                earlier = refused.get(origin) if isinstance(origin, str) else None
                if isinstance(origin, str) and earlier is not None and is_own_message(earlier.get("provenance") or {}, event.region, event.business_key,
                                                          provenance.get("type"), provenance.get("region")):
                    resolved.setdefault(origin, f"{event.region}/{event.business_key}")
    for key, dead in refused.items():
        if key in resolved:
            dead.update(status="resolved", resolved_by=resolved[key])
    return list(refused.values())


def find_dead_letter(ledger: Ledger, dead_letter_id: str) -> dict[str, Any]:
    for dead in list_dead_letters(ledger):
        if dead["dead_letter_id"] == dead_letter_id:
            return dead
    raise MessageRefused("unknown_dead_letter", "dead_letter_id", f"no dead letter {dead_letter_id!r}", dead_letter_id=dead_letter_id)


def republish(ledger: Ledger, dead_letter_id: str, bootstrap: str, *, fixed: bytes | None = None, topic_prefix: str = "") -> Sent:
    """Send the dead letter's message again (or ``fixed`` in its place) to its type's topic, with
    the header ``republished-from``. The message must now pass its schema; whether it passes the
    ledger's rules is for the consumer to say (it may be dead-lettered again, with a new id).

    The message must be the dead letter's own (its producer, message id, type and region, as far
    as they could be read from the original), or its being applied would not resolve the dead
    letter (``handlers._record_republished``): another message is refused (``not_its_message``),
    to be sent with ``fund-ledger publish``. A dead letter whose producer or message id could not
    be read (not JSON) may be re-published, but stays open."""
    dead = find_dead_letter(ledger, dead_letter_id)
    if fixed is None and dead["value_b64"] in (ERASED, SEALED):  # adapters.crypto: no key here, or none left
        raise MessageRefused("original_unreadable", "dead_letter_id", f"its original is {dead['value_b64']}: give the fixed message "
                             "with --file", dead_letter_id=dead_letter_id)
    value = fixed if fixed is not None else base64.b64decode(dead["value_b64"])
    value = value.strip()
    message = read_message(value)  # as the consumer reads it; raises MessageRefused or ValidationError: fix it with --file
    _check_own_message(dead, message)
    topic, key = contract.route(message, topic_prefix)
    kafka = producer(bootstrap)
    try:
        (sent,) = send_all(kafka, [(topic, key, value, [(REPUBLISHED_FROM, dead_letter_id.encode())])])
    finally:
        kafka.close(timeout=10)
    return sent


def _check_own_message(dead: dict[str, Any], message: Any) -> None:
    provenance = dead.get("provenance") or {}
    given = {"producer": message.producer, "message_id": message.message_id, "type": message.type, "region": message.region}
    known = {name: provenance.get(name) for name in given if provenance.get(name) is not None}
    for name, value in known.items():
        if value != given[name]:
            raise MessageRefused("not_its_message", name, f"the dead letter's {name} is {value!r}, not {given[name]!r}: a message "
                                 "re-published from it must be its own (send another message with fund-ledger publish)",
                                 dead_letter_id=dead["dead_letter_id"])
