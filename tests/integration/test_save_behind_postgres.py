"""A batch's save written while the next batch is applied (``consumers.save_behind``), on PostgreSQL.

What a user would check: the second batch sees the first's money although the first is not
written yet; each save counts only once it is in the store; a save that fails takes every batch
applied after it with it, leaving the books as they were, and both applied again give the books
of a run without the failure; an account's snapshot is of the save that took it, not of what the
next batch made of it before the save was written.

Each test holds the first save back (``_held_first_save``) until the second batch is prepared, so
the overlap is not left to timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from consumers.handlers import BatchResult, Delivery, apply_batch
from consumers.save_behind import SaveBehind, writes_in_background
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.policy import load_policy_file
from ledger.unit_of_work import UnitOfWork
from tests.consumers.test_handlers_without_kafka import _declared, _enrol, _remittance

pytestmark = pytest.mark.postgres

REGION = "210100"
TOPIC = "stream"  # no topic of the ledger's: the test producer may send every type on it (consumers.publishers)


def _month(remittance_id: str, period: str, declared_fen: int) -> bytes:
    return _remittance(remittance_id, ["P1"], declared_fen).replace(b'"period": "2024-04"', f'"period": "{period}"'.encode())


def _deliveries(values: list[bytes], start: int, partition: int = 0) -> list[Delivery]:
    return [Delivery(value=v, topic=TOPIC, partition=partition, offset=start + i) for i, v in enumerate(values)]


@pytest.fixture
def ledger(postgres_env: dict[str, str]) -> Iterator[Ledger]:
    opened = Ledger(env=postgres_env)
    opened.open_region(load_policy_file())
    apply_batch(opened, _deliveries([_enrol("P1")], start=0, partition=9), tracking_name=f"{TOPIC}:9")
    yield opened
    opened.close()


class _HeldFirstSave:
    """Holds the first save's write until the next unit of work has prepared its save; notes
    what the store held at that moment."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> None:
        self.next_prepared = threading.Event()
        self.saves = 0
        self.position_when_next_prepared: int | None = None
        write, prepare = ledger.write_save, UnitOfWork.prepare

        def held_write(prepared: Any) -> None:
            self.saves += 1
            if self.saves == 1:
                assert self.next_prepared.wait(30), "the next batch was not applied while the first save was held"
                if fail_first:
                    raise IntegrityError("the store refused the first save")
            write(prepared)

        def noting_prepare(unit: UnitOfWork, *args: Any, **kwargs: Any) -> Any:
            prepared = prepare(unit, *args, **kwargs)
            if self.saves >= 1 and not self.next_prepared.is_set():
                self.position_when_next_prepared = ledger.recorder.max_tracking_id(f"{TOPIC}:0")
                self.next_prepared.set()
            return prepared

        monkeypatch.setattr(ledger, "write_save", held_write)
        monkeypatch.setattr(UnitOfWork, "prepare", noting_prepare)


def _apply(ledger: Ledger, saves: SaveBehind, batch: list[Delivery], counted: list[tuple[int, int, int | None]]) -> None:
    def on_saved(part: BatchResult, last_offset: int) -> None:
        counted.append((last_offset, len(part.outcomes), ledger.recorder.max_tracking_id(f"{TOPIC}:0")))

    apply_batch(ledger, batch, tracking_name=f"{TOPIC}:0", saves=saves, on_saved=on_saved)


