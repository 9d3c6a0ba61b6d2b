"""Where the keys of personal data live: one key per person (crypto-shredding), never in the
repository nor in the ledger's database.

A key store holds 256-bit AES keys by key id (``adapters.crypto`` names them: ``person/<account
id>``, ``dead-letter/<id>``) and knows which it has destroyed. Destroying a key is erasure: what
was encrypted with it can never be read again, while the events that hold the ciphertext stay
where they are, chained (``adapters.chain``).

Which store, from the settings (``key_store_from_env``):

- ``FUND_LEDGER_KEYS=sqlite:/path/to/keys.sqlite``: a key database (``SQLiteKeyStore``), mode 0600
  in a 0700 directory, shared by the processes of one ledger (consumers, ingest, erase-person),
  read by key id: a process holds only the keys it uses, however many people the ledger has.
- ``FUND_LEDGER_KEYS=file:/path/to/keys`` (or a bare path): a key file (``FileKeyStore``), the same
  rules, read whole by every process that opens personal data (measured at a million keys: 8.9 s
  to a new process's first key and 167 MiB held, against 0.6 ms and 2 MiB for the database).
- ``FUND_LEDGER_KEYS=provider:module:Class``: a KMS-style provider of a deployment's own (a class
  taking the settings mapping, with the methods of ``KeyStore``: a hardware module, a vault).
- ``FUND_LEDGER_KEYS=none``: no keys here (finance, auditors, projections: personal fields read as
  encrypted, everything the books need as usual).
- unset: a key database beside the store, ``<SQLite file>.keys.sqlite`` for the embedded store,
  ``.run/keys/<database>@<host>_<port>.keys.sqlite`` for PostgreSQL, or the key file of that name
  without ``.sqlite`` where only it exists (a ledger made before the key database keeps its file
  until ``fund-ledger import-keys`` moves its keys); kept in memory for the in-memory store.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from eventsourcing.utils import resolve_topic

from ledger.settings import SettingsError

KEY_BYTES = 32
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
KEYS_SETTING = "FUND_LEDGER_KEYS"
DEFAULT_KEY_DIR = Path(".run") / "keys"


class KeyStore(Protocol):
    """What the ledger asks of a key store (a KMS-style provider implements the same)."""

    def get(self, key_id: str) -> bytes | None:
        """The key, or ``None`` if it does not exist (never made, or destroyed)."""

    def get_or_create(self, key_id: str) -> bytes | None:
        """The key, made (durably, before it is returned) if it never existed; ``None`` if it was
        destroyed: an erased person's data is never encrypted again, it is dropped."""

    def destroy(self, key_id: str) -> bool:
        """Destroy the key for good (True if it existed); remember that it was destroyed."""

    def is_destroyed(self, key_id: str) -> bool: ...

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Keys made inside the block may be written together when it ends (one ``fsync`` for a
        save's enrolments), but before it ends: the caller commits after the block."""
        yield


def check_key_id(key_id: str) -> str:
    if not KEY_ID.match(key_id):
        raise ValueError(f"not a key id: {key_id!r}")
    return key_id


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


class MemoryKeyStore:
    """Keys in this process's memory (the in-memory store of the tests): gone with it."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.destroyed: set[str] = set()

    def get(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)

    def get_or_create(self, key_id: str) -> bytes | None:
        if key_id in self.destroyed:
            return None
        return self.keys.setdefault(check_key_id(key_id), new_key())

    def destroy(self, key_id: str) -> bool:
        self.destroyed.add(key_id)
        return self.keys.pop(key_id, None) is not None

    def is_destroyed(self, key_id: str) -> bool:
        return key_id in self.destroyed

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        yield


# The key files this process locks, by path: one lock each between its threads, and which thread
# holds it (flock does not nest within a process: the same thread asking again through another
# store object would wait for ever, so it is refused).
_PATH_LOCKS: dict[str, threading.Lock] = {}
_OWNERS: dict[str, int] = {}
_HELD_MUTEX = threading.Lock()


class KeyFileBusy(RuntimeError):
    """The key file's lock is held by this very thread (through another store object, in a save)."""


@dataclass
class _Snapshot:
    """What this process has read of the key file: its first ``size`` bytes (``lines`` lines) of
    the file ``inode``."""

    keys: dict[str, bytes] = field(default_factory=dict)
    destroyed: dict[str, str] = field(default_factory=dict)  # key id -> when
    inode: int = 0
    size: int = 0
    mtime_ns: int = 0
    lines: int = 0

    def stamp(self) -> tuple[int, int, int]:
        return (self.inode, self.size, self.mtime_ns)


class _SharedKeyStore:
    """What the key file and the key database share: keys made once per id under the store's write
    lock (``_write_lock``), or within ``deferred()`` held back and written together at its end."""

    def __init__(self) -> None:
        self._pending: dict[str, bytes] = {}  # made inside deferred(), not yet written
        self._deferring = 0
        self._mutex = threading.RLock()

    def get(self, key_id: str) -> bytes | None:
        raise NotImplementedError

    def is_destroyed(self, key_id: str) -> bool:
        raise NotImplementedError

    def _write_lock(self) -> contextlib.AbstractContextManager[None]:
        """The store's write lock, between processes and this process's threads, with what the
        others wrote read."""
        raise NotImplementedError

    def _write_new(self, keys: dict[str, bytes]) -> None:
        """Write keys none has made (the write lock held)."""
        raise NotImplementedError

    def _has(self, key_id: str) -> bool:
        """Whether the store holds or held ``key_id`` (the write lock held)."""
        raise NotImplementedError

    def _lookup(self, key_id: str) -> tuple[bytes | None, bool]:
        """The key (``None``: none) and whether it was destroyed."""
        key = self.get(key_id)
        return key, key is None and self.is_destroyed(key_id)

    def get_or_create(self, key_id: str) -> bytes | None:
        with self._mutex:
            key, destroyed = self._lookup(key_id)
            if key is not None or destroyed:
                return key
            if self._deferring:
                return self._pending.setdefault(check_key_id(key_id), new_key())
            with self._write_lock():
                if not self._has(key_id):  # another process may have made it (or destroyed it) since
                    self._write_new({check_key_id(key_id): new_key()})
            return self.get(key_id)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Holds the store's write lock for the block: a key it makes is new to every process (it
        looked under the lock), and the block's keys are written together when it ends; a block
        that fails writes none, and they are never used."""
        with self._mutex:
            if self._deferring:  # nested: the outer block writes
                self._deferring += 1
                try:
                    yield
                finally:
                    self._deferring -= 1
                return
            try:
                with self._write_lock():
                    self._deferring = 1
                    try:
                        yield
                    finally:
                        self._deferring = 0
                    if self._pending:
                        self._write_new(dict(self._pending))
            finally:
                self._pending.clear()


class FileKeyStore(_SharedKeyStore):
    """Keys in a JSON-lines file: ``{"id": ..., "key": base64}`` per key, ``{"id": ...,
    "destroyed": time}`` per destroyed one.

    - Only its owner may read it: the file is created 0600 in a 0700 directory and refused if
      anyone else may read or write it.
    - Several processes share it: every change is made under an exclusive lock (a ``.lock`` file
      beside it), after reading what the others appended; a new key is appended and ``fsync``-ed
      before it is used, or, within ``deferred()`` (which holds the lock for its block), before
      the block ends, the block's keys together. So two processes never make two keys for one
      id. A process reads again, only what was appended, when the file has changed.
    - Destroying a key rewrites the file without it (a new file, ``fsync``, renamed over the old),
      adding its tombstone. The old bytes may survive in the file system's free blocks and in any
      backup of the file until those are overwritten: docs/security.md says what that means.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        super().__init__()
        self._snapshot = _Snapshot()
        self._read_once = False

    # ------------------------------------------------------------------ reading
    def get(self, key_id: str) -> bytes | None:
        with self._mutex:
            key = self._pending.get(key_id) or self._current().keys.get(key_id)
            if key is None and self._refresh():
                key = self._snapshot.keys.get(key_id)
            return key

    def is_destroyed(self, key_id: str) -> bool:
        with self._mutex:
            self._refresh()
            return key_id in self._snapshot.destroyed

    def destroyed(self) -> dict[str, str]:
        with self._mutex:
            self._refresh()
            return dict(self._snapshot.destroyed)

    def count(self) -> int:
        """How many keys the file holds (destroyed ones not counted)."""
        with self._mutex:
            self._refresh()
            return len(self._snapshot.keys)

    def _current(self) -> _Snapshot:
        if not self._read_once:
            self._refresh()
        return self._snapshot

    def _refresh(self) -> bool:
        """Read what changed in the file since the last read; whether anything did. Within a
        deferred block the file is locked: it is as read when the block began."""
        if self._deferring or (self._read_once and self._stamp() == self._snapshot.stamp()):
            return False
        self._snapshot = self._read(self._snapshot)
        self._read_once = True
        return True

    def _stamp(self) -> tuple[int, int, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _read(self, known: _Snapshot) -> _Snapshot:
        """The file as it is now: only what was appended since ``known`` when it is the same file,
        grown (keys are appended; destroying one writes a new file, read whole)."""
        inode, size, mtime_ns = self._stamp()
        if inode == 0:
            self._check_not_moved()
            return _Snapshot()
        self._check_private()
        snapshot = known if known.inode == inode and known.size <= size else _Snapshot()
        appended = size - snapshot.size
        consumed, number = 0, snapshot.lines
        with self.path.open("rb") as handle:
            handle.seek(snapshot.size)
            # A line at a time: the whole file read at once (bytes, text and a list of lines)
            # came to about 260 MiB more than the keys themselves at a million people, in every
            # process that opened personal data.
            for line in handle:
                if consumed + len(line) > appended or not line.endswith(b"\n"):
                    break  # a line still being written is read next time
                consumed += len(line)
                number += 1
                self._parse(snapshot, line.decode("ascii"), number)
        snapshot.inode, snapshot.size, snapshot.mtime_ns = inode, snapshot.size + consumed, mtime_ns
        snapshot.lines = number
        return snapshot

    def _parse(self, snapshot: _Snapshot, line: str, number: int) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
            key_id = check_key_id(entry["id"])
            if "destroyed" in entry:
                snapshot.destroyed[key_id] = str(entry["destroyed"])
                snapshot.keys.pop(key_id, None)
            elif key_id not in snapshot.destroyed:
                snapshot.keys[key_id] = _decode_key(entry["key"])
        except (ValueError, KeyError, TypeError) as error:
            raise SettingsError(f"{self.path} line {number} is not a key entry ({error}): the key file is damaged") from None

    def _check_private(self) -> None:
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SettingsError(f"{self.path} is mode {mode:04o}: a key file must be readable by its owner only (chmod 600)")

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self._locked():
            self._refresh()  # what the other processes wrote, before looking
            yield

    def _has(self, key_id: str) -> bool:
        return key_id in self._snapshot.keys or key_id in self._snapshot.destroyed

    def _write_new(self, keys: dict[str, bytes]) -> None:
        """Append ``keys`` (the lock held, the file read: none exists or was destroyed meanwhile)."""
        current = self._snapshot
        assert not any(self._has(key_id) for key_id in keys), "a key made under the lock is new to the file"
        self._append("".join(json.dumps({"id": key_id, "key": base64.b64encode(key).decode()}) + "\n"
                             for key_id, key in keys.items()))
        self._snapshot = self._read(current)

    def destroy(self, key_id: str) -> bool:
        with self._mutex, self._write_lock():
            current = self._snapshot
            existed = key_id in current.keys
            destroyed = {**current.destroyed, check_key_id(key_id): current.destroyed.get(key_id)
                         or datetime.now(UTC).isoformat(timespec="seconds")}
            entries = [{"id": kid, "key": base64.b64encode(key).decode()} for kid, key in current.keys.items() if kid != key_id]
            entries += [{"id": kid, "destroyed": when} for kid, when in destroyed.items()]
            self._replace("".join(json.dumps(entry) + "\n" for entry in entries))
            self._pending.pop(key_id, None)
            self._snapshot = self._read(_Snapshot())
            return existed

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The file's exclusive lock: between processes ``flock``, between this process's threads
        (and store objects) a lock of its own, since ``flock`` does not nest within a process."""
        _private_dir(self.path.parent)
        with _held_in_process(self.lock_path, self.path):
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                os.close(descriptor)  # releases the lock

    def _check_not_moved(self) -> None:
        """A key file whose keys ``import_key_file`` moved is never made again: new keys there
        would seal data under keys the key database never holds."""
        moved = self.moved_marker
        if moved.exists():
            raise SettingsError(f"the keys of {self.path} were moved to the key database {moved.read_text().strip()} "
                                "(fund-ledger import-keys): set FUND_LEDGER_KEYS=sqlite:<that path>, or unset it for the default")

    @property
    def moved_marker(self) -> Path:
        return self.path.with_name(self.path.name + ".moved")

    def _append(self, text: str) -> None:
        self._check_not_moved()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self._check_private()
            os.write(descriptor, text.encode("ascii"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _replace(self, text: str) -> None:
        temporary = self.path.with_name(f"{self.path.name}.new.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, text.encode("ascii"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


KEY_CACHE_SIZE = 10_000  # keys a SQLiteKeyStore keeps at hand (about 150 bytes each)
WARM_CHUNK = 500  # ids a query when keys are read ahead (SQLite's bound parameters: 32,766)
BUSY_TIMEOUT_S = 600.0  # how long a process waits for another's save of keys


class SQLiteKeyStore(_SharedKeyStore):
    """Keys in an SQLite database, one row a key id: the key, or when it was destroyed.

    The same rules as ``FileKeyStore``, read by id instead of whole:

    - Only its owner may read it: created 0600 in a 0700 directory (SQLite gives its journal the
      database's mode), refused if anyone else may read or write it.
    - Several processes share it: a key is made in a transaction that holds the database's write
      lock (``BEGIN IMMEDIATE``) and looks again first, committed (``synchronous = FULL``) before
      it is used, or, within ``deferred()`` (which holds the lock for its block), the block's keys
      together when it ends. So two processes never make two keys for one id, and a process
      asking for a key another's block made waits for the block's end.
    - A process keeps the last ``KEY_CACHE_SIZE`` keys it read; anything else is one indexed read.
    - Destroying a key removes its bytes and records when (``secure_delete``: SQLite overwrites
      what it frees with zeros). The rollback journal of that transaction held the old page and is
      deleted at its end: as for the key file, the bytes may survive in the file system's free
      blocks and in backups until those are overwritten (docs/security.md).
    """

    def __init__(self, path: Path, cache_size: int = KEY_CACHE_SIZE) -> None:
        super().__init__()
        self.path = path
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._connection: sqlite3.Connection | None = None
        self._connected_in = 0  # the process that opened the connection (a forked child opens its own)

    # ------------------------------------------------------------------ reading
    def get(self, key_id: str) -> bytes | None:
        return self._lookup(key_id)[0]

    def _lookup(self, key_id: str) -> tuple[bytes | None, bool]:
        """One read of the key's row, for the key and whether it was destroyed (a new person's key
        is looked for once, not twice)."""
        with self._mutex:
            key = self._pending.get(key_id)
            if key is not None:
                return key, False
            key = self._cache.get(key_id)
            if key is not None:
                self._cache.move_to_end(key_id)
                return key, False
            row = self._row(key_id)
            if row is None or row[0] is None:
                return None, row is not None
            key = _checked_key(row[0], self.path, key_id)
            self._cache[key_id] = key
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return key, False

    def warm(self, key_ids: Iterable[str]) -> int:
        """Read the keys of ``key_ids`` not kept yet in a query per ``WARM_CHUNK`` ids, and keep
        them (up to the cache's bound): what a batch of accounts read cold will ask for one at a
        time. Returns how many were read. (Optional in a key store: a provider may not have it.)"""
        with self._mutex:
            wanted = list(dict.fromkeys(key_id for key_id in key_ids if key_id not in self._cache))[:self._cache_size]
            read = 0
            for start in range(0, len(wanted), WARM_CHUNK):
                chunk = wanted[start:start + WARM_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db().execute(f"SELECT id, key FROM keys WHERE id IN ({marks}) AND key IS NOT NULL", chunk).fetchall()  # noqa: S608
                for key_id, key in rows:
                    self._cache[key_id] = _checked_key(key, self.path, key_id)
                    read += 1
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return read

    def is_destroyed(self, key_id: str) -> bool:
        with self._mutex:
            row = self._row(key_id)
            return row is not None and row[1] is not None

    def destroyed(self) -> dict[str, str]:
        with self._mutex:
            rows = self._db().execute("SELECT id, destroyed_at FROM keys WHERE destroyed_at IS NOT NULL ORDER BY id")
            return {key_id: str(when) for key_id, when in rows}

    def _row(self, key_id: str) -> tuple[Any, Any] | None:
        # fetchall: the statement runs to its end, so no read lock lingers on the database
        rows = self._db().execute("SELECT key, destroyed_at FROM keys WHERE id = ?", (key_id,)).fetchall()
        return (rows[0][0], rows[0][1]) if rows else None

    # ------------------------------------------------------------------ writing
    def _has(self, key_id: str) -> bool:
        return self._row(key_id) is not None

    def destroy(self, key_id: str) -> bool:
        with self._mutex:
            with self._write_lock():
                row = self._row(check_key_id(key_id))
                existed = row is not None and row[0] is not None
                when = row[1] if row is not None and row[1] is not None else datetime.now(UTC).isoformat(timespec="seconds")
                self._db().execute("INSERT INTO keys (id, key, destroyed_at) VALUES (?, NULL, ?) "
                                   "ON CONFLICT (id) DO UPDATE SET key = NULL, destroyed_at = excluded.destroyed_at", (key_id, when))
            self._cache.pop(key_id, None)
            self._pending.pop(key_id, None)
            return existed

    def _write_new(self, keys: dict[str, bytes]) -> None:
        self._db().executemany("INSERT INTO keys (id, key) VALUES (?, ?)", list(keys.items()))

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """One transaction holding the database's write lock (this process's threads queue for it
        first: SQLite's lock would not tell them from another process)."""
        database = self._db()
        with _held_in_process(self.path.with_name(self.path.name + ".lock"), self.path):
            self._check_private()
            database.execute("BEGIN IMMEDIATE")
            try:
                yield
                database.execute("COMMIT")
            except BaseException:
                if database.in_transaction:  # a failed COMMIT too: the write lock is never kept
                    with contextlib.suppress(sqlite3.Error):  # the first error is the one to see
                        database.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ the database
    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._connected_in != os.getpid():
            _private_dir(self.path.parent)
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            self._check_private()
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode = DELETE")
                connection.execute("PRAGMA synchronous = FULL")
                connection.execute("PRAGMA secure_delete = ON")
                connection.execute("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, key BLOB, destroyed_at TEXT, "
                                   f"CHECK ((key IS NULL) <> (destroyed_at IS NULL) AND (key IS NULL OR length(key) = {KEY_BYTES}))) "
                                   "WITHOUT ROWID")
            except sqlite3.DatabaseError as error:
                connection.close()
                raise SettingsError(f"{self.path} is not a key database ({error}): the key store is damaged") from None
            self._connection, self._connected_in = connection, os.getpid()
        return self._connection

    def _check_private(self) -> None:
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SettingsError(f"{self.path} is mode {mode:04o}: a key database must be readable by its owner only (chmod 600)")
        directory_mode = self.path.parent.stat().st_mode & 0o777
        if directory_mode & 0o022:  # whoever may write there may plant a journal SQLite would replay
            raise SettingsError(f"{self.path.parent} is mode {directory_mode:04o}: the key database's directory must be writable "
                                "by its owner only (chmod 700)")

    def close(self) -> None:
        with self._mutex:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def import_key_file(source: FileKeyStore, target: SQLiteKeyStore, remove: bool = False) -> dict[str, Any]:
    """Copy a key file's keys and destroyed ids into a key database, in one transaction under both
    stores' write locks; with ``remove``, delete the key file once that transaction is committed
    (its keys then live only in the database; a failure before leaves the file as it was). A key
    the database holds already must be the same; an id destroyed in either stays destroyed. The
    ledger's other processes must be stopped: one still on the file would write new keys to a
    file no longer read."""
    with source._mutex, source._write_lock():  # noqa: SLF001 (one module)
        snapshot = source._snapshot  # noqa: SLF001
        imported = destroyed = 0
        with target._mutex, target._write_lock():  # noqa: SLF001
            for key_id, key in snapshot.keys.items():
                row = target._row(key_id)  # noqa: SLF001
                if row is not None and row[0] is not None and bytes(row[0]) != key:
                    raise SettingsError(f"{target.path} holds another key for {key_id} than {source.path}: nothing imported")
                if row is None:
                    target._write_new({key_id: key})  # noqa: SLF001
                    imported += 1
            for key_id, when in snapshot.destroyed.items():
                target._db().execute("INSERT INTO keys (id, key, destroyed_at) VALUES (?, NULL, ?) "  # noqa: SLF001
                                     "ON CONFLICT (id) DO UPDATE SET key = NULL, "
                                     "destroyed_at = coalesce(keys.destroyed_at, excluded.destroyed_at)", (key_id, when))
                destroyed += 1
        target._cache.clear()  # noqa: SLF001
        if remove:  # committed (synchronous = FULL): only now may the file go, a marker in its place
            marker = os.open(source.moved_marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(marker, f"{target.path.resolve()}\n".encode())
                os.fsync(marker)
            finally:
                os.close(marker)
            source.path.unlink()
            directory = os.open(source.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    return {"from": str(source.path), "to": str(target.path), "keys_imported": imported,
            "keys_already_there": len(snapshot.keys) - imported, "destroyed_ids": destroyed, "key_file_removed": remove}


def _checked_key(value: Any, path: Path, key_id: str) -> bytes:
    key = bytes(value)
    if len(key) != KEY_BYTES:
        raise SettingsError(f"{path}: the key {key_id} is {len(key)} bytes, not {KEY_BYTES}: the key store is damaged")
    return key


@contextlib.contextmanager
def _held_in_process(lock: Path, store: Path) -> Iterator[None]:
    """This process's lock on a key store's writes: the threads wait for each other; the thread
    that holds it, asking again through another store object, is refused (``KeyFileBusy``): the
    lock between processes would wait for that very thread for ever."""
    held = str(lock.resolve())
    with _HELD_MUTEX:
        in_process = _PATH_LOCKS.setdefault(held, threading.Lock())
        if _OWNERS.get(held) == threading.get_ident():
            raise KeyFileBusy(f"{store} is being written by this thread (a save in progress)")
    with in_process:
        _OWNERS[held] = threading.get_ident()
        try:
            yield
        finally:
            del _OWNERS[held]


def _decode_key(text: Any) -> bytes:
    key = base64.b64decode(str(text), validate=True)
    if len(key) != KEY_BYTES:
        raise ValueError(f"a key is {KEY_BYTES} bytes, this one {len(key)}")
    return key


def _private_dir(path: Path) -> None:
    """``path``, made when new as a directory only its owner may enter (an existing one is left
    as it is: the key file's own mode is what is checked)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


# ---------------------------------------------------------------------------- from the settings
def key_store_from_env(env: Mapping[str, str]) -> KeyStore | None:
    """The key store the settings name (see the module's docstring); ``None``: no keys here."""
    setting = (env.get(KEYS_SETTING) or "").strip()
    if setting.lower() == "none":
        return None
    if setting.startswith("provider:"):
        provider = resolve_topic(setting.removeprefix("provider:"))
        return provider(env)  # type: ignore[no-any-return]
    if setting.startswith("sqlite:"):
        return SQLiteKeyStore(Path(setting.removeprefix("sqlite:")))
    if setting:
        return FileKeyStore(Path(setting.removeprefix("file:")))
    return _default_store(env)


def _default_store(env: Mapping[str, str]) -> KeyStore:
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("sqlite") and env.get("SQLITE_DBNAME") and env["SQLITE_DBNAME"] != ":memory:":
        database = Path(env["SQLITE_DBNAME"])
        return _beside(database.with_name(database.name + ".keys"))
    if module.endswith("postgres"):
        name = f"{env.get('POSTGRES_DBNAME', '')}@{env.get('POSTGRES_HOST', '')}_{env.get('POSTGRES_PORT', '')}"
        return _beside(DEFAULT_KEY_DIR / (re.sub(r"[^A-Za-z0-9@._-]", "_", name) + ".keys"))
    return MemoryKeyStore()


def _beside(key_file: Path) -> KeyStore:
    """The key database ``<name>.sqlite``, unless only the key file of that name exists (a ledger
    made before the key database, its keys not imported: ``fund-ledger import-keys``)."""
    database = key_file.with_name(key_file.name + ".sqlite")
    if key_file.exists() and not database.exists():
        return FileKeyStore(key_file)
    return SQLiteKeyStore(database)
