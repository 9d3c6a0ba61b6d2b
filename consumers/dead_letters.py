"""Dead letters as the ledger's store keeps them, and re-publishing a fixed message.

The store is the truth (each dead letter is recorded in the transaction of its batch, keyed by
its position); the ``ledger.dead-letters`` topic is the notification. A dead letter counts as
resolved once a message re-published from it (header ``republished-from``) has been applied.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from eventsourcing.utils import get_topic

from adapters.crypto import ERASED, SEALED
from consumers import contract
from consumers.handlers import DEAD_LETTER_SOURCE, DEFERRED_SOURCE, read_message
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
    next attempt due: ``consumers.retries``), or "resolved" by the message that replaced it (one
    re-published from it, or its own later attempt, applied or found applied by another delivery
    of it)."""
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
        elif event.region == DEFERRED_SOURCE and isinstance(outcome.get("resolved"), dict):  # its attempt found it applied
            resolution = outcome["resolved"]
            resolved[resolution["dead_letter_id"]] = resolution["resolved_by"]
        else:
            provenance = outcome.get("provenance") or {}
            for origin in (provenance.get("republished_from"), provenance.get("first_position")):
                if origin:
                    resolved[origin] = f"{event.region}/{event.business_key}"
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
    ledger's rules is for the consumer to say (it may be dead-lettered again, with a new id)."""
    dead = find_dead_letter(ledger, dead_letter_id)
    if fixed is None and dead["value_b64"] in (ERASED, SEALED):  # adapters.crypto: no key here, or none left
        raise MessageRefused("original_unreadable", "dead_letter_id", f"its original is {dead['value_b64']}: give the fixed message "
                             "with --file", dead_letter_id=dead_letter_id)
    value = fixed if fixed is not None else base64.b64decode(dead["value_b64"])
    value = value.strip()
    message = read_message(value)  # as the consumer reads it; raises MessageRefused or ValidationError: fix it with --file
    topic, key = contract.route(message, topic_prefix)
    kafka = producer(bootstrap)
    try:
        (sent,) = send_all(kafka, [(topic, key, value, [("republished-from", dead_letter_id.encode())])])
    finally:
        kafka.close(timeout=10)
    return sent
