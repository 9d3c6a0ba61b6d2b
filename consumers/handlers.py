"""Applying messages to the ledger: one batch, one transaction; one message, one command.

The same code serves the Kafka consumer and ``fund-ledger ingest``:

- a batch of deliveries (the records of one partition from one poll, or a slice of a file) runs in
  one ``UnitOfWork`` and is committed once, with the source position as a tracking record when
  there is one (``Tracking("<topic>:<partition>", offset + 1)``), so the events and the position
  are written in the same transaction or not at all;
- each delivery runs inside ``unit.command()``: validated, checked against the message ids seen
  before, applied by its use case, and recorded with its provenance and the events it caused
  (``Ledger.record_message``). A refused delivery is rolled back alone and becomes a dead letter,
  itself recorded in the same transaction (``Ledger.record_message`` under the source
  ``dead-letters``, keyed by its position), so a crash can neither lose nor double it.
"""

from __future__ import annotations

import base64
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import structlog
from eventsourcing.persistence import PersistenceError, Tracking
from pydantic import ValidationError

from adapters.collector import cyclic_gc_paused
from consumers import retries, schemas, wire
from consumers.contract import MESSAGE_TYPES
from consumers.faults import NO_FAULTS, Faults
from consumers.pseudonyms import bind_people, people_of
from consumers.publishers import check_publisher
from consumers.refusals import MessageRefused, refusal
from consumers.retries import RetryPlan
from consumers.save_behind import SaveBehind
from ledger.aggregates import BusinessRecord, PersonalAccount
from ledger.application import Ledger
from ledger.errors import LedgerError
from ledger.unit_of_work import UnitOfWork

logger = structlog.get_logger()

DEAD_LETTER_SOURCE = "dead-letters"
DEFERRED_SOURCE = "deferred"  # refusals tried again later (consumers.retries), each attempt once
assert {DEAD_LETTER_SOURCE, DEFERRED_SOURCE} == set(schemas.RESERVED_PRODUCERS), "no message may be recorded among them"
MAX_BATCH = 10_000
# A save of more events is split (each part with its own position): a 100,000-event save spends
# seconds serialising its rows inside its transaction, holding the events table's lock that long.
MAX_EVENTS_PER_SAVE = 20_000
SAVE_SIZE_CHECK_EVERY = 10  # deliveries between two counts of the pending events
# Deliveries are parsed and their aggregates fetched a window of this many bytes at a time (about
# 100 remittances of 200 lines: a save's worth), not a whole poll at once.
PARSE_WINDOW_BYTES = 1 << 20
MAX_KEY_CHARS = 256  # of a record's key or header names, as kept with a dead letter
# The header ``fund-ledger dead-letters --republish`` sends a fixed message with: the dead letter it
# replaces. Any producer can set it: it resolves that dead letter only if the message is its own.
REPUBLISHED_FROM = "republished-from"


# Each message runs in one ``UnitOfWork.command()``; the use case's own command joins it, so a
# failure anywhere (duplicate check, use case, provenance record) rolls back that message alone.
ConsumerUnit = UnitOfWork


@dataclass(frozen=True)
class Delivery:
    """One record to apply, with where it came from."""

    value: bytes
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    id_suffix: str = ""  # a file line's id also names its content: the file may change between runs
    # A file line too long to keep whole: ``value`` holds its beginning, these describe all of it.
    full_size_bytes: int | None = None
    full_sha256: str | None = None
    # A deferred message tried again (``consumers.retries``): which attempt, and its first position.
    retry_attempt: int = 0
    origin_id: str | None = None

    @property
    def position_id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}{self.id_suffix}"

    @property
    def dead_letter_id(self) -> str:
        """A message's identity as a refusal: its first position, however often it was retried."""
        return self.origin_id or self.position_id

    @property
    def origin_topic(self) -> str:
        """The topic the record was first published on (a retried one's origin): whose owner sent it."""
        return self.origin_id.rsplit(":", 2)[0] if self.origin_id else self.topic

    @property
    def size_bytes(self) -> int:
        return self.full_size_bytes if self.full_size_bytes is not None else len(self.value)

    @property
    def sha256(self) -> str:
        return self.full_sha256 or wire.sha256_hex(self.value)

    @property
    def is_truncated(self) -> bool:
        return self.size_bytes != len(self.value)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


