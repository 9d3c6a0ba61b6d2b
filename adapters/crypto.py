"""Personal data encrypted field by field, with a key per person: what can be erased.

The ledger's events keep personal data: a person's birth date, employer and pension, the free
text of an inheritance (``heirs_reference``, which can carry names and ID numbers), and what a
refused message held. The mapper here (``PersonalDataMapper``, the ledger's mapper) encrypts those
fields, and only those, before an event is stored: each with AES-256-GCM under the key of the
person it is about (``adapters.keys``), the key's id and the field's place bound in as associated
data. Amounts, postings, business dates and ids stay as they were, so projections, ``verify``,
``trace`` and the hash chain (``adapters.chain``, which covers the stored bytes, ciphertext
included) work without any key.

Erasure destroys a person's key: their fields then read as ``ERASED``, for ever, and every event
and every hash of the chain stays as it was. A process without keys (``FUND_LEDGER_KEYS=none``:
finance, auditors) reads them as ``SEALED``.

What is encrypted, keyed on attributes (like ``projections.fold``), never on event classes:

- ``PERSONAL_FIELDS`` of any event, under the key of its person: the event's own aggregate when it
  is a personal account's, else the account its ``person_id`` names in its ``region`` (or
  ``from_region``: a transfer);
- of a record of a business id (``outcome`` and ``kind``): the ``fingerprint`` (a digest of a
  message or command, which a dictionary of birth dates would otherwise open) and the outcome's
  ``PERSONAL_FIELDS``, under the key of the person the outcome names;
- of a snapshot: its ``PERSONAL_FIELDS`` sealed together as one value (``SNAPSHOT_FIELD``), with a
  digest of the rest, under the key of its person (a personal account's) or the ledger's
  snapshot key (any other's): a snapshot is loaded only if that opens and the digest matches;
- of a refused message's record (``outcome.dead_letter``, ``outcome.deferred``): the original
  bytes, headers, reason, context and digest, and the record's fingerprint, under a key of the
  refused message's own (``dead-letter/...``), which ``erase-person`` destroys when the message
  names the person; the same sealing serves the dead-letter file of ``fund-ledger ingest``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic

from adapters.keys import KeyStore, key_store_from_env
from ledger.aggregates import PersonalAccount
from ledger.errors import SnapshotUnusable
from ledger.settings import SettingsError
from ledger.snapshots import SNAPSHOT_CLASS_TOPICS, why_not_loaded, why_not_restored

SEALED_TAG = "aes-256-gcm/v1"
ERASED = "[erased]"  # the key was destroyed: the value can never be read again
SEALED = "[encrypted]"  # this process has no keys (FUND_LEDGER_KEYS=none)
# ``employer_history`` is a personal account's own list of (date, employer id), in its snapshots.
PERSONAL_FIELDS = ("birth_date", "employer_id", "employer_history", "pension_fen", "heirs_reference")
# A snapshot's seal: its personal fields and the digest of the rest, under this name (its place
# in the associated data), with the person's key or, for an aggregate of no one, the ledger's.
SNAPSHOT_FIELD = "personal_fields"
SNAPSHOT_PLACE = "snapshot.personal_fields"
LEDGER_SNAPSHOT_KEY = "snapshots/ledger"
DEAD_LETTER_FIELDS = ("value_b64", "headers", "reason", "context", "sha256")
REFUSAL_KINDS = ("dead_letter", "deferred")
NONCE_BYTES = 12
TAG_BYTES = 16  # AES-GCM's
# Ciphers kept per process, one per key used: about 2.4 KB each (OpenSSL's context), so a bound of
# 100,000 held 240 MiB in every process of a year-end run; a batch or an interest chunk uses a
# few thousand keys, and making a cipher again costs microseconds.
MAX_CIPHERS = 10_000
PERSONAL_ACCOUNT_TOPIC = get_topic(PersonalAccount)
# The owner key of a value in an event that names no person (``open_event``): the ledger never
# seals a value there, so any sealed value found there was moved from another event.
NOBODY = "(no person: the ledger seals nothing here)"


@lru_cache(maxsize=100_000)
def person_key_id(region: str, person_id: str) -> str:
    """The key of a person's personal fields: one per personal account (region + person id)."""
    return f"person/{PersonalAccount.id_for(region, person_id)}"


