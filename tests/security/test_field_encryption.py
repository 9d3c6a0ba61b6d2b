"""Personal fields encrypted in the stored events, under the person's own key; everything the
books need readable without any key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from adapters.crypto import ERASED, SEALED, PersonalDataMapper, Sealer, is_sealed, person_key_id
from ledger.application import Ledger
from ledger.commands import Enrol, PostRemittance, RemittanceLine
from ledger.errors import SnapshotUnusable
from ledger.policy import load_policy_file
from ledger.settings import SettingsError

REGION = "210100"
BIRTH = date(1971, 3, 14)


@contextmanager
def _ledger(path: Path, **settings: str) -> Iterator[Ledger]:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), **settings})
    try:
        yield ledger
    finally:
        ledger.close()


def _enrol_and_credit(ledger: Ledger) -> None:
    """P1, born 1971-03-14, is 52 in 2024-01: employee share 2% of 500,000 = 10,000; the 45-and-over
    band credits 2% = 10,000 of the employer's 30,000; the pooled fund gets 20,000. Declared 40,000."""
    ledger.open_region(load_policy_file())
    ledger.enrol(Enrol(REGION, "P1", "employee", BIRTH, "E77", date(2024, 1, 1), 0))
    ledger.post_remittance(PostRemittance(REGION, "E77-2024-01", "employer", "E77", "2024-01", date(2024, 1, 15), 40_000,
                                          (RemittanceLine("P1", 500_000),)))


def _stored_states(ledger: Ledger) -> list[bytes]:
    return [n.state for n in ledger.recorder.select_notifications(start=1, limit=1000)]


def test_a_birth_date_and_employer_are_stored_encrypted_and_read_back(tmp_path: Path) -> None:
    with _ledger(tmp_path / "l.sqlite") as ledger:
        _enrol_and_credit(ledger)
        states = b"".join(_stored_states(ledger))
        assert b"1971-03-14" not in states
        assert b'"employer_id":"E77"' not in states  # the employer of the person (the payer's id stays: a remittance's)
        account = ledger.personal_account(REGION, "P1")
        assert (account.birth_date, account.employer_id, account.balance_fen) == (BIRTH, "E77", 20_000)


def test_a_process_without_keys_reads_the_books_but_no_personal_field_and_writes_none(tmp_path: Path) -> None:
    with _ledger(tmp_path / "l.sqlite") as keyed:
        _enrol_and_credit(keyed)
        books = keyed.trial_balance()
    with _ledger(tmp_path / "l.sqlite", FUND_LEDGER_KEYS="none") as keyless:
        assert keyless.trial_balance() == books  # amounts and postings need no key
        account = keyless.personal_account(REGION, "P1")
        assert (account.birth_date, account.employer_id, account.balance_fen) == (SEALED, SEALED, 20_000)
        with pytest.raises(SettingsError, match="no key store"):
            keyless.enrol(Enrol(REGION, "P2", "employee", BIRTH, "E77", date(2024, 1, 1), 0))


def test_a_key_file_of_another_ledger_is_refused_not_read_as_erased(tmp_path: Path) -> None:
    with _ledger(tmp_path / "l.sqlite") as ledger:
        _enrol_and_credit(ledger)
    with _ledger(tmp_path / "l.sqlite", FUND_LEDGER_KEYS=str(tmp_path / "other.keys")) as wrong, \
            pytest.raises(SettingsError, match="no key person/"):
        wrong.personal_account(REGION, "P1")


def test_a_ciphertext_moved_to_another_field_or_altered_does_not_open(tmp_path: Path) -> None:
    with _ledger(tmp_path / "l.sqlite") as ledger:
        mapper = ledger.mapper
        assert isinstance(mapper, PersonalDataMapper)
        sealer: Sealer = mapper.policy.sealer
        key_id = person_key_id(REGION, "P1")
        sealed = sealer.seal(key_id, "birth_date", BIRTH)
        assert is_sealed(sealed) and sealer.open(sealed, "birth_date") == BIRTH
        with pytest.raises(SettingsError, match="does not open"):
            sealer.open(sealed, "employer_id")  # the field's name is bound into the ciphertext
        altered = {**sealed, "data": sealed["data"][:-4] + ("AAAA" if not sealed["data"].endswith("AAAA") else "BBBB")}
        with pytest.raises(SettingsError, match="does not open"):
            sealer.open(altered, "birth_date")
        assert mapper.keys is not None and mapper.keys.destroy(key_id)
        assert sealer.open(sealed, "birth_date") == ERASED


