"""What a person reads: terminal tables that line up with Chinese in them, CSV a spreadsheet
opens in UTF-8, a statement in the order of its business dates with the recording time and the
movement in words; and the follower waiting out a database that is away."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from wcwidth import wcswidth

from ledger.application import Ledger
from projections import render
from projections.projector import CatchUp, Follower, Projector
from projections.query import ReportRequest, answer
from projections.reports import Column, Report, Section
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, remit


def chinese_report() -> Report:
    columns = [Column("item_name", "Item"), Column("amount_fen", "Amount", "fen"), Column("note", "Note")]
    rows = [{"item_name": "基本医疗保险费收入", "amount_fen": 123_456, "note": "a"},
            {"item_name": "Interest", "amount_fen": 7, "note": "=1+1"}]
    return Report("income", "收入 Income", [Section("income", "Income", columns, rows)])


def test_terminal_tables_line_up_when_a_column_holds_chinese() -> None:
    lines = render.as_table(chinese_report()).splitlines()
    header, rule, first, second = lines[2], lines[3], lines[4], lines[5]
    # Each line's "Amount" column ends at the same terminal cell: 18 cells of item (9 Chinese
    # characters), two spaces, then the amount right-aligned in 8 cells ("1,234.56").
    ends = [wcswidth(line[: line.index(amount) + len(amount)]) for line, amount in
            ((header, "Amount"), (first, "1,234.56"), (second, "0.07"))]
    assert ends == [18 + 2 + 8] * 3
    assert rule == "-" * 18 + "  " + "-" * 8 + "  " + "-" * 4


def test_csv_starts_with_a_byte_order_mark_and_never_runs_a_formula() -> None:
    text = render.as_csv(chinese_report())
    assert text.startswith("\ufeffItem,Amount,Note\n")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert "基本医疗保险费收入,1234.56,a" in text and "Interest,0.07,'=1+1" in text


@pytest.fixture
def late_remittance(sqlite_ledger: Ledger, store: ProjectionStore, projector: Projector) -> Ledger:
    """February's remittance recorded before January's."""
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    remit(sqlite_ledger, "2024-02", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    remit(sqlite_ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    projector.catch_up()
    return sqlite_ledger


def test_a_statement_is_in_business_date_order_with_recording_times_and_words(late_remittance: Ledger, store: ProjectionStore,
                                                                              projector: Projector) -> None:
    """A's account gets 100.00 (employee 2% of 5,000) + 40.00 (employer 0.8%) = 140.00 a month:
    shown January first though recorded second, the balance after it 140.00, then 280.00."""
    answered = answer(late_remittance, store, ReportRequest("statement", region=REGION, person=A), projector.position)
    lines = answered.report.sections[0].rows
    assert [(line["business_date"], line["credit_fen"], line["balance_fen"]) for line in lines] == [
        ("2024-01-15", 14_000, 14_000), ("2024-02-15", 14_000, 28_000)]
    assert lines[0]["position"] > lines[1]["position"]  # January was recorded after February
    assert [line["movement"] for line in lines] == ["Contribution credited (缴费划入)"] * 2
    assert lines[0]["recorded_at"] >= lines[1]["recorded_at"] and lines[0]["recorded_at"].startswith(str(date.today().year))
    table = render.as_table(answered.report)
    assert "PersonalAccount." not in table and "Recorded at" in table


class FlakyProjector:
    """A projector whose database is away for the first ``outages`` catch-ups."""

    def __init__(self, outages: int, stop: threading.Event) -> None:
        self.outages, self.calls, self.stop = outages, 0, stop

    def catch_up(self, log_empty: bool = True) -> CatchUp:
        self.calls += 1
        if self.calls <= self.outages:
            raise OperationalError("connection refused")
        if self.calls == self.outages + 2:
            self.stop.set()
        return CatchUp(0, 5, 5 if self.calls == self.outages + 1 else 0, 1, 0.01)

    def head(self) -> int:
        return 5


def test_the_follower_waits_out_an_unreachable_database_with_a_growing_back_off() -> None:
    stop = threading.Event()
    waits: list[float] = []
    stop.wait = lambda seconds: waits.append(seconds) or stop.is_set()  # type: ignore[method-assign]
    flaky: Any = FlakyProjector(4, stop)
    seen: list[tuple[int, int]] = []
    applied = Follower(flaky, poll_interval_s=0.5, max_backoff_s=3.0, on_progress=lambda p, h: seen.append((p, h))).run(stop)
    assert waits == [0.5, 1.0, 2.0, 3.0, 0.5, 0.5] and applied == 5 and seen == [(5, 5)]


def test_the_follower_stops_on_an_error_a_restart_does_not_cure() -> None:
    class Broken:
        def catch_up(self, log_empty: bool = True) -> CatchUp:
            raise ValueError("a bug")

    with pytest.raises(ValueError):
        Follower(Broken()).run(threading.Event())  # type: ignore[arg-type]
