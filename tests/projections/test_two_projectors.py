"""Two projectors on one set of tables (``fund-ledger project --follow`` and a ``fund-ledger
report``, which catches up first): a batch is committed by one of them only. The other's batch,
read from a position the first has since moved, is rolled back and the log read again from the
stored position (``ProjectionStore.advance_position``)."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import RecordIncome
from projections.fold import BatchState
from projections.projector import Projector
from projections.replay import replay
from projections.reports import Filters, run_report
from projections.store import PositionMoved, ProjectionStore, memory_store, open_store
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, remit
from tests.projections.test_crash_and_replay import assert_same_tables


def subsidy(ledger: Ledger, reference: str, amount_fen: int, on: date) -> None:
    ledger.record_income(RecordIncome(REGION, reference, "pooled", "fiscal_subsidy", amount_fen, on))


def fiscal_income_fen(store: ProjectionStore) -> int:
    rows = run_report("income", store, Filters(region=REGION)).sections[0].rows
    return sum(row["amount_fen"] for row in rows if row["item"] == "income.fiscal_subsidy")


def books(ledger: Ledger) -> None:
    open_regions(ledger)
    enrol_both(ledger)
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)


def race_two_catch_ups(ledger: Ledger, ledger_b: Ledger, store_a: ProjectionStore, store_b: ProjectionStore) -> None:
    """A and B, two real ``catch_up`` calls with their own connections: A holds its batch's
    transaction open until B has read the same position and a longer batch from it, then
    commits; B then applies its batch. Each subsidy must be counted once."""
    Projector(ledger, store_a).catch_up()
    subsidy(ledger, "FISCAL-1", 1_000_000, date(2024, 2, 1))
    a, b = Projector(ledger, store_a), Projector(ledger_b, store_b)
    b_has_read = threading.Event()
    reading = b.batches

    def batches_then_signal(start: int, stop: int | None):  # type: ignore[no-untyped-def]
        for batch in reading(start, stop):
            b_has_read.set()  # B read the position A has not committed past yet, and the batch after it
            yield batch

    b.batches = batches_then_signal  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def run_b() -> None:
        try:
            b.catch_up()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    thread = threading.Thread(target=run_b)

    def commit_after_b_has_read(state: BatchState) -> None:
        a.before_commit = None
        subsidy(ledger, "FISCAL-2", 500_000, date(2024, 2, 2))  # the ingest goes on: B's batch is longer
        thread.start()
        assert b_has_read.wait(30)
        threading.Event().wait(0.3)  # B on its way into its own transaction (or already waiting in it)

    a.before_commit = commit_after_b_has_read
    a.catch_up()
    thread.join(60)
    assert not thread.is_alive() and errors == []
    assert a.position == b.position == ledger.recorder.max_notification_id()
    assert fiscal_income_fen(store_a) == 1_500_000  # counted twice before: 2,500,000
    clean = memory_store()
    Projector(ledger, clean).catch_up()
    assert_same_tables(store_a, clean)
    assert replay(ledger, store_a).passed


def test_two_catch_ups_at_once_count_each_batch_once(sqlite_env: dict[str, str], sqlite_ledger: Ledger,
                                                     store: ProjectionStore) -> None:
    books(sqlite_ledger)
    other = Ledger(env=sqlite_env)  # the second process: its own connections
    other_store = open_store(other)
    try:
        race_two_catch_ups(sqlite_ledger, other, store, other_store)
    finally:
        other_store.close()
        other.close()


def test_a_batch_read_before_another_projector_committed_is_refused_and_read_again(
        sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """Step by step: B reads the position and its batch, A commits a shorter batch, B's batch is
    refused with nothing written, and B's next catch-up applies only what A has not."""
    books(sqlite_ledger)
    a, b = Projector(sqlite_ledger, store), Projector(sqlite_ledger, store)
    a.catch_up()
    subsidy(sqlite_ledger, "FISCAL-1", 1_000_000, date(2024, 2, 1))
    shorter = a.head()
    start = b.position
    subsidy(sqlite_ledger, "FISCAL-2", 500_000, date(2024, 2, 2))
    batch = next(b.batches(start, None))
    a.catch_up(stop=shorter)
    with pytest.raises(PositionMoved, match="tracking position"):
        b.apply_after(start, batch)
    assert store.position("proj_") == shorter and fiscal_income_fen(store) == 1_000_000  # nothing of B's batch
    with pytest.raises(PositionMoved):
        b.apply(batch)  # without its start: refused as well, one of its events being applied already
    result = b.catch_up()
    assert (result.start_position, result.end_position, result.events) == (shorter, b.head(), b.head() - shorter)
    assert fiscal_income_fen(store) == 1_500_000
    assert replay(sqlite_ledger, store).passed