def account_key_id(account_id: UUID | str) -> str:
    return f"person/{account_id}"


def snapshot_key_id(aggregate_topic: str, originator_id: Any, state: Mapping[str, Any]) -> str:
    """The key a snapshot is sealed under: its person's, or the ledger's for an aggregate of no one."""
    return _event_key_id(aggregate_topic + ".", originator_id, state) or LEDGER_SNAPSHOT_KEY


def dead_letter_key_id(dead_letter_id: str) -> str:
    """The key of a refused message (all its attempts): its own, destroyed with the person it names."""
    return "dead-letter/" + hashlib.sha256(dead_letter_id.encode()).hexdigest()[:32]


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get("sealed") == SEALED_TAG


class Sealer:
    """Seals one value (AES-256-GCM, a fresh 96-bit nonce each time) and opens it again."""

    def __init__(self, transcoder: Transcoder, keys: KeyStore | None) -> None:
        self.transcoder = transcoder
        self.keys = keys
        self._ciphers: dict[bytes, AESGCM] = {}

    def seal(self, key_id: str, place: str, value: Any) -> dict[str, Any]:
        """``value`` encrypted under ``key_id``; if that key was destroyed, nothing of it is kept."""
        if self.keys is None:
            raise SettingsError("this process has no key store (FUND_LEDGER_KEYS=none) and cannot record personal data")
        key = self.keys.get_or_create(key_id)
        if key is None:
            return {"sealed": SEALED_TAG, "key": key_id, "dropped": True}
        nonce = os.urandom(NONCE_BYTES)
        plaintext = self.transcoder.encode({"v": value})
        ciphertext = self._cipher(key).encrypt(nonce, plaintext, associated_data(key_id, place))
        return {"sealed": SEALED_TAG, "key": key_id, "data": base64.b64encode(nonce + ciphertext).decode()}

    def open(self, sealed: dict[str, Any], place: str, owner_key: str | None = None) -> Any:
        """The value, or ``ERASED`` (key destroyed, or the value dropped) or ``SEALED`` (no keys
        here). Raises ``SettingsError`` if the key exists but does not open it (a wrong key file),
        or if ``owner_key`` (the key the value's event seals under) is given and the value names
        another: a value copied from another person's event, which its own key would open."""
        if self.keys is None:
            return SEALED
        key_id = str(sealed.get("key"))
        if owner_key == NOBODY:
            raise SettingsError(f"the sealed value at {place} (under the key {key_id}) is in an event that names no person, where "
                                "the ledger never seals a value: it was moved from another person's event")
        if owner_key is not None and key_id != owner_key:
            raise SettingsError(f"the sealed value at {place} is under the key {key_id}, not its event's own {owner_key}: "
                                "it was moved from another person's event")
        key = None if sealed.get("dropped") else self.keys.get(key_id)
        if key is None:
            if sealed.get("dropped") or self.keys.is_destroyed(key_id):
                return ERASED
            raise SettingsError(f"the key store has no key {key_id}, and none was destroyed: a key file of another ledger? "
                                "(FUND_LEDGER_KEYS; FUND_LEDGER_KEYS=none reads without keys)")
        raw = _sealed_bytes(sealed, key_id, place)
        try:
            plaintext = self._cipher(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(key_id, place))
        except InvalidTag:
            raise SettingsError(f"the key {key_id} does not open the value at {place}: a wrong key file, or the value was altered") from None
        return self.transcoder.decode(plaintext)["v"]

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            if len(self._ciphers) >= MAX_CIPHERS:
                self._ciphers.clear()
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher


def _sealed_bytes(sealed: Mapping[str, Any], key_id: str, place: str) -> bytes:
    """A sealed value's nonce and ciphertext; ``SettingsError`` if its data is not what
    ``Sealer.seal`` writes (base64 text of a nonce and at least a tag): the value was altered."""
    data = sealed.get("data")
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
    except ValueError:  # binascii.Error
        raw = b""
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise SettingsError(f"the value at {place} under the key {key_id} is not a sealed value the ledger wrote: it was altered")
    return raw


def _uuid_or_text(value: Any) -> Any:
    """An originator id as it was when sealed (a UUID), whichever form the store returned it in."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        return value


def associated_data(key_id: str, place: str) -> bytes:
    """Bound into the ciphertext: a value moved to another field or under another key fails."""
    return f"fund-ledger/sealed/v1|{key_id}|{place}".encode()


# ---------------------------------------------------------------------------- which fields, whose key
def _person_of_outcome(state: Mapping[str, Any], outcome: Mapping[str, Any]) -> tuple[str, str] | None:
    """(region, person id) a record's outcome is about, if one person."""
    person_id = outcome.get("person_id")
    if state.get("kind") == "death" and not person_id:
        person_id = state.get("business_key")
    # A message's record is kept under its source (a producer); the region is in its provenance.
    region = (outcome.get("provenance") or {}).get("region") if state.get("kind") == "message" else state.get("region")
    if isinstance(person_id, str) and isinstance(region, str) and person_id and region:
        return region, person_id
    return None


def _event_key_id(topic: str, originator_id: Any, state: Mapping[str, Any]) -> str | None:
    if topic.startswith(PERSONAL_ACCOUNT_TOPIC + "."):
        return account_key_id(originator_id)
    region = state.get("region") or state.get("from_region")
    person_id = state.get("person_id")
    if isinstance(region, str) and isinstance(person_id, str):
        return person_key_id(region, person_id)
    return None