@dataclass
class Outcome:
    status: str  # "applied" | "duplicate" | "dead_letter" | "deferred"
    delivery: Delivery
    message_id: str | None = None
    type: str | None = None
    region: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    dead_letter: dict[str, Any] | None = None
    deferral: dict[str, Any] | None = None  # a refusal to try again (``consumers.retries``)


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    events: int

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        return [outcome.dead_letter for outcome in self.outcomes if outcome.dead_letter is not None]

    @property
    def deferred(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.deferral is not None]


@dataclass
class BatchTally:
    """Totals over the batches a consumer or an ingest has applied."""

    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    deferred: int = 0
    events: int = 0
    batches: int = 0
    dead_letter_codes: Counter[str] = field(default_factory=Counter)

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.events += result.events
        self.applied += result.count("applied")
        self.duplicates += result.count("duplicate")
        self.deferred += result.count("deferred")
        for dead in result.dead_letters:
            self.dead_letters += 1
            self.dead_letter_codes[dead["code"]] += 1


def apply_batch(
    ledger: Ledger,
    deliveries: Sequence[Delivery],
    *,
    tracking_name: str | None = None,
    publish_dead_letters: Callable[[list[dict[str, Any]]], None] | None = None,
    retry_plan: RetryPlan | None = None,
    schedule_retries: Callable[[list[Outcome]], None] | None = None,
    faults: Faults = NO_FAULTS,
    saves: SaveBehind | None = None,
    on_saved: SaveCounted | None = None,
) -> BatchResult:
    """Apply ``deliveries`` in as few transactions as ``MAX_EVENTS_PER_SAVE`` allows (usually one),
    each with the position after its last delivery; dead letters are handed to
    ``publish_dead_letters`` and deferred messages to ``schedule_retries`` *before* their
    transaction commits (docs/messages.md, "Dead letters"). Without a ``retry_plan`` nothing is
    deferred: a refusal is final at once.

    Each save is committed before this returns, unless ``saves`` is given: it is then handed to
    ``saves`` (``consumers.save_behind``), written while the caller goes on, and ``on_saved`` is
    called with its part of the batch and the offset of its last delivery once it is written. An
    error raised here may then be the save before this batch's, of another partition.

    Python's cyclic garbage collector is paused until the batch is written and its events freed
    (``adapters.collector``)."""
    assert 0 < len(deliveries) <= MAX_BATCH, len(deliveries)
    assert saves is None or on_saved is not None, "a save written behind is counted by on_saved"
    if tracking_name is not None:
        offsets = [d.offset for d in deliveries]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), "one partition, in order"
    how = _BatchSettings(tracking_name, publish_dead_letters, retry_plan, schedule_retries, faults, saves, on_saved)
    unit = ConsumerUnit(ledger)
    with cyclic_gc_paused():
        try:
            return _apply_batch(ledger, unit, deliveries, how)
        except BaseException:
            unit.discard()  # what the failed part changed leaves memory too: the next try starts from the store
            raise


SaveCounted = Callable[["BatchResult", int], None]


@dataclass(frozen=True)
class _BatchSettings:
    tracking_name: str | None
    publish_dead_letters: Callable[[list[dict[str, Any]]], None] | None
    retry_plan: RetryPlan | None
    schedule_retries: Callable[[list[Outcome]], None] | None
    faults: Faults
    saves: SaveBehind | None
    on_saved: SaveCounted | None


def _apply_batch(ledger: Ledger, unit: UnitOfWork, deliveries: Sequence[Delivery], how: _BatchSettings) -> BatchResult:
    retry_plan, faults = how.retry_plan, how.faults
    result = BatchResult([], 0)
    pending: list[Outcome] = []
    index = -1
    for window in _parse_windows(deliveries):
        _prefetch(ledger, unit, [message for _, message in window])
        for at, (delivery, message) in enumerate(window):
            index += 1
            pending.append(apply_delivery(ledger, unit, delivery, message, retry_plan))
            faults.reached("kill_after_messages")
            is_last = index == len(deliveries) - 1
            if is_last or (index % SAVE_SIZE_CHECK_EVERY == 0 and unit.pending_event_count >= MAX_EVENTS_PER_SAVE):
                structlog.contextvars.clear_contextvars()
                dead_letters = [o.dead_letter for o in pending if o.dead_letter is not None]
                if dead_letters and how.publish_dead_letters is not None:
                    how.publish_dead_letters(dead_letters)
                deferred = [o for o in pending if o.deferral is not None]
                if deferred and how.schedule_retries is not None:
                    how.schedule_retries(deferred)
                faults.reached("kill_before_commit")
                result.events += _save(unit, pending, delivery.offset, how)
                result.outcomes += pending
                pending = []
                if at + 1 < len(window):  # what the rest of the window touches, up to date, in one query
                    _prefetch(ledger, unit, [message for _, message in window[at + 1:]])
    return result


