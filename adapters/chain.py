"""The hash chain over the stored events: what makes the log tamper-evident.

Every stored event carries ``chain_hash``, a SHA-256 over the hash of the event stored before it
and this event's identity and stored bytes::

    chain_hash(n) = SHA-256( "fund-ledger/chain/v1"
                             || chain_hash(previous event)      32 bytes (zeros for the first)
                             || position                        8 bytes, big-endian
                             || originator id                   16 bytes (the UUID)
                             || originator version              8 bytes, big-endian
                             || length of topic                 4 bytes, big-endian
                             || topic                           UTF-8
                             || state )                         the stored bytes, as stored

The state is hashed as stored: if a cipher or compressor is configured, the ciphertext is
chained, so erasing a key later leaves the chain intact. The recorders
(``adapters.postgres_recorder``, ``adapters.sqlite_recorder``) compute it in the transaction that
inserts the events, under the lock that serialises writers, from the hash of the last stored
event; ``ChainCheck`` recomputes it from position 0 and names the first position where the
stored hashes stop matching. Editing an event's bytes breaks the chain at that event; deleting
one breaks it at the next event; inserting one breaks it at the inserted event (or the next);
moving one to another position breaks it there, because the position is hashed. Rewriting the
whole chain from a point on is caught against an anchor kept outside the database
(``projections.anchors``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from ledger.settings import SettingsError

CHAIN_COLUMN = "chain_hash"
DOMAIN_TAG = b"fund-ledger/chain/v1"
GENESIS = bytes(32)
FIRST_POSITION = 1  # the recorders number events from 1; a row at 0 or below was put there around them
HASH_BYTES = 32
READ_BATCH = 5_000


def link(previous: bytes, position: int, originator_id: UUID, originator_version: int, topic: str, state: bytes) -> bytes:
    """The chain hash of one stored event (see the module docstring for the exact bytes)."""
    topic_bytes = topic.encode()
    digest = hashlib.sha256(DOMAIN_TAG)
    digest.update(previous)
    digest.update(struct.pack(">q16sqI", position, originator_id.bytes, originator_version, len(topic_bytes)))
    digest.update(topic_bytes)
    digest.update(state)
    return digest.digest()


class UnhashedHead(PersistenceError):
    """The last stored event has no chain hash: a save would have nothing to chain on (SQLite's
    ``bytes(None)``; PostgreSQL restarted the chain from zeros, so the ledger's own next event
    looked like a second break). The store was altered outside the recorder; every save is
    refused, the same on both stores, until an operator has looked (``fund-ledger verify``)."""

    def __init__(self, position: int) -> None:
        self.position = position
        super().__init__(
            f"the last stored event, at position {position}, has no chain hash: the store was altered outside the ledger's "
            "recorder (a hash removed, or a row added around it), and nothing more is saved on it; run `fund-ledger verify` "
            "to see what was changed")


class NotChainedYet(SettingsError):
    """``verify`` (read-only) was given a store written before the chain existed: no chain column,
    or no row with a hash. Not evidence of tampering; the ledger chains such a store once, the
    first time it opens it (SQLite) or at ``fund-ledger migrate`` (PostgreSQL)."""

    def __init__(self, how: str) -> None:
        super().__init__(
            "not chained yet: open it once with the ledger (e.g. `fund-ledger project` or `migrate`; on PostgreSQL "
            "`fund-ledger migrate` as the database's owner) to chain it, then verify again. This store was written "
            f"before the ledger kept a hash chain ({how}): that is not a break. (A store that was chained and had every "
            "hash removed looks the same: check it against the anchors taken of it, `--anchors`, once "
            "it is chained again.)")


def chain_hashes(previous: bytes, rows: Sequence[tuple[int, UUID, int, str, bytes]]) -> list[bytes]:
    """The chain hashes of ``rows`` (position, originator id, version, topic, state), in order,
    continuing from ``previous``."""
    hashes = []
    for position, originator_id, version, topic, state in rows:
        previous = link(previous, position, originator_id, version, topic, state)
        hashes.append(previous)
    return hashes


def as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


@dataclass(frozen=True)
class ChainedRow:
    """A stored event as the chain sees it."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    chain_hash: bytes | None
    id_problem: str | None = None  # the stored originator id is not as the ledger writes it (``stored_uuid``)
    # A column of a type the ledger never writes (SQLite keeps whatever type is put in: a text
    # version, a NULL topic): the row cannot be hashed as the recorders hash, so it is a break
    # (``originator_version``, ``topic`` and ``state`` then hold stand-ins: 0, "", b"").
    row_problem: str | None = None


