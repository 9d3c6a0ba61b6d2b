"""Where the keys of personal data live: one key per person (crypto-shredding), never in the
repository nor in the ledger's database.

A key store holds 256-bit AES keys by key id (``adapters.crypto`` names them: ``person/<account
id>``, ``dead-letter/<id>``) and knows which it has destroyed. Destroying a key is erasure: what
was encrypted with it can never be read again, while the events that hold the ciphertext stay
where they are, chained (``adapters.chain``).

Which store, from the settings (``key_store_from_env``):

- ``FUND_LEDGER_KEYS=file:/path/to/keys`` (or a bare path): a key file (``FileKeyStore``), mode 0600
  in a 0700 directory, shared by the processes of one ledger (consumers, ingest, erase-person).
- ``FUND_LEDGER_KEYS=provider:module:Class``: a KMS-style provider of a deployment's own (a class
  taking the settings mapping, with the methods of ``KeyStore``: a hardware module, a vault).
- ``FUND_LEDGER_KEYS=none``: no keys here (finance, auditors, projections: personal fields read as
  encrypted, everything the books need as usual).
- unset: a key file beside the store, ``<SQLite file>.keys`` for the embedded store,
  ``.run/keys/<database>@<host>_<port>.keys`` for PostgreSQL; kept in memory for the in-memory store.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
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


class FileKeyStore:
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
        self._snapshot = _Snapshot()
        self._read_once = False
        self._pending: dict[str, bytes] = {}  # made inside deferred(), not yet written
        self._deferring = 0
        self._mutex = threading.RLock()

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
    def get_or_create(self, key_id: str) -> bytes | None:
        with self._mutex:
            key = self.get(key_id)
            if key is not None:
                return key
            if self.is_destroyed(key_id):
                return None
            if self._deferring:
                return self._pending.setdefault(check_key_id(key_id), new_key())
            with self._locked():
                self._refresh()  # another process may have made it (or destroyed it) since
                if key_id in self._snapshot.keys or key_id in self._snapshot.destroyed:
                    return self._snapshot.keys.get(key_id)
                return self._append_new({check_key_id(key_id): new_key()})[key_id]

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Holds the file's lock for the block: a key it makes is new to every process (it looked
        under the lock), and the block's keys are appended, with one ``fsync``, when it ends; a
        block that fails writes none, and they are never used."""
        with self._mutex:
            if self._deferring:  # nested: the outer block writes
                self._deferring += 1
                try:
                    yield
                finally:
                    self._deferring -= 1
                return
            with self._locked():
                self._refresh()  # what the other processes wrote, before looking
                self._deferring = 1
                try:
                    yield
                except BaseException:
                    self._pending.clear()
                    raise
                finally:
                    self._deferring = 0
                if self._pending:
                    pending, self._pending = self._pending, {}
                    self._append_new(pending)

    def _append_new(self, new: dict[str, bytes]) -> dict[str, bytes]:
        """Append the keys of ``new`` (the lock held, the file read: none exists or was destroyed
        meanwhile); returns them."""
        current = self._snapshot
        fresh = {key_id: key for key_id, key in new.items() if key_id not in current.keys and key_id not in current.destroyed}
        assert len(fresh) == len(new), "a key made under the lock is new to the file"
        if fresh:
            self._append("".join(json.dumps({"id": key_id, "key": base64.b64encode(key).decode()}) + "\n"
                                 for key_id, key in fresh.items()))
            self._snapshot = self._read(current)
        return fresh

    def destroy(self, key_id: str) -> bool:
        with self._mutex, self._locked():
            self._refresh()
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
        held = str(self.lock_path.resolve())
        with _HELD_MUTEX:
            in_process = _PATH_LOCKS.setdefault(held, threading.Lock())
            if _OWNERS.get(held) == threading.get_ident():  # this thread, through another store object
                raise KeyFileBusy(f"{self.path} is being written by this thread (a save in progress)")
        with in_process:
            _OWNERS[held] = threading.get_ident()
            descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                os.close(descriptor)  # releases the lock
                del _OWNERS[held]

    def _append(self, text: str) -> None:
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
    if setting:
        return FileKeyStore(Path(setting.removeprefix("file:")))
    return _default_store(env)


def _default_store(env: Mapping[str, str]) -> KeyStore:
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("sqlite") and env.get("SQLITE_DBNAME") and env["SQLITE_DBNAME"] != ":memory:":
        database = Path(env["SQLITE_DBNAME"])
        return FileKeyStore(database.with_name(database.name + ".keys"))
    if module.endswith("postgres"):
        name = f"{env.get('POSTGRES_DBNAME', '')}@{env.get('POSTGRES_HOST', '')}_{env.get('POSTGRES_PORT', '')}"
        return FileKeyStore(DEFAULT_KEY_DIR / (re.sub(r"[^A-Za-z0-9@._-]", "_", name) + ".keys"))
    return MemoryKeyStore()