def _save(unit: UnitOfWork, pending: list[Outcome], last_offset: int, how: _BatchSettings) -> int:
    """Commit the unit's save with the position after ``last_offset``, or hand it to ``how.saves``."""
    tracking = Tracking(how.tracking_name, last_offset + 1) if how.tracking_name is not None else None
    if how.saves is None:
        return unit.commit(tracking=tracking)
    prepared = unit.prepare(tracking=tracking)
    part, on_saved = BatchResult(list(pending), prepared.events), how.on_saved
    assert on_saved is not None
    how.saves.submit(prepared, lambda: on_saved(part, last_offset))
    return prepared.events


def _parse_windows(deliveries: Sequence[Delivery]) -> Iterator[list[tuple[Delivery, schemas.Envelope | None]]]:
    """The deliveries in windows of about ``PARSE_WINDOW_BYTES`` (at least one delivery each),
    each parsed only when the one before it is done: a poll of 500 remittances of 200 lines
    never has its 100,000 lines parsed and built into commands at once, so the consumer's memory
    is bounded by the window and the save, not by how many records one poll happened to bring."""
    start = 0
    while start < len(deliveries):
        end, window_bytes = start, 0
        while end < len(deliveries) and (end == start or window_bytes + len(deliveries[end].value) <= PARSE_WINDOW_BYTES):
            window_bytes += len(deliveries[end].value)
            end += 1
        yield [(delivery, _parse_quietly(delivery)) for delivery in deliveries[start:end]]
        start = end


def _parse_quietly(delivery: Delivery) -> schemas.Envelope | None:
    """The envelope, if the delivery parses (``apply_delivery`` reports why one does not)."""
    try:
        return _parse(delivery)
    except Exception:  # noqa: BLE001 - refused properly, with its reason, when applied
        return None


def _prefetch(ledger: Ledger, unit: UnitOfWork, messages: Sequence[schemas.Envelope | None]) -> None:
    """Load what the batch will touch in one round trip: its message records and the accounts and
    business records its commands name. A message that cannot be built is left to be refused."""
    commands: list[Any] = []
    seen: list[tuple[str, str]] = []
    for message in messages:
        if message is None:
            continue
        seen.append((message.producer, message.message_id))
        try:
            commands.append(MESSAGE_TYPES[message.type].build(message, schemas.payload_of(message)))
        except Exception:  # noqa: BLE001 - refused properly, with its reason, when applied
            continue
    ledger.prefetch(unit, commands, messages=seen)


def apply_delivery(ledger: Ledger, unit: ConsumerUnit, delivery: Delivery, parsed: schemas.Envelope | None = None,
                   retry_plan: RetryPlan | None = None) -> Outcome:
    """Apply one delivery inside its own command; a refusal becomes a recorded dead letter, or a
    recorded deferral when time may cure it and ``retry_plan`` has attempts left."""
    started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    bind_people(())
    structlog.contextvars.bind_contextvars(topic=delivery.topic, partition=delivery.partition, offset=delivery.offset)
    message: schemas.Envelope | None = None
    try:
        message = parsed if parsed is not None else _parse(delivery)
        structlog.contextvars.bind_contextvars(message_id=message.message_id, region=message.region, type=message.type)
        # Their ids never reach a log line (consumers.pseudonyms): the people the message is about,
        # or, for one about nobody, an enrolled person's id its producer put in its message id.
        bind_people(people_of(schemas.payload_of(message)) or _people_named_by_id(unit, message))
        check_publisher(delivery.origin_topic, message.type, message.producer)  # before its id can count as seen
        with unit.command():
            outcome = _apply(ledger, unit, message, delivery)
    except PersistenceError:
        raise
    except (MessageRefused, ValidationError, LedgerError) as error:
        outcome = _refused(ledger, unit, delivery, message, error, retry_plan)
    except Exception as error:  # a bug in a use case: see consumers.refusals
        logger.exception("message.internal_error")
        outcome = _refused(ledger, unit, delivery, message, error, None)
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    if outcome.dead_letter is not None:
        dead = outcome.dead_letter
        # The reason may quote personal data (a birth date): at debug level only; the store has it.
        logger.warning("message.dead_lettered", code=dead["code"], field=dead["field"], duration_ms=duration_ms)
        logger.debug("message.dead_lettered.reason", reason=dead["reason"])
    elif outcome.deferral is not None:
        deferral = outcome.deferral
        logger.info("message.deferred", code=deferral["code"], field=deferral["field"], attempt=deferral["retry_attempt"],
                    duration_ms=duration_ms)
    else:
        logger.info("message.handled", status=outcome.status, duration_ms=duration_ms)
    return outcome