@dataclass(frozen=True)
class ChainBreak:
    position: int
    previous_position: int
    reason: str


class ChainCheck:
    """Recomputes the chain over rows fed in log order. The first break is kept with its reason;
    later breaks are counted, each row checked against the recorded hash before it (so one edit
    is one break, not a break at every event after it). ``recomputed`` is the chain recomputed
    from position 0 through the last row fed, never rebased: what an anchor or an attestation
    is compared with."""

    def __init__(self, previous: bytes = GENESIS, previous_position: int = 0) -> None:
        self.head = previous  # the recorded hash of the last row (the base the next row is checked on)
        self.head_position = previous_position
        self.recomputed = previous
        self.rows = 0
        self.first_break: ChainBreak | None = None
        self.breaks = 0

    def feed(self, row: ChainedRow) -> bytes:
        """Check one row; returns the hash recomputed from position 0 through it."""
        self.rows += 1
        identity = (row.position, row.originator_id, row.originator_version, row.topic, row.state)
        computed = link(self.head, *identity)
        self.recomputed = computed if self.first_break is None else link(self.recomputed, *identity)
        if row.position < FIRST_POSITION:
            self._break(row, f"the event at position {row.position} ({row.originator_id} v{row.originator_version}) is at a position "
                             f"the ledger never writes (its positions start at {FIRST_POSITION}): it was inserted around the recorder, "
                             "and the ledger still folds it into its aggregate")
        elif row.row_problem is not None:
            self._break(row, f"the event at position {row.position} ({row.originator_id}) {row.row_problem}: the ledger never "
                             "writes such a row (it was inserted or edited around the recorder), and it cannot be hashed")
        elif row.id_problem is not None:
            self._break(row, f"the event at position {row.position} ({row.originator_id} v{row.originator_version}) {row.id_problem}")
        elif row.chain_hash != computed:
            self._break(row, self._reason(row, computed))
        self.head = row.chain_hash if row.chain_hash is not None else computed
        self.head_position = row.position
        return self.recomputed

    def _break(self, row: ChainedRow, reason: str) -> None:
        self.breaks += 1
        if self.first_break is None:
            self.first_break = ChainBreak(row.position, self.head_position, reason)

    def _reason(self, row: ChainedRow, computed: bytes) -> str:
        where = f"the event at position {row.position} ({row.originator_id} v{row.originator_version})"
        if row.chain_hash is None:
            return (f"{where} has no chain hash: it was inserted around the ledger's recorder, or its hash was removed "
                    "(the ledger chains every event it writes, and never chains again a store where any event has a hash)")
        gap = "" if row.position == self.head_position + 1 else \
            f"; positions {self.head_position + 1}-{row.position - 1} are absent (a gap is normal after a rolled-back save, or an event was deleted)"
        return (f"{where} does not hash to its recorded chain hash (recorded {row.chain_hash.hex()[:16]}..., "
                f"computed {computed.hex()[:16]}...): it was changed, inserted or moved, or an event between position "
                f"{self.head_position} and it was deleted{gap}")

    @property
    def intact(self) -> bool:
        return self.first_break is None