def _refusal(outcome: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    for kind in REFUSAL_KINDS:
        record = outcome.get(kind)
        if isinstance(record, dict) and isinstance(record.get("dead_letter_id"), str):
            return kind, record
    return None


class FieldPolicy:
    """Seals and opens the personal fields of an event's state (see the module's docstring)."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def seal_event(self, topic: str, originator_id: Any, state: dict[str, Any], version: int | None = None) -> dict[str, Any]:
        """``state`` with its personal fields sealed (a new dict where anything changes: the
        event's own dicts are the aggregate's too). ``version``: the event's (a snapshot's is
        bound into its seal)."""
        if isinstance(state.get("state"), dict) and isinstance(state.get("topic"), str):  # a snapshot
            inner = self._seal_snapshot(state["topic"], originator_id, version, state["state"])
            return state if inner is state["state"] else {**state, "state": inner}
        present = [name for name in PERSONAL_FIELDS if name in state]
        outcome = state.get("outcome")
        if isinstance(outcome, dict) and "kind" in state:
            state = self._seal_record(state, outcome)
        if not present:
            return state
        key_id = _event_key_id(topic, originator_id, state)
        if key_id is None:
            raise AssertionError(f"{topic} holds personal fields {present} but names no person: add its subject to adapters.crypto")
        return {**state, **{name: self.sealer.seal(key_id, name, state[name]) for name in present}}

    def _seal_snapshot(self, topic: str, originator_id: Any, version: int | None, state: dict[str, Any]) -> dict[str, Any]:
        """A snapshot sealed (``SNAPSHOT_FIELD``): its personal fields together, as one value,
        and a digest of the rest with whose and which version it is (``snapshot_digest``), under
        the person's key for a personal account's, the ledger's snapshot key for any other's. One
        encryption a snapshot. A snapshot is loaded only if its key opens that and the digest
        matches (``open_snapshot``), so no one without the key store can make one up or alter one
        (a balance, a month paid) and have the ledger act on it."""
        present = [name for name in PERSONAL_FIELDS if name in state]
        key_id = snapshot_key_id(topic, originator_id, state)
        if present and key_id == LEDGER_SNAPSHOT_KEY:
            raise AssertionError(f"{topic} holds personal fields {present} but names no person: add its subject to adapters.crypto")
        kept = {name: value for name, value in state.items() if name not in present}
        digest = self.snapshot_digest(topic, originator_id, version, kept)
        sealed = self.sealer.seal(key_id, SNAPSHOT_PLACE, {"fields": {name: state[name] for name in present}, "digest": digest})
        return {**kept, SNAPSHOT_FIELD: {**sealed, "fields": present}}

    def snapshot_digest(self, topic: str, originator_id: Any, version: int | None, kept: dict[str, Any]) -> str:
        """SHA-256 of what a snapshot keeps in clear, with whose and which version it is. The
        values are written by orjson as they come (its own forms for dates and times; a value it
        does not know, e.g. an account's movements, in the stored JSON's form): the same values
        give the same bytes, whether just taken or read back, at a third of the stored JSON's cost."""
        head = f"fund-ledger/snapshot/v1|{topic}|{originator_id}|{version}|".encode()
        return hashlib.sha256(head + orjson.dumps(kept, default=self._digest_default)).hexdigest()

    def _digest_default(self, value: Any) -> str:
        return self.sealer.transcoder.encode(value).decode()

    def open_snapshot(self, topic: str, originator_id: Any, version: int, state: dict[str, Any]) -> None:
        """A snapshot's sealed fields put back in its state, in place, once its key and digest
        are checked; raises ``SnapshotUnusable`` otherwise."""
        who = {"originator_id": str(originator_id), "version": version}
        sealed = state.pop(SNAPSHOT_FIELD, None)
        if not is_sealed(sealed):
            raise SnapshotUnusable("unsealed", "a snapshot without its seal", **who)
        if sealed.get("key") != snapshot_key_id(topic, originator_id, state):
            raise SnapshotUnusable("altered", "sealed under another key than its aggregate's", **who)
        try:
            opened = self.sealer.open(sealed, SNAPSHOT_PLACE)
        except SettingsError as refused:  # a seal its key does not open, or no seal at all: not the ledger's
            raise SnapshotUnusable("altered", f"its seal does not open: {refused}", **who) from None
        if not isinstance(opened, dict):
            raise SnapshotUnusable("unreadable", f"its seal reads {opened!r}", **who)
        digest = self.snapshot_digest(topic, originator_id, version, state)
        if not hmac.compare_digest(digest, str(opened.get("digest"))) or not isinstance(opened.get("fields"), dict):
            raise SnapshotUnusable("altered", "what it keeps in clear is not what was sealed with it", **who)
        state.update(opened["fields"])

    def _seal_record(self, state: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
        refusal = _refusal(outcome)
        if refusal is not None:
            kind, record = refusal
            key_id = dead_letter_key_id(record["dead_letter_id"])
            sealed_record = self.seal_refusal(record, key_id)
            return {**state, "fingerprint": self.sealer.seal(key_id, "fingerprint", state.get("fingerprint")),
                    "outcome": {**outcome, kind: sealed_record}}
        person = _person_of_outcome(state, outcome)
        if person is None:
            return state
        key_id = person_key_id(*person)
        personal = {f"outcome.{name}": name for name in PERSONAL_FIELDS if name in outcome}
        return {**state, "fingerprint": self.sealer.seal(key_id, "fingerprint", state.get("fingerprint")),
                "outcome": {**outcome, **{name: self.sealer.seal(key_id, place, outcome[name]) for place, name in personal.items()}}}

    def seal_refusal(self, record: Mapping[str, Any], key_id: str | None = None) -> dict[str, Any]:
        """A refused message's record with its content sealed (the store's and the dead-letter file's)."""
        key_id = key_id or dead_letter_key_id(record["dead_letter_id"])
        return {**record, **{name: self.sealer.seal(key_id, f"refusal.{name}", record[name])
                             for name in DEAD_LETTER_FIELDS if name in record}}

    def open_refusal(self, record: dict[str, Any]) -> dict[str, Any]:
        owner = dead_letter_key_id(record["dead_letter_id"]) if isinstance(record.get("dead_letter_id"), str) else None
        for name in DEAD_LETTER_FIELDS:
            if is_sealed(record.get(name)):
                record[name] = self.sealer.open(record[name], f"refusal.{name}", owner)
        return record

    def open_event(self, state: dict[str, Any], topic: str | None = None, originator_id: Any = None) -> None:
        """Open, in place, every sealed value of a decoded state (a fresh dict of the mapper's).
        Given the event's ``topic`` and ``originator_id``, each value must be sealed under the
        key ``seal_event`` seals it under (its person's, its refused message's): a value moved
        from another person's event is refused (``SettingsError``), not opened under the other
        person's key. The stored format is unchanged: the key is found as it was when sealed."""
        inner = state.get("state")
        if isinstance(inner, dict) and isinstance(state.get("topic"), str):  # (a snapshot is opened by aggregate_from_snapshot)
            # A state inside a state: only under the key a snapshot of that aggregate is sealed
            # under (its person's), and nothing at all when the event is not named (``topic`` None).
            inner_owner = NOBODY if topic is None else snapshot_key_id(state["topic"], _uuid_or_text(originator_id), inner)
            self._open_fields(inner, inner_owner if inner_owner != LEDGER_SNAPSHOT_KEY else NOBODY, NOBODY)
        owner = None if topic is None else (_event_key_id(topic, _uuid_or_text(originator_id), state) or NOBODY)
        record_owner = None if topic is None else (self._record_key_id(state, state.get("outcome")) or NOBODY)
        self._open_fields(state, owner, record_owner)

    def _open_fields(self, state: dict[str, Any], owner: str | None, record_owner: str | None) -> None:
        """``open_event``'s work on one state: its personal fields under ``owner``, a record's
        fingerprint and outcome under ``record_owner`` (``None``: not checked; ``NOBODY``: any
        sealed value refused), a refused message's under its own key."""
        for name in PERSONAL_FIELDS:
            if is_sealed(state.get(name)):
                state[name] = self.sealer.open(state[name], name, owner)
        outcome = state.get("outcome")
        if is_sealed(state.get("fingerprint")):
            state["fingerprint"] = self.sealer.open(state["fingerprint"], "fingerprint", record_owner)
        if isinstance(outcome, dict):
            for name in PERSONAL_FIELDS:
                if is_sealed(outcome.get(name)):
                    outcome[name] = self.sealer.open(outcome[name], f"outcome.{name}", record_owner)
            for kind in REFUSAL_KINDS:
                if isinstance(outcome.get(kind), dict):
                    self.open_refusal(outcome[kind])

    @staticmethod
    def _record_key_id(state: Mapping[str, Any], outcome: Any) -> str | None:
        """The key a record's fingerprint and outcome are sealed under (``_seal_record``)."""
        if not isinstance(outcome, dict) or "kind" not in state:
            return None
        refusal = _refusal(outcome)
        if refusal is not None:
            return dead_letter_key_id(refusal[1]["dead_letter_id"])
        person = _person_of_outcome(state, outcome)
        return None if person is None else person_key_id(*person)


# ---------------------------------------------------------------------------- the mapper and the event store
class PersonalDataMapper(Mapper[UUID]):
    """The library's mapper, with ``FieldPolicy`` between an event's attributes and its
    transcoding: sealed on the way in, opened on the way out."""

    def __init__(self, transcoder: Transcoder, keys: KeyStore | None, **kwargs: Any) -> None:
        super().__init__(transcoder, **kwargs)
        self.keys = keys
        self.policy = FieldPolicy(Sealer(transcoder, keys))

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(self.policy.seal_event(topic, originator_id, event_state, originator_version))
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version, topic=topic, state=stored_state)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        self.policy.open_event(domain_event.__dict__, stored_event.topic, stored_event.originator_id)
        return domain_event

    def warm_keys(self, aggregate_ids: Iterable[UUID]) -> None:
        """Read ahead, in a few queries, the keys of the personal accounts among ``aggregate_ids``
        (about to be read cold: their snapshots and events are sealed under them), where the key
        store can (``SQLiteKeyStore.warm``); ids of other aggregates simply find no key."""
        warm = getattr(self.keys, "warm", None)
        if warm is not None:
            warm(account_key_id(aggregate_id) for aggregate_id in aggregate_ids)

    def aggregate_from_snapshot(self, stored: StoredEvent) -> Aggregate:
        """The aggregate a stored snapshot holds, if it may be loaded (``ledger.snapshots``);
        raises ``SnapshotUnusable`` otherwise, whatever is wrong with it."""
        who = {"originator_id": str(stored.originator_id), "version": stored.originator_version}
        if stored.topic not in SNAPSHOT_CLASS_TOPICS:
            raise SnapshotUnusable("altered", f"{stored.topic!r} is not a snapshot's topic", **who)
        try:
            snapshot = Mapper.to_domain_event(self, stored)  # decoded; nothing opened yet
        except Exception as error:  # noqa: BLE001 (whatever the row holds)
            raise SnapshotUnusable.of(error, stored.originator_id, stored.originator_version) from None
        state, topic = getattr(snapshot, "state", None), getattr(snapshot, "topic", None)
        if not isinstance(state, dict) or not isinstance(topic, str):
            raise SnapshotUnusable("altered", "not the shape of a snapshot", **who)
        misplaced = why_not_loaded(topic, stored.originator_id, state)
        if misplaced is not None:
            raise SnapshotUnusable("altered", misplaced, **who)
        self.policy.open_snapshot(topic, stored.originator_id, stored.originator_version, state)
        try:
            aggregate = snapshot.mutate(None)  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001
            raise SnapshotUnusable.of(error, stored.originator_id, stored.originator_version) from None
        wrong = why_not_restored(aggregate, stored.originator_id, stored.originator_version)
        if wrong is not None:
            raise SnapshotUnusable("outdated" if wrong.startswith("outdated") else "altered", wrong, **who)
        return aggregate  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def keys_made_together(self) -> Iterator[None]:
        """New keys of the events mapped inside the block are written (and synced) once, at its end."""
        if self.keys is None:
            yield
            return
        with self.keys.deferred():
            yield