def test_the_next_batch_is_applied_on_the_unwritten_save_and_each_counts_once_written(
        ledger: Ledger, postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert writes_in_background(ledger)
    declared_fen = _declared(ledger, 1)
    held = _HeldFirstSave(ledger, monkeypatch)
    saves, counted = SaveBehind(ledger), []
    _apply(ledger, saves, _deliveries([_month("R3", "2024-03", declared_fen)], start=0), counted)
    assert saves.in_flight and counted == []  # right after the first batch: handed over, not counted
    _apply(ledger, saves, _deliveries([_month("R4", "2024-04", declared_fen)], start=1), counted)
    assert held.position_when_next_prepared is None  # the second was applied before the first was written
    saves.close()
    assert counted == [(0, 1, 1), (1, 1, 2)]  # in order, each once written: its position was in the store
    credited_fen = ledger.personal_account(REGION, "P1").balance_fen
    assert credited_fen > 0
    fresh = Ledger(env=postgres_env)
    try:
        assert fresh.personal_account(REGION, "P1").balance_fen == credited_fen
        assert fresh.personal_account(REGION, "P1").version == 3  # enrolled, then credited twice
        books = fresh.trial_balance()
        assert books["bank.income"] == 2 * declared_fen and books["clearing.personal_accounts"] == 0, books
    finally:
        fresh.close()


def test_a_failed_save_takes_the_batch_applied_after_it_and_both_apply_again_once(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    declared_fen = _declared(ledger, 1)
    first = _deliveries([_month("R3", "2024-03", declared_fen)], start=0)
    second = _deliveries([_month("R4", "2024-04", declared_fen)], start=1)
    books_before = ledger.trial_balance()
    _HeldFirstSave(ledger, monkeypatch, fail_first=True)
    saves, counted = SaveBehind(ledger), []
    _apply(ledger, saves, first, counted)
    with pytest.raises(IntegrityError):  # from handing over the second save, or from waiting for it
        _apply(ledger, saves, second, counted)
        saves.wait()
    assert counted == [] and not saves.in_flight
    assert ledger.repository.cache is not None and len(ledger.repository.cache.cache) == 0  # nothing kept in memory
    assert ledger.recorder.max_tracking_id(f"{TOPIC}:0") is None
    assert ledger.personal_account(REGION, "P1").balance_fen == 0
    assert ledger.trial_balance() == books_before

    monkeypatch.undo()
    _apply(ledger, saves, first, counted)
    _apply(ledger, saves, second, counted)
    saves.close()
    assert [(offset, messages) for offset, messages, _ in counted] == [(0, 1), (1, 1)]
    books = ledger.trial_balance()
    assert books["bank.income"] == books_before.get("bank.income", 0) + 2 * declared_fen
    assert books["clearing.personal_accounts"] == 0
    assert ledger.personal_account(REGION, "P1").version == 3


def test_an_accounts_snapshot_is_of_the_save_that_took_it_not_of_the_next_batch(
        postgres_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    every_two = type("LedgerSnapshotEvery2", (Ledger,), {"account_snapshot_interval": 2, "name": Ledger.name})
    ledger = every_two(env=postgres_env)
    try:
        ledger.open_region(load_policy_file())
        apply_batch(ledger, _deliveries([_enrol("P1")], start=0, partition=9), tracking_name=f"{TOPIC}:9")
        declared_fen = _declared(ledger, 1)
        _HeldFirstSave(ledger, monkeypatch)
        saves, counted = SaveBehind(ledger), []
        _apply(ledger, saves, _deliveries([_month("R3", "2024-03", declared_fen)], start=0), counted)  # version 2: snapshot
        after_first_fen = ledger.personal_account(REGION, "P1").balance_fen
        _apply(ledger, saves, _deliveries([_month("R4", "2024-04", declared_fen)], start=1), counted)  # version 3, before 2 is written
        saves.close()
        assert ledger.snapshots is not None
        snapshots = list(ledger.snapshots.get(PersonalAccount.id_for(REGION, "P1")))
        assert [s.originator_version for s in snapshots] == [2]
        assert snapshots[0].mutate(None).balance_fen == after_first_fen  # not the second batch's balance
        assert ledger.personal_account(REGION, "P1").balance_fen == 2 * after_first_fen
    finally:
        ledger.close()


def test_an_account_named_as_written_by_others_while_its_save_is_in_flight_stays_in_the_cache(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store names the aggregates written since it last looked; its own save, committed by the
    writing thread just before it noted its own position, can be among them (seen in a clean
    clone's run: a remittance refused with a duplicate version). An account whose changes are in a
    save not yet written must not be taken out of the cache then: read again from the store, it
    would lack them, and the next batch would build on a stale version (the store refuses it: the
    ingest or the consumer stops on a conflict of its own making)."""
    declared_fen = _declared(ledger, 1)
    account_id = PersonalAccount.id_for(REGION, "P1")
    release = threading.Event()
    write = ledger.write_save

    def held_write(prepared: Any) -> None:
        assert release.wait(30)
        write(prepared)

    monkeypatch.setattr(ledger, "write_save", held_write)
    saves, counted = SaveBehind(ledger), []
    _apply(ledger, saves, _deliveries([_month("R3", "2024-03", declared_fen)], start=0), counted)
    assert saves.in_flight == 1
    monkeypatch.setattr(ledger.recorder, "written_by_others", lambda: [account_id])  # named, as the race names it
    _apply(ledger, saves, _deliveries([_month("R4", "2024-04", declared_fen)], start=1), counted)
    release.set()
    saves.close()
    assert [offset for offset, _, _ in counted] == [0, 1]
    account = ledger.personal_account(REGION, "P1")
    assert account.version == 3 and account.balance_fen > 0  # enrolled, then credited twice
    books = ledger.trial_balance()
    assert books["bank.income"] == 2 * declared_fen and books["clearing.personal_accounts"] == 0, books


def test_a_refused_message_on_an_account_whose_save_is_in_flight_leaves_the_next_message_its_changes(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused remittance puts the account back as it was, which reads it again from the store;
    with the previous batch's save still unwritten, the store lacked that save's credit and the
    next remittance in the batch built on a stale version (the store refused the save: the ingest
    or the consumer stopped on a conflict of its own making). The read now waits for the saves in
    flight."""
    declared_fen = _declared(ledger, 1)
    release = threading.Event()
    write = ledger.write_save

    def held_write(prepared: Any) -> None:
        assert release.wait(30)
        write(prepared)

    monkeypatch.setattr(ledger, "write_save", held_write)
    saves, counted = SaveBehind(ledger), []
    _apply(ledger, saves, _deliveries([_month("R3", "2024-03", declared_fen)], start=0), counted)
    threading.Timer(0.5, release.set).start()  # the first save is written only while the second batch waits for it
    refused_then_applied = [_month("R4", "2024-04", declared_fen + 1), _month("R5", "2024-04", declared_fen)]
    _apply(ledger, saves, _deliveries(refused_then_applied, start=1), counted)
    saves.close()
    assert [offset for offset, _, _ in counted] == [0, 2]
    account = ledger.personal_account(REGION, "P1")
    assert account.version == 3 and account.balance_fen > 0  # enrolled, then credited twice
    books = ledger.trial_balance()
    assert books["bank.income"] == 2 * declared_fen and books["clearing.personal_accounts"] == 0, books