ID_TOKENS = re.compile(r"[^-_:/.@#\s]+")
MAX_ID_TOKENS = 8


def _people_named_by_id(unit: ConsumerUnit, message: schemas.Envelope) -> list[str]:
    """The enrolled people of the message's region whose id is its message id, or a part of it
    between separators (``P2``, ``interest-P2``): a message about nobody (a fund's, a budget's)
    still names them there if its producer chose so. Read only for such messages: one read of their
    keys together, none for a key the batch has found missing already."""
    candidates = [message.message_id, *ID_TOKENS.findall(message.message_id)[:MAX_ID_TOKENS]]
    account_ids = {PersonalAccount.id_for(message.region, person_id): person_id for person_id in candidates}
    unit.prefetch(account_ids)  # one read for them all; the unit remembers the misses for the batch's next messages
    return [person_id for account_id, person_id in account_ids.items() if unit.find(account_id, PersonalAccount) is not None]


def _parse(delivery: Delivery) -> schemas.Envelope:
    return read_message(delivery.value, delivery.size_bytes)


def read_message(value: bytes, size_bytes: int | None = None) -> schemas.Envelope:
    """The message, read strictly (``consumers.wire``), then validated by its schema: as the
    consumer reads it, for ``publish`` and ``dead-letters --republish`` to check what they send.
    ``size_bytes``: the whole original's, when ``value`` is its beginning. Raises
    ``MessageRefused`` or ``pydantic.ValidationError``."""
    size_bytes = len(value) if size_bytes is None else size_bytes
    if size_bytes > schemas.MAX_MESSAGE_BYTES:
        raise MessageRefused("too_large", "", f"{size_bytes} bytes is above the limit of {schemas.MAX_MESSAGE_BYTES}", size=size_bytes)
    wire.read_json(value)
    return schemas.parse_message(value)


def _apply(ledger: Ledger, unit: ConsumerUnit, message: schemas.Envelope, delivery: Delivery) -> Outcome:
    digest = schemas.message_digest(message)
    outcome = Outcome("applied", delivery, message.message_id, message.type, message.region)
    first = ledger.seen_message(unit, message.producer, message.message_id, digest)
    if first is not None:
        outcome.status, outcome.result = "duplicate", first
        if delivery.retry_attempt:  # a deferred message another delivery of it has applied meanwhile
            _record_resolution(ledger, unit, delivery, message, digest)
        return outcome
    kind = MESSAGE_TYPES[message.type]
    use_case = getattr(ledger, kind.use_case, None)
    if use_case is None:
        raise MessageRefused("unsupported_type", "type", f"this build of the ledger has no use case {kind.use_case!r} for {message.type!r}",
                             type=message.type)
    command = kind.build(message, schemas.payload_of(message))
    before = unit.pending_versions()
    with unit.reported(message.occurred_at):
        result = use_case(command, unit=unit)
    caused = unit.events_since(before)
    outcome.result = _jsonable(result) if isinstance(result, dict) else {}
    ledger.record_message(unit, message.producer, message.message_id, digest, message.occurred_at.date(),
                          provenance=_provenance(delivery, message), caused=caused, outcome=outcome.result)
    republished_from = delivery.header(REPUBLISHED_FROM)
    if republished_from:
        _record_republished(ledger, unit, republished_from, message, digest)
    return outcome