class TwoStepEventStore(EventStore[UUID]):
    """The library's event store with its ``put`` in two steps: ``encode`` the events (the CPU
    of a save) and ``write`` what was encoded (the store's work), so that a consumer may encode
    one batch's save and have it written while it applies the next (``consumers.save_behind``)."""

    def put(self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any) -> list[Recording[UUID]]:
        return self.write(domain_events, self.encode(domain_events), **kwargs)

    def encode(self, domain_events: Sequence[DomainEventProtocol[UUID]]) -> list[StoredEvent]:
        return [self.mapper.to_stored_event(event) for event in domain_events]

    def write(self, domain_events: Sequence[DomainEventProtocol[UUID]], stored_events: Sequence[StoredEvent],
              **kwargs: Any) -> list[Recording[UUID]]:
        notification_ids = self.recorder.insert_events(stored_events, **kwargs)
        if not notification_ids:
            return []
        assert len(notification_ids) == len(stored_events)
        return [Recording(event, Notification(originator_id=stored.originator_id, originator_version=stored.originator_version,
                                              topic=stored.topic, state=stored.state, id=notification_id))
                for event, stored, notification_id in zip(domain_events, stored_events, notification_ids, strict=True)]


class KeysFirstEventStore(TwoStepEventStore):
    """The two-step event store, except that the keys a save makes (a batch's enrolments) are
    written to the key store, together, when its events are encoded, before they are written:
    an event is never committed encrypted under a key that a crash could lose."""

    mapper: PersonalDataMapper

    def encode(self, domain_events: Sequence[DomainEventProtocol[UUID]]) -> list[StoredEvent]:
        with self.mapper.keys_made_together():
            return [self.mapper.to_stored_event(event) for event in domain_events]