def test_a_snapshot_of_a_personal_account_keeps_its_fields_sealed_together_and_is_not_used_once_erased(tmp_path: Path) -> None:
    """Personal accounts are snapshotted in bulk (ledger.unit_of_work): the snapshot's personal
    fields are one sealed value under the person's key (one encryption a snapshot), which opens
    whole; its key destroyed, the snapshot is not used at all."""
    import json

    from adapters.crypto import SNAPSHOT_FIELD, account_key_id
    from ledger.aggregates import PersonalAccount

    with _ledger(tmp_path / "l.sqlite") as ledger:
        _enrol_and_credit(ledger)
        account = ledger.personal_account(REGION, "P1")
        stored = ledger.mapper.to_stored_event(PersonalAccount.Snapshot.take(account))
        # the plaintext nowhere: not beside the sealed value, nor in its bytes (the base64 text of
        # random bytes can spell "E77" by chance, about 1 state in 900, so that text is not searched)
        beside = json.loads(stored.state)
        sealed_bytes = base64.b64decode(beside["state"][SNAPSHOT_FIELD].pop("data"))
        outside = json.dumps(beside).encode()
        for plaintext in (b"1971-03-14", b"E77"):
            assert plaintext not in outside and plaintext not in sealed_bytes
        state = json.loads(stored.state)["state"]
        assert not {"birth_date", "employer_id", "employer_history", "pension_fen"} & set(state)
        assert state[SNAPSHOT_FIELD]["sealed"] == "aes-256-gcm/v1"
        assert state[SNAPSHOT_FIELD]["key"] == account_key_id(account.id)
        assert state[SNAPSHOT_FIELD]["fields"] == ["birth_date", "employer_id", "employer_history", "pension_fen"]
        assert list(state) == [name for name in vars(account) if name not in (
            "_id", "_version", "_pending_events", "birth_date", "employer_id", "employer_history", "pension_fen")] + [
            "class_version", SNAPSHOT_FIELD]  # the account's class version (3), which the library keeps with its state
        restored = ledger.aggregate_from_snapshot(stored)
        assert (restored.birth_date, restored.employer_id) == (BIRTH, "E77")  # type: ignore[attr-defined]
        assert list(restored.movements) == list(account.movements) != []  # type: ignore[attr-defined]
        assert restored.employer_history == account.employer_history  # type: ignore[attr-defined]
        mapper = ledger.mapper
        assert mapper.keys is not None and mapper.keys.destroy(account_key_id(account.id))  # type: ignore[attr-defined]
        with pytest.raises(SnapshotUnusable) as refused:  # the account is then folded from its events
            ledger.aggregate_from_snapshot(stored)
        assert refused.value.reason == "unreadable"


def test_the_projections_are_built_without_opening_a_personal_field(tmp_path: Path) -> None:
    """The projector decodes the log with its personal fields left sealed (the fold reads none):
    a key file that opens nothing (another ledger's, which refuses to open any field) does not
    stop it, and the books it builds are the keyed ones."""
    from projections.projector import Projector
    from projections.store import memory_store

    def balances(ledger: Ledger) -> list[dict[str, object]]:
        store = memory_store()
        Projector(ledger, store).catch_up()
        return store.query("SELECT person_id, enrolled_on, balance_fen, credited_employee_share_fen FROM proj_personal_balances")

    with _ledger(tmp_path / "l.sqlite") as ledger:
        _enrol_and_credit(ledger)
        keyed = balances(ledger)
    assert keyed == [{"person_id": "P1", "enrolled_on": "2024-01-01", "balance_fen": 20_000, "credited_employee_share_fen": 10_000}]
    with _ledger(tmp_path / "l.sqlite", FUND_LEDGER_KEYS=str(tmp_path / "other.keys")) as wrong:
        assert balances(wrong) == keyed