# ---------------------------------------------------------------------------- reading the chain
def read_chain(recorder: Any, after: int | None, limit: int = READ_BATCH, stop: int | None = None) -> list[ChainedRow]:
    """Stored events after position ``after`` (``None``: every row, from the lowest position
    stored, 0 and below included: the library reads an aggregate's events wherever they stand)
    through ``stop``, with their chain hashes, in log order. PostgreSQL and SQLite (the stores
    that keep a chain)."""
    datastore = recorder.datastore
    table = recorder.events_table_name
    bounds = [(">", after), ("<=", stop)]
    if type(datastore).__name__.startswith("Postgres"):
        from psycopg.sql import SQL, Identifier

        where = " AND ".join(f"notification_id {op} %s" for op, value in bounds if value is not None) or "TRUE"
        statement = SQL("SELECT notification_id AS position, originator_id, originator_version, topic, state, chain_hash "
                        "FROM {schema}.{table} WHERE " + where + " ORDER BY notification_id LIMIT %s").format(  # noqa: S608 (no value in it)
            schema=Identifier(datastore.schema), table=Identifier(table))
        params: list[Any] = [value for _, value in bounds if value is not None] + [limit]
        with datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        spelling = _postgres_spelling
    else:
        where = " AND ".join(f"rowid {op} ?" for op, value in bounds if value is not None) or "1"
        statement_text = (f"SELECT rowid AS position, originator_id, originator_version, topic, state, chain_hash FROM {table} "  # noqa: S608
                          f"WHERE {where} ORDER BY rowid LIMIT ?")
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(statement_text, [value for _, value in bounds if value is not None] + [limit])
            rows = cursor.fetchall()
        spelling = sqlite_spelling
    return [_chained_row(row, spelling) for row in rows]


def _chained_row(row: Any, spelling: Callable[[UUID], str]) -> ChainedRow:
    originator_id, problem = stored_uuid(row["originator_id"], spelling)
    version, topic, state = row["originator_version"], row["topic"], row["state"]
    wrong = []
    if isinstance(version, bool) or not isinstance(version, int) or not -(1 << 63) <= version < (1 << 63):
        wrong.append(f"its originator version {_shown(version)}")
        version = 0
    if not isinstance(topic, str):
        wrong.append(f"its topic {_shown(topic)}")
        topic = ""
    if not isinstance(state, (bytes, bytearray, memoryview, str)):
        wrong.append(f"its state {_shown(state)}")
        state = b""
    return ChainedRow(row["position"], originator_id, version, topic, as_bytes(state),
                      None if row["chain_hash"] is None else as_bytes(row["chain_hash"]), problem,
                      "has " + ", ".join(wrong) if wrong else None)


def _shown(value: Any) -> str:
    """A stored value the ledger never writes, for a break's reason."""
    return "NULL" if value is None else f"stored as {type(value).__name__} {str(value)[:40]!r}"


def sqlite_spelling(originator_id: UUID) -> str:
    """How the SQLite recorders write an originator id (and the library finds an aggregate's
    events by): 32 lower-case hex digits."""
    return originator_id.hex


def _postgres_spelling(originator_id: UUID) -> str:
    """How an originator id is written in a PostgreSQL ``text`` column (a ``uuid`` column keeps
    no spelling: it reads back as a UUID)."""
    return str(originator_id)


def stored_uuid(value: Any, spelling: Callable[[UUID], str] = sqlite_spelling) -> tuple[UUID, str | None]:
    """A stored originator id and what is wrong with it (``None``: nothing). The ledger finds an
    aggregate's events by the id written exactly as its recorder writes it (``spelling``): the
    same UUID spelt otherwise (upper-case hex, with dashes on SQLite) hides the event from its
    aggregate while hashing alike, so it is refused here. One that is not a UUID at all (a
    forged row) reads as the nil UUID."""
    if isinstance(value, UUID):
        return value, None
    try:
        originator_id = as_uuid(value)
    except (ValueError, TypeError, AttributeError):
        return UUID(int=0), f"has an originator id that is not a UUID ({str(value)[:40]!r})"
    if value != spelling(originator_id):
        return originator_id, (f"has its originator id stored as {value!r}, not as the ledger writes it ({spelling(originator_id)!r}): "
                               "the ledger does not find it among its aggregate's events")
    return originator_id, None