def personal_data_mapper(factory: Any, transcoder: Transcoder, env: Mapping[str, str]) -> PersonalDataMapper:
    """The ledger's mapper, with the key store the settings name (``adapters.keys``), and the
    library's whole-event cipher and compressor if the settings name them too (``CIPHER_TOPIC``,
    ``COMPRESSOR_TOPIC``: applied after the fields are sealed)."""
    return PersonalDataMapper(transcoder, key_store_from_env(env), cipher=factory.cipher(), compressor=factory.compressor())


def keyless_mapper(mapper: Mapper[UUID]) -> Mapper[UUID]:
    """``mapper`` without the keys: events decoded with their personal fields left sealed, as a
    process without keys reads them (the sealed dicts, not opened). What the projections use:
    they fold amounts, postings, dates and ids, never a personal field, so they need no key, and
    decoding skips opening every sealed field (about half of decoding an enrolment)."""
    return Mapper(mapper.transcoder, compressor=mapper.compressor, cipher=mapper.cipher)


def sealed_refusal(mapper: Mapper[UUID], record: Mapping[str, Any]) -> dict[str, Any]:
    """A refused message's record as a file outside the store may keep it: content sealed."""
    if not isinstance(mapper, PersonalDataMapper):
        raise TypeError("the ledger's mapper seals personal data: adapters.crypto.PersonalDataMapper")
    return mapper.policy.seal_refusal(record)