def _provenance(delivery: Delivery, message: schemas.Envelope | None) -> dict[str, Any]:
    provenance: dict[str, Any] = {"topic": delivery.topic, "partition": delivery.partition, "offset": delivery.offset,
                                  "key": wire.printable(delivery.key.decode(errors="replace"), MAX_KEY_CHARS) if delivery.key else None}
    if message is not None:
        provenance.update(message_id=message.message_id, producer=message.producer, type=message.type, region=message.region)
    else:
        provenance.update(wire.loose_envelope(delivery.value))
    republished_from = delivery.header(REPUBLISHED_FROM)
    if republished_from:
        provenance["republished_from"] = wire.printable(republished_from)
    if delivery.retry_attempt:
        provenance.update(retry_attempt=delivery.retry_attempt, first_position=delivery.dead_letter_id)
    return provenance


def _refused(ledger: Ledger, unit: UnitOfWork, delivery: Delivery, message: schemas.Envelope | None,
             error: BaseException, retry_plan: RetryPlan | None) -> Outcome:
    """Record a refused delivery in the batch's transaction, once: as a deferral to try again
    (``consumers.retries``) or as a dead letter.

    Nothing here may stop a consumer: if the full record cannot be built (whatever the message
    holds), a minimal one is (position, size, digest, the original bytes, reason ``unreadable``).
    """
    now = datetime.now(UTC)
    try:
        record = _dead_letter_record(delivery, message, refusal(error), now)
    except Exception as failure:  # noqa: BLE001 - see the docstring
        logger.error("dead_letter.unreadable", error=wire.printable(f"{type(failure).__name__}: {failure}", 300))
        record = _minimal_dead_letter(delivery, now)
    provenance = record["provenance"]
    outcome = Outcome("dead_letter", delivery, provenance.get("message_id"), provenance.get("type"), provenance.get("region"))
    if retry_plan is not None and record["code"] in retries.RETRIABLE_CODES and delivery.retry_attempt < retry_plan.attempts:
        attempt = delivery.retry_attempt + 1
        record.update(retry_attempt=attempt, retry_in_s=retry_plan.delay_s(attempt))
        outcome.status, outcome.deferral = "deferred", record
        _record_refusal(ledger, unit, DEFERRED_SOURCE, f"{delivery.dead_letter_id}#{attempt}", record, now)
    else:
        outcome.dead_letter = record
        _record_refusal(ledger, unit, DEAD_LETTER_SOURCE, delivery.dead_letter_id, record, now)
    return outcome


def _record_refusal(ledger: Ledger, unit: UnitOfWork, source: str, record_id: str, record: dict[str, Any], now: datetime) -> None:
    kind = "dead_letter" if source == DEAD_LETTER_SOURCE else "deferred"
    try:
        with unit.command():
            if ledger.seen_message(unit, source, record_id, record["sha256"]) is None:
                ledger.record_message(unit, source, record_id, record["sha256"], now.date(),
                                      provenance=record["provenance"], caused=[], outcome={kind: record})
            else:
                record["already_recorded"] = True
    except LedgerError as conflict:  # the same position with other bytes: a topic deleted and created again
        logger.error(f"{kind}.position_conflict", **conflict.as_dict())
        record["already_recorded"] = True


def _record_resolution(ledger: Ledger, unit: UnitOfWork, delivery: Delivery, message: schemas.Envelope, digest: str) -> None:
    """Close a deferral whose attempt found its message already applied (another delivery of it
    landed first): recorded under ``DEFERRED_SOURCE`` as ``<first position>#resolved``, naming the
    message, so ``fund-ledger dead-letters`` shows it resolved, not retrying for ever. Once."""
    record_id = f"{delivery.dead_letter_id}#resolved"
    resolution = {"dead_letter_id": delivery.dead_letter_id, "resolved_by": f"{message.producer}/{message.message_id}",
                  "as": "duplicate", "retry_attempt": delivery.retry_attempt}
    try:
        with unit.command():
            if ledger.seen_message(unit, DEFERRED_SOURCE, record_id, digest) is None:
                ledger.record_message(unit, DEFERRED_SOURCE, record_id, digest, datetime.now(UTC).date(),
                                      provenance=_provenance(delivery, message), caused=[], outcome={"resolved": resolution})
    except LedgerError as conflict:  # the same first position with another message: a topic deleted and created again
        logger.error("deferred.resolution_conflict", **conflict.as_dict())


