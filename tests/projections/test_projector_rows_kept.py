"""A projector keeps the personal rows it committed between batches; what it keeps never hides
what another projector, or a year's close, did to the same tables."""

from __future__ import annotations

from datetime import date

from ledger.application import Ledger
from ledger.commands import CloseYear
from projections import schema
from projections.projector import Projector
from projections.replay import compare_tables
from projections.store import ProjectionStore
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, outpatient, remit


def test_two_projectors_taking_turns_on_one_set_of_tables_equal_one_projector(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    first, second = Projector(sqlite_ledger, store, batch_size=2), Projector(sqlite_ledger, store, batch_size=2)
    remit(sqlite_ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    first.catch_up()  # keeps A's and B's rows
    outpatient(sqlite_ledger, "OP1", A, date(2024, 2, 1), 3_000)
    second.catch_up()  # moves A on behind the first's back
    remit(sqlite_ledger, "2024-02", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    sqlite_ledger.close_year(CloseYear(REGION, 2024))
    first.catch_up()  # must not start from its kept (stale) A
    remit(sqlite_ledger, "2025-01", {A: WAGE_A_FEN}, 40_000)
    first.catch_up()  # B kept since the close: rolled as the committed UPDATE rolled the stored row
    reference = Projector(sqlite_ledger, store, prefix="ref_", batch_size=1000)
    reference.catch_up()
    assert compare_tables(store, schema.LIVE_PREFIX, "ref_") == []
    (b,) = store.query("SELECT carried_over_fen, current_year_fen, current_year FROM proj_personal_balances WHERE person_id = ?", (B,))
    assert (b["current_year_fen"], b["current_year"]) == (0, 2025) and b["carried_over_fen"] > 0
