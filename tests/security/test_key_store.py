"""The key stores (a key database, a key file): private, shared by processes, a key made once per
id, destroyed for good. Each rule is checked on both; what is a file's own (its lines) on the file."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.keys import FileKeyStore, MemoryKeyStore, SQLiteKeyStore, key_store_from_env
from ledger.settings import SettingsError

REPO = Path(__file__).resolve().parents[2]
STORES = {"sqlite": SQLiteKeyStore, "file": FileKeyStore}


@pytest.fixture(params=sorted(STORES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def stored_ids(kind: str, path: Path) -> list[str]:
    """The key ids in the store's file, as they are on disk (one per key made)."""
    if kind == "file":
        return [json.loads(line)["id"] for line in path.read_text().splitlines()]
    import sqlite3

    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM keys WHERE key IS NOT NULL")]


def test_a_key_is_made_once_and_read_back_by_another_store_on_the_same_file(tmp_path: Path, kind: str) -> None:
    store = STORES[kind]
    path = tmp_path / "keys" / "ledger.keys"
    first = store(path).get_or_create("person/a")
    assert first is not None and len(first) == 32
    assert store(path).get("person/a") == first  # another process's view of the file
    assert store(path).get_or_create("person/a") == first  # never a second key for one id
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_two_processes_making_the_same_keys_at_once_agree_on_each(tmp_path: Path, kind: str) -> None:
    """Both take the store's lock and look again before writing: one key per id, whoever won."""
    path = tmp_path / "ledger.keys"
    script = (f"import sys; from pathlib import Path; from adapters.keys import {STORES[kind].__name__} as S; s = S(Path(sys.argv[1]));"
              "print(','.join(s.get_or_create(f'person/{i}').hex() for i in range(200)))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert outputs[0] == outputs[1] == outputs[2]
    ids = stored_ids(kind, path)
    assert len(ids) == len(set(ids)) == 200


def test_keys_made_in_a_deferred_block_are_written_together_at_its_end(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ledger.keys"
    store = STORES[kind](path)
    with store.deferred():
        made = [store.get_or_create(f"person/{i}") for i in range(3)]
        assert not path.exists() or stored_ids(kind, path) == []  # nothing on disk yet: the caller commits after the block
        assert store.get("person/1") == made[1]
    assert [STORES[kind](path).get(f"person/{i}") for i in range(3)] == made


def test_keys_made_in_a_block_that_failed_are_never_used(tmp_path: Path, kind: str) -> None:
    store = STORES[kind](tmp_path / "ledger.keys")
    with pytest.raises(RuntimeError), store.deferred():
        lost = store.get_or_create("person/a")
        raise RuntimeError("the save failed")
    assert store.get("person/a") is None
    assert store.get_or_create("person/a") != lost


def test_a_destroyed_key_leaves_the_file_and_is_never_made_again(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ledger.keys"
    store = STORES[kind](path)
    key = store.get_or_create("person/a")
    keep = store.get_or_create("person/b")
    assert key is not None and keep is not None
    assert store.destroy("person/a") is True
    on_disk = b"".join(file.read_bytes() for file in tmp_path.iterdir() if file.is_file())
    assert key not in on_disk and base64.b64encode(key) not in on_disk  # the key's bytes are gone from the files
    assert keep in on_disk or base64.b64encode(keep) in on_disk  # (the check can see a key)
    assert store.get("person/a") is None and store.is_destroyed("person/a")
    assert store.get_or_create("person/a") is None  # an erased person's data is dropped, not encrypted anew
    assert STORES[kind](path).get("person/b") == keep
    assert STORES[kind](path).is_destroyed("person/a")
    assert list(STORES[kind](path).destroyed()) == ["person/a"]


def test_a_key_destroyed_by_another_process_is_gone_for_every_store_opened_after(tmp_path: Path, kind: str) -> None:
    """(A store opened before keeps the keys it read until its process restarts: docs/security.md.)"""
    path = tmp_path / "ledger.keys"
    reader = STORES[kind](path)
    reader.get_or_create("person/a")
    STORES[kind](path).destroy("person/a")
    assert STORES[kind](path).get("person/a") is None
    assert STORES[kind](path).get_or_create("person/a") is None
    assert reader.is_destroyed("person/a")


def test_destroyed_keys_leave_no_bytes_in_a_key_database_of_many_pages(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys.sqlite"
    store = SQLiteKeyStore(path)
    with store.deferred():
        made = [store.get_or_create(f"person/{i}") for i in range(3_000)]
    for index in range(0, 3_000, 7):
        assert store.destroy(f"person/{index}")
    on_disk = path.read_bytes()
    assert len(on_disk) > 40 * 4096  # many pages
    assert [index for index in range(0, 3_000, 7) if made[index] in on_disk] == []
    assert all(made[index] in on_disk for index in range(1, 3_000, 7))  # (the check can see a key)


def test_a_failed_commit_keeps_no_lock_and_the_next_key_is_made(tmp_path: Path) -> None:
    """A reader that holds the database past the wait makes the commit fail: the key is not
    stored, and the store is usable again once the reader is gone (no transaction left open)."""
    import sqlite3

    path = tmp_path / "ledger.keys.sqlite"
    store = SQLiteKeyStore(path)
    store.get_or_create("person/a")
    store._db().execute("PRAGMA busy_timeout = 100")  # noqa: SLF001 (a short wait for the test)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM keys").fetchall()  # a read lock held in a transaction
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.get_or_create("person/b")
    reader.execute("ROLLBACK")
    reader.close()
    assert SQLiteKeyStore(path).get("person/b") is None
    made = store.get_or_create("person/c")
    assert made is not None and SQLiteKeyStore(path).get("person/c") == made


def test_a_key_database_keeps_the_keys_used_most_recently(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys.sqlite"
    writer = SQLiteKeyStore(path)
    with writer.deferred():
        made = {f"person/{i}": writer.get_or_create(f"person/{i}") for i in range(50)}
    reader = SQLiteKeyStore(path, cache_size=10)
    for index in range(50):
        assert reader.get("person/0") == made["person/0"]  # used all along
        assert reader.get(f"person/{index}") == made[f"person/{index}"]
    assert set(reader._cache) == {"person/0", *(f"person/{i}" for i in range(41, 50))}  # noqa: SLF001


def test_a_key_database_reads_a_batch_of_keys_ahead_in_a_few_queries(tmp_path: Path) -> None:
    """What a batch of accounts read cold asks for (``UnitOfWork.prefetch``): 1,200 keys in three
    queries of at most 500 ids, then each read from memory; a destroyed key and an id never made
    are not kept, and read as before; no more than the cache's bound is kept."""
    path = tmp_path / "ledger.keys.sqlite"
    writer = SQLiteKeyStore(path)
    with writer.deferred():
        made = {f"person/{i}": writer.get_or_create(f"person/{i}") for i in range(1_200)}
    assert writer.destroy("person/7")
    reader = SQLiteKeyStore(path)
    statements: list[str] = []
    reader._db().set_trace_callback(statements.append)  # noqa: SLF001
    assert reader.warm([*made, "person/none"]) == 1_199
    assert len([s for s in statements if s.startswith("SELECT id, key FROM keys")]) == 3
    statements.clear()
    assert all(reader.get(key_id) == key for key_id, key in made.items() if key_id != "person/7")
    assert statements == []  # every one from memory
    assert reader.get("person/7") is None and reader.is_destroyed("person/7")
    assert reader.get("person/none") is None and not reader.is_destroyed("person/none")
    small = SQLiteKeyStore(path, cache_size=100)
    small.warm(made)
    assert len(small._cache) == 99  # noqa: SLF001 (the first 100 asked for, less the destroyed one)


def test_a_key_database_in_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    SQLiteKeyStore(directory / "ledger.keys.sqlite").get_or_create("person/a")
    os.chmod(directory, 0o777)
    with pytest.raises(SettingsError, match="writable by its owner only"):
        SQLiteKeyStore(directory / "ledger.keys.sqlite").get("person/a")


def test_a_key_file_others_may_read_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ledger.keys"
    STORES[kind](path).get_or_create("person/a")
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="readable by its owner only"):
        STORES[kind](path).get("person/a")


def test_a_file_that_is_not_a_key_database_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    os.chmod(path, 0o600)
    with pytest.raises(SettingsError, match="not a key database"):
        SQLiteKeyStore(path).get("person/a")


def test_a_damaged_key_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys"
    FileKeyStore(path).get_or_create("person/a")
    with path.open("a") as out:
        out.write('{"id": "person/b", "key": "c2hvcnQ="}\n')
    with pytest.raises(SettingsError, match="line 2"):
        FileKeyStore(path).get("person/a")


def test_the_settings_name_the_store(tmp_path: Path) -> None:
    sqlite = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.sqlite")}
    beside = key_store_from_env(sqlite)
    assert isinstance(beside, SQLiteKeyStore) and beside.path == tmp_path / "l.sqlite.keys.sqlite"
    FileKeyStore(tmp_path / "l.sqlite.keys").get_or_create("person/a")  # a ledger made before the key database
    kept = key_store_from_env(sqlite)
    assert isinstance(kept, FileKeyStore) and kept.path == tmp_path / "l.sqlite.keys"
    named = key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": f"file:{tmp_path / 'k'}"})
    assert isinstance(named, FileKeyStore) and named.path == tmp_path / "k"
    database = key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": f"sqlite:{tmp_path / 'k.sqlite'}"})
    assert isinstance(database, SQLiteKeyStore) and database.path == tmp_path / "k.sqlite"
    assert key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": "none"}) is None
    provided = key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": "provider:tests.security.test_key_store:KmsLike", "KMS_URL": "x"})
    assert type(provided).__name__ == "KmsLike" and provided.settings["KMS_URL"] == "x"  # type: ignore[attr-defined]


class KmsLike(MemoryKeyStore):
    """A provider of a deployment's own: built from the settings."""

    def __init__(self, settings: dict[str, str]) -> None:
        super().__init__()
        self.settings = settings


def test_a_key_made_in_a_deferred_block_is_the_one_another_process_gets(tmp_path: Path, kind: str) -> None:
    """A save encrypts with the keys its block makes before they are written: another process
    asking for the same key meanwhile must wait for them, not make its own (its own would leave
    the first save's fields under a key the store never kept)."""
    path = tmp_path / "ledger.keys"
    name = STORES[kind].__name__
    holder = (f"import sys, time; from pathlib import Path; from adapters.keys import {name} as S; s = S(Path(sys.argv[1]))\n"
              "with s.deferred():\n    print(s.get_or_create('person/a').hex(), flush=True)\n    time.sleep(1.5)\n")
    asker = (f"import sys; from pathlib import Path; from adapters.keys import {name} as S;"
             "print(S(Path(sys.argv[1])).get_or_create('person/a').hex())")
    first = subprocess.Popen([sys.executable, "-c", holder, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None
    used = first.stdout.readline().strip()  # made, not yet written: the block holds the lock
    second = subprocess.run([sys.executable, "-c", asker, str(path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    first.communicate(timeout=60)
    assert second.stdout.strip() == used == STORES[kind](path).get("person/a").hex()  # type: ignore[union-attr]


def test_a_thread_waits_for_anothers_save_and_the_same_thread_is_refused_not_hung(tmp_path: Path, kind: str) -> None:
    import threading

    from adapters.keys import KeyFileBusy

    path = tmp_path / "ledger.keys"
    saving, other = STORES[kind](path), STORES[kind](path)
    got: list[bytes | None] = []
    with saving.deferred():
        made = saving.get_or_create("person/a")
        with pytest.raises(KeyFileBusy):  # the lock between processes would wait for this very thread for ever
            other.get_or_create("person/b")
        waiter = threading.Thread(target=lambda: got.append(other.get_or_create("person/a")))
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive()  # another thread waits for the save's keys
    waiter.join(timeout=10)
    assert got == [made]


def test_a_key_line_still_being_written_is_read_once_it_is_whole(tmp_path: Path) -> None:
    """Another process appends a key in two writes: a reader between them sees the keys before
    it and not the half line; after the second write it reads the key, counted as line 3."""
    path = tmp_path / "ledger.keys"
    writer = FileKeyStore(path)
    first = writer.get_or_create("person/a")
    reader = FileKeyStore(path)
    assert reader.get("person/a") == first
    key = base64.b64encode(os.urandom(32)).decode()
    line = json.dumps({"id": "person/b", "key": key}) + "\n"
    with path.open("a") as out:
        out.write(line[:20])
    assert reader.get("person/b") is None and reader.get("person/a") == first
    with path.open("a") as out:
        out.write(line[20:])
        out.write('{"id": "person/c", "key": "c2hvcnQ="}\n')  # damaged: named by its line number
    with pytest.raises(SettingsError, match="line 3"):
        reader.get("person/b")


def test_a_key_file_is_moved_into_a_key_database_and_the_ledger_then_reads_the_database(tmp_path: Path) -> None:
    """`fund-ledger import-keys`: a dry run first, then every key and destroyed id copied, the file
    removed, and the default store beside the ledger is the database."""
    env = {**{k: v for k, v in os.environ.items() if k != "PERSISTENCE_MODULE" and not k.startswith("POSTGRES_")
              and k != "FUND_LEDGER_KEYS"}, "FUND_LEDGER_SQLITE": str(tmp_path / "l.sqlite"), "PYTHONPATH": str(REPO)}
    settings = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.sqlite")}
    old = FileKeyStore(tmp_path / "l.sqlite.keys")
    made = {key_id: old.get_or_create(key_id) for key_id in ("person/a", "person/b", "person/c")}
    old.destroy("person/c")

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", "import-keys", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)

    dry = command()
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True and json.loads(dry.stdout)["keys"] == 2
    assert isinstance(key_store_from_env(settings), FileKeyStore)  # nothing moved

    done = command("--yes")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["keys_imported"], summary["destroyed_ids"], summary["key_file_removed"]) == (2, 1, True)
    assert not (tmp_path / "l.sqlite.keys").exists()
    store = key_store_from_env(settings)
    assert isinstance(store, SQLiteKeyStore) and store.path == tmp_path / "l.sqlite.keys.sqlite"
    assert (store.get("person/a"), store.get("person/b")) == (made["person/a"], made["person/b"])
    assert store.get("person/c") is None and store.is_destroyed("person/c")
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_a_key_database_holding_another_key_for_an_id_takes_nothing_from_the_file(tmp_path: Path) -> None:
    from adapters.keys import import_key_file

    source = FileKeyStore(tmp_path / "l.keys")
    source.get_or_create("person/a")
    source.get_or_create("person/b")
    target = SQLiteKeyStore(tmp_path / "l.keys.sqlite")
    other = target.get_or_create("person/b")
    with pytest.raises(SettingsError, match="another key for person/b"):
        import_key_file(source, target, remove=True)
    assert target.get("person/a") is None and target.get("person/b") == other  # rolled back as a whole
    assert source.path.exists() and source.count() == 2


def test_a_key_file_whose_keys_were_moved_is_never_used_again(tmp_path: Path) -> None:
    """After the import, a store on the file (a setting not changed, a process not stopped) is
    refused rather than making keys the database never holds; the default beside the ledger is
    the database, even should a key file appear there again."""
    from adapters.keys import import_key_file

    source = FileKeyStore(tmp_path / "l.sqlite.keys")
    key = source.get_or_create("person/a")
    import_key_file(source, SQLiteKeyStore(tmp_path / "l.sqlite.keys.sqlite"), remove=True)
    with pytest.raises(SettingsError, match="were moved to the key database"):
        FileKeyStore(tmp_path / "l.sqlite.keys").get_or_create("person/b")
    assert not (tmp_path / "l.sqlite.keys").exists()
    (tmp_path / "l.sqlite.keys").write_text("")
    store = key_store_from_env({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.sqlite")})
    assert isinstance(store, SQLiteKeyStore) and store.get("person/a") == key