def open_refusal(mapper: Mapper[UUID], record: dict[str, Any]) -> dict[str, Any]:
    """A sealed record (of the dead-letter file) opened with the keys this process has."""
    if not isinstance(mapper, PersonalDataMapper):
        raise TypeError("the ledger's mapper seals personal data: adapters.crypto.PersonalDataMapper")
    return mapper.policy.open_refusal(record)


def unsealed_personal_fields(recorder: AggregateRecorder, account_id: UUID) -> list[str]:
    """The personal fields of an account's stored events that are not sealed (recorded before
    this ledger encrypted them): what destroying the person's key cannot erase."""
    found = []
    for stored in recorder.select_events(account_id):
        state = json.loads(stored.state) if stored.state[:1] == b"{" else {}
        found += [f"v{stored.originator_version}.{name}" for name in PERSONAL_FIELDS if name in state and not is_sealed(state[name])]
    return found


@dataclass(frozen=True)
class RestoredSnapshot:
    """What the library's repository folds from: the aggregate a snapshot held, checked."""

    originator_id: UUID
    originator_version: int
    aggregate: Aggregate

    def mutate(self, _: object) -> Aggregate:
        return self.aggregate


class SnapshotStore(KeysFirstEventStore):
    """The snapshots, for the library's repository: each loaded and checked here
    (``PersonalDataMapper.aggregate_from_snapshot``); one that may not be loaded is passed over,
    so the repository folds the aggregate from its events instead."""

    def get(self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None, desc: bool = False,
            limit: int | None = None) -> Iterator[DomainEventProtocol[UUID]]:
        for stored in self.recorder.select_events(originator_id=originator_id, gt=gt, lte=lte, desc=desc, limit=limit):
            try:
                aggregate = self.mapper.aggregate_from_snapshot(stored)
            except SnapshotUnusable as refused:
                refused.log()
                continue
            yield RestoredSnapshot(originator_id, stored.originator_version, aggregate)  # type: ignore[misc]


def snapshot_store(mapper: Mapper[UUID], recorder: AggregateRecorder) -> EventStore[UUID]:
    if isinstance(mapper, PersonalDataMapper):
        return SnapshotStore(mapper, recorder)
    return EventStore(mapper, recorder)


def event_store(mapper: Mapper[UUID], recorder: AggregateRecorder) -> EventStore[UUID]:
    if isinstance(mapper, PersonalDataMapper):
        return KeysFirstEventStore(mapper, recorder)
    return TwoStepEventStore(mapper, recorder)