def _refused_record(unit: UnitOfWork, dead_letter_id: str) -> dict[str, Any] | None:
    """What the store keeps of the refusal ``dead_letter_id`` names: its dead letter, else its
    first deferral (a message still being retried may be re-published too); ``None`` if neither."""
    for source, record_id, kind in ((DEAD_LETTER_SOURCE, dead_letter_id, "dead_letter"),
                                    (DEFERRED_SOURCE, f"{dead_letter_id}#1", "deferred")):
        record = unit.find(BusinessRecord.id_for("message", source, record_id), BusinessRecord)
        if record is not None and isinstance(record.outcome, dict) and isinstance(record.outcome.get(kind), dict):
            refused: dict[str, Any] = record.outcome[kind]
            return refused
    return None


def is_own_message(refused_provenance: dict[str, Any], producer: str, message_id: str, message_type: str | None,
                   region: str | None) -> bool:
    """Whether a message (``producer``/``message_id``, its type and region) is the refused one
    whose provenance is given: the same producer and message id (which the refusal must have),
    and the same type and region where the refusal has them (an original may lack either)."""
    if (refused_provenance.get("producer"), refused_provenance.get("message_id")) != (producer, message_id):
        return False
    return all(refused_provenance.get(name) in (None, given) for name, given in (("type", message_type), ("region", region)))


def _record_republished(ledger: Ledger, unit: UnitOfWork, dead_letter_id: str, message: schemas.Envelope, digest: str) -> None:
    """Resolve the dead letter an applied message says it was re-published from (header
    ``republished-from``), in the message's own transaction, if it is that dead letter's message:
    recorded, like it, before (the store has it) and with the same producer and message id (and
    type and region, where the dead letter has them). Any producer can set a header: one naming another message's dead letter, or one not
    yet refused, resolves nothing (it is logged). Recorded once, under ``DEAD_LETTER_SOURCE`` as
    ``<dead letter id>#resolved``."""
    dead_letter_id = wire.printable(dead_letter_id, MAX_KEY_CHARS)
    refused = _refused_record(unit, dead_letter_id)
    provenance = refused.get("provenance") if refused is not None else None
    if not isinstance(provenance, dict) or not is_own_message(provenance, message.producer, message.message_id, message.type,
                                                                message.region):
        logger.warning("message.republished_from_ignored", dead_letter_id=dead_letter_id,
                       reason="no such refusal" if refused is None else "the refusal is of another message")
        return
    resolution = {"dead_letter_id": dead_letter_id, "resolved_by": f"{message.producer}/{message.message_id}", "as": "republished"}
    try:
        with unit.command():
            if ledger.seen_message(unit, DEAD_LETTER_SOURCE, f"{dead_letter_id}#resolved", digest) is None:
                ledger.record_message(unit, DEAD_LETTER_SOURCE, f"{dead_letter_id}#resolved", digest, datetime.now(UTC).date(),
                                      provenance={"republished_from": dead_letter_id}, caused=[], outcome={"resolved": resolution})
    except LedgerError as conflict:  # resolved already by another payload of the same message id: cannot be (it would conflict)
        logger.error("dead_letter.resolution_conflict", **conflict.as_dict())


def _dead_letter_record(delivery: Delivery, message: schemas.Envelope | None, reason: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the store keeps of a refused delivery: the reason, where it came from, and the
    original bytes and headers (``schemas.DeadLetterRecord``)."""
    return {
        "dead_letter_id": delivery.dead_letter_id, **reason,
        "provenance": _provenance(delivery, message),
        "headers": [[wire.printable(key, MAX_KEY_CHARS), base64.b64encode(value).decode()] for key, value in delivery.headers],
        **_original(delivery),
        "dead_lettered_at": now.isoformat(),
    }


def _minimal_dead_letter(delivery: Delivery, now: datetime) -> dict[str, Any]:
    return {
        "dead_letter_id": delivery.dead_letter_id, "code": "unreadable", "field": "",
        "reason": "the message could not be read well enough to say more", "context": {},
        "provenance": {"topic": delivery.topic, "partition": delivery.partition, "offset": delivery.offset},
        "headers": [], **_original(delivery), "dead_lettered_at": now.isoformat(),
    }


def _original(delivery: Delivery) -> dict[str, Any]:
    original: dict[str, Any] = {"value_b64": base64.b64encode(delivery.value).decode(), "size_bytes": delivery.size_bytes,
                                "sha256": delivery.sha256}
    if delivery.is_truncated:
        original["value_truncated"] = True
    return original


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, bool, float)) or value is None:
        return value
    return str(value)