def as_bytes(value: Any) -> bytes:
    """A stored value as bytes (SQLite keeps whatever type was written: an edit may leave text,
    or a number, which is read as its digits, never as ``bytes(n)``, n zero bytes)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return (value if isinstance(value, str) else str(value)).encode()


def not_chained_yet(recorder: Any) -> NotChainedYet | None:
    """Why this store was never chained (written before the chain existed: no chain column, or
    stored events none of which has a hash), or ``None``: it is chained, empty, has no events
    table, or keeps no chain. Read-only: what ``verify`` says instead of a break at every row."""
    if not keeps_chain(recorder):
        return None
    datastore = recorder.datastore
    table = recorder.events_table_name
    if type(datastore).__name__.startswith("Postgres"):
        from psycopg.sql import SQL, Identifier

        qualified = f'"{datastore.schema}"."{table}"'
        with datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS present, EXISTS (SELECT 1 FROM pg_attribute WHERE "
                           "attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped) AS has_column",
                           (qualified, qualified, CHAIN_COLUMN))
            found = cursor.fetchone()
            if not found or not found["present"]:
                return None
            if not found["has_column"]:
                return NotChainedYet(f"its events table has no {CHAIN_COLUMN} column")
            cursor.execute(SQL("SELECT EXISTS (SELECT 1 FROM {t} WHERE chain_hash IS NOT NULL) AS chained, "
                               "EXISTS (SELECT 1 FROM {t}) AS stored").format(t=Identifier(datastore.schema, table)))
            found = cursor.fetchone()
            if found is None or found["chained"] or not found["stored"]:
                return None
            cursor.execute(SQL("SELECT COUNT(*) AS stored FROM {t}").format(t=Identifier(datastore.schema, table)))
            counted = cursor.fetchone()
    else:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(f"PRAGMA table_info({table})")
            columns = {row["name"] for row in cursor.fetchall()}
            if not columns:
                return None
            if CHAIN_COLUMN not in columns:
                return NotChainedYet(f"its events table has no {CHAIN_COLUMN} column")
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {CHAIN_COLUMN} IS NOT NULL) AS chained, "  # noqa: S608
                           f"EXISTS (SELECT 1 FROM {table}) AS stored")
            found = cursor.fetchone()
            if found is None or found["chained"] or not found["stored"]:
                return None
            cursor.execute(f"SELECT COUNT(*) AS stored FROM {table}")  # noqa: S608
            counted = cursor.fetchone()
    if counted is None:
        return None
    return NotChainedYet(f"none of its {int(counted['stored']):,} events has a chain hash")


def keeps_chain(recorder: Any) -> bool:
    """Whether this recorder's store keeps a chain (the in-memory store does not)."""
    return bool(getattr(recorder, "keeps_chain", False))


def hash_at(recorder: Any, position: int) -> bytes | None:
    """The recorded chain hash of the event at ``position`` (``None``: no event there)."""
    rows = read_chain(recorder, position - 1, limit=1, stop=position)
    return rows[0].chain_hash if rows and rows[0].position == position else None


def head(recorder: Any) -> tuple[int, bytes]:
    """The last stored event's position and recorded chain hash ((0, zeros) for an empty log)."""
    last = recorder.max_notification_id() or 0
    if not last:
        return 0, GENESIS
    recorded = hash_at(recorder, last)
    if recorded is None:
        raise UnhashedHead(last)  # an anchor of it would be of nothing
    return last, recorded


def check_whole_chain(recorder: Any, stop: int | None = None) -> ChainCheck | None:
    """The chain recomputed over every stored row (through ``stop``), from the lowest position:
    a row at 0 or below is a break; ``None`` if this store keeps none."""
    if not keeps_chain(recorder):
        return None
    never = not_chained_yet(recorder)
    if never is not None:
        raise never
    check = ChainCheck()
    position_read: int | None = None
    while True:
        rows = read_chain(recorder, position_read, READ_BATCH, stop)
        if not rows:
            return check
        for row in rows:
            check.feed(row)
        position_read = rows[-1].position
