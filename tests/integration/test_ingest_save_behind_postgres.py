"""``fund-ledger ingest`` (``consumers.ingest.ingest_file``) on PostgreSQL writes each save while
it applies the next batch (``consumers.save_behind``), as the Kafka consumer does.

What a user would check: the file gives the same books and the same report as a run that writes
each save before going on; the next batch is applied while a save is being written (held here
until it is, so the overlap is not left to timing); a save that fails stops the ingest with the
store's error, nothing after it written, and running the file again completes the books exactly
once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from consumers.ingest import ingest_file
from consumers.save_behind import writes_in_background
from ledger.application import Ledger
from ledger.policy import load_policy_file
from ledger.unit_of_work import UnitOfWork
from tests.conftest import fresh_database
from tests.consumers.test_handlers_without_kafka import _declared, _enrol, _remittance

pytestmark = pytest.mark.postgres

REGION = "210100"
PEOPLE = ["P1", "P2", "P3"]
PERIODS = ["2024-01", "2024-02", "2024-03", "2024-04"]


@pytest.fixture
def ledger(postgres_env: dict[str, str]) -> Iterator[Ledger]:
    opened = Ledger(env=postgres_env)
    opened.open_region(load_policy_file())
    yield opened
    opened.close()


def _file(tmp_path: Path, ledger: Ledger) -> Path:
    """Three enrolments, then a remittance of the three for each of four months: one batch each."""
    declared_fen = _declared(ledger, len(PEOPLE))
    lines = [_enrol(person) for person in PEOPLE]
    for period in PERIODS:
        month = _remittance(f"R-{period}", PEOPLE, declared_fen).replace(b'"period": "2024-04"', f'"period": "{period}"'.encode())
        lines.append(month.replace(b'"received_on": "2024-04-15"', f'"received_on": "{period}-15"'.encode()))
    path = tmp_path / "file.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _books(ledger: Ledger) -> dict[str, Any]:
    return {"balances": {p: ledger.personal_account(REGION, p).balance_fen for p in PEOPLE},
            "pooled_fen": ledger.pooled_fund(REGION).balance_fen, "events": ledger.recorder.max_notification_id()}


def _report(report: Any) -> tuple[int, ...]:
    return report.lines, report.applied, report.duplicates, report.dead_letters, report.events


def test_a_file_saved_behind_gives_the_books_and_report_of_saving_each_batch_first(ledger: Ledger, tmp_path: Path,
                                                                                   postgres_server: dict[str, str]) -> None:
    assert writes_in_background(ledger)
    path = _file(tmp_path, ledger)
    behind = ingest_file(ledger, path, batch_size=1, dead_letter_file=None)
    assert _report(behind) == (7, 7, 0, 0, behind.events) and behind.events > 7
    books = _books(ledger)
    assert all(balance > 0 for balance in books["balances"].values())
    with fresh_database(postgres_server) as other_env:
        other = Ledger(env=other_env)
        try:
            other.open_region(load_policy_file())
            first = ingest_file(other, path, batch_size=1, dead_letter_file=None, save_behind=False)
            assert _report(first) == _report(behind)
            assert _books(other) == books
        finally:
            other.close()


def test_the_next_batch_is_applied_while_a_save_is_written(ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, ledger)
    next_prepared = threading.Event()
    written: list[int] = []
    write, prepare = ledger.write_save, UnitOfWork.prepare

    def held_write(prepared: Any) -> None:
        if not written:
            assert next_prepared.wait(30), "the next batch was not applied while the first save was held"
        write(prepared)
        written.append(len(prepared.stored_events))

    prepared_saves: list[int] = []

    def noting_prepare(unit: UnitOfWork, *args: Any, **kwargs: Any) -> Any:
        prepared = prepare(unit, *args, **kwargs)
        prepared_saves.append(len(prepared.stored_events))
        if len(prepared_saves) == 2:  # the second batch applied and its save made: the first is still held
            assert not written, "the first save was written before the second batch was applied"
            next_prepared.set()
        return prepared

    monkeypatch.setattr(ledger, "write_save", held_write)
    monkeypatch.setattr(UnitOfWork, "prepare", noting_prepare)
    report = ingest_file(ledger, path, batch_size=1, dead_letter_file=None)
    assert report.applied == 7 and written == prepared_saves  # every save written, in the order made
    assert report.events == sum(written)  # counted as written


def test_a_failed_save_stops_the_ingest_and_running_the_file_again_completes_the_books(ledger: Ledger, tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, ledger)
    write = ledger.write_save
    saves: list[int] = []

    def failing_fifth(prepared: Any) -> None:
        saves.append(1)
        if len(saves) == 5:
            raise IntegrityError("the store refused the fifth save")
        write(prepared)

    monkeypatch.setattr(ledger, "write_save", failing_fifth)
    with pytest.raises(IntegrityError, match="fifth save"):
        ingest_file(ledger, path, batch_size=1, dead_letter_file=None)
    written = ledger.recorder.max_notification_id()
    monkeypatch.setattr(ledger, "write_save", write)
    assert [ledger.personal_account(REGION, p).balance_fen for p in PEOPLE] == [_one_month(ledger)] * 3  # January only
    assert ledger.recorder.max_notification_id() == written

    again = ingest_file(ledger, path, batch_size=1, dead_letter_file=None)
    assert (again.applied, again.duplicates, again.dead_letters) == (3, 4, 0)  # February to April; what was written is not applied again
    assert [ledger.personal_account(REGION, p).balance_fen for p in PEOPLE] == [4 * _one_month(ledger)] * 3


def _one_month(ledger: Ledger) -> int:
    """What a month's line credits the person's account (the employee's share and the employer's
    share to the account)."""
    from datetime import date

    from ledger.rules import age_on, contribution_split

    policy = ledger.policy_in_force(REGION, date(2024, 4, 1))
    split = contribution_split(policy, "employee", age_on(date(1980, 1, 1), date(2024, 4, 1)), 500_000)
    return split.employee_fen + split.employer_to_personal_fen
