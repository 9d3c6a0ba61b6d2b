"""The key file: private, shared by processes, a key made once per id, destroyed for good."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.keys import FileKeyStore, MemoryKeyStore, key_store_from_env
from ledger.settings import SettingsError

REPO = Path(__file__).resolve().parents[2]


def test_a_key_is_made_once_and_read_back_by_another_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ledger.keys"
    first = FileKeyStore(path).get_or_create("person/a")
    assert first is not None and len(first) == 32
    assert FileKeyStore(path).get("person/a") == first  # another process's view of the file
    assert FileKeyStore(path).get_or_create("person/a") == first  # never a second key for one id
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_two_processes_making_the_same_keys_at_once_agree_on_each(tmp_path: Path) -> None:
    """Both take the file's lock and look again before writing: one key per id, whoever won."""
    path = tmp_path / "ledger.keys"
    script = ("import sys; from pathlib import Path; from adapters.keys import FileKeyStore; s = FileKeyStore(Path(sys.argv[1]));"
              "print(','.join(s.get_or_create(f'person/{i}').hex() for i in range(200)))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert outputs[0] == outputs[1] == outputs[2]
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 200


def test_keys_made_in_a_deferred_block_are_written_together_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys"
    store = FileKeyStore(path)
    with store.deferred():
        made = [store.get_or_create(f"person/{i}") for i in range(3)]
        assert not path.exists()  # nothing on disk yet: the caller commits after the block
        assert store.get("person/1") == made[1]
    assert [FileKeyStore(path).get(f"person/{i}") for i in range(3)] == made


def test_keys_made_in_a_block_that_failed_are_never_used(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "ledger.keys")
    with pytest.raises(RuntimeError), store.deferred():
        lost = store.get_or_create("person/a")
        raise RuntimeError("the save failed")
    assert store.get("person/a") is None
    assert store.get_or_create("person/a") != lost


def test_a_destroyed_key_leaves_the_file_and_is_never_made_again(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys"
    store = FileKeyStore(path)
    key = store.get_or_create("person/a")
    keep = store.get_or_create("person/b")
    assert key is not None
    assert store.destroy("person/a") is True
    text = path.read_text()
    assert base64.b64encode(key).decode() not in text  # the key's bytes are gone from the file
    assert store.get("person/a") is None and store.is_destroyed("person/a")
    assert store.get_or_create("person/a") is None  # an erased person's data is dropped, not encrypted anew
    assert FileKeyStore(path).get("person/b") == keep
    assert FileKeyStore(path).is_destroyed("person/a")


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.keys"
    FileKeyStore(path).get_or_create("person/a")
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="readable by its owner only"):
        FileKeyStore(path).get("person/a")


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
    assert isinstance(beside, FileKeyStore) and beside.path == tmp_path / "l.sqlite.keys"
    named = key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": f"file:{tmp_path / 'k'}"})
    assert isinstance(named, FileKeyStore) and named.path == tmp_path / "k"
    assert key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": "none"}) is None
    provided = key_store_from_env({**sqlite, "FUND_LEDGER_KEYS": "provider:tests.security.test_key_store:KmsLike", "KMS_URL": "x"})
    assert type(provided).__name__ == "KmsLike" and provided.settings["KMS_URL"] == "x"  # type: ignore[attr-defined]


class KmsLike(MemoryKeyStore):
    """A provider of a deployment's own: built from the settings."""

    def __init__(self, settings: dict[str, str]) -> None:
        super().__init__()
        self.settings = settings


def test_a_key_made_in_a_deferred_block_is_the_one_another_process_gets(tmp_path: Path) -> None:
    """A save encrypts with the keys its block makes before they are written: another process
    asking for the same key meanwhile must wait for them, not make its own (its own would leave
    the first save's fields under a key the file never kept)."""
    path = tmp_path / "ledger.keys"
    holder = ("import sys, time; from pathlib import Path; from adapters.keys import FileKeyStore; s = FileKeyStore(Path(sys.argv[1]))\n"
              "with s.deferred():\n    print(s.get_or_create('person/a').hex(), flush=True)\n    time.sleep(1.5)\n")
    asker = ("import sys; from pathlib import Path; from adapters.keys import FileKeyStore;"
             "print(FileKeyStore(Path(sys.argv[1])).get_or_create('person/a').hex())")
    first = subprocess.Popen([sys.executable, "-c", holder, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None
    used = first.stdout.readline().strip()  # made, not yet written: the block holds the lock
    second = subprocess.run([sys.executable, "-c", asker, str(path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    first.communicate(timeout=60)
    assert second.stdout.strip() == used == FileKeyStore(path).get("person/a").hex()  # type: ignore[union-attr]


def test_a_thread_waits_for_anothers_save_and_the_same_thread_is_refused_not_hung(tmp_path: Path) -> None:
    import threading

    from adapters.keys import KeyFileBusy

    path = tmp_path / "ledger.keys"
    saving, other = FileKeyStore(path), FileKeyStore(path)
    got: list[bytes | None] = []
    with saving.deferred():
        made = saving.get_or_create("person/a")
        with pytest.raises(KeyFileBusy):  # flock would wait for this very thread for ever
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
