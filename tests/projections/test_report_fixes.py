"""Reports that went wrong on books a little out of the ordinary: a movement recorded after a
later-dated one, a year without postings, a claim that does not exist."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import Enrol
from ledger.errors import InvalidInput, UnknownClaim
from projections import schema
from projections.projector import Projector
from projections.query import ReportRequest, answer
from projections.reports import MAX_PAGE, Filters, Report, as_of_report, run_report
from projections.store import ProjectionStore
from tests.projections.scenario import OTHER_REGION, REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, open_regions, outpatient, remit


def balances(store: ProjectionStore, **filters: object) -> list[tuple[str, int, int]]:
    report = run_report("statement", store, Filters(**filters))  # type: ignore[arg-type]
    return [(row["business_date"], row["change_fen"], row["balance_fen"]) for row in report.sections[0].rows]


def test_a_statement_of_a_year_runs_from_the_balance_before_the_year_in_date_order(
        sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """A December bill recorded after January's contribution: the full statement puts it in
    December; the statement of 2025 starts from the balance at the end of 2024 (9,000), not from
    the balance before the first movement recorded in 2025 (14,000, the bill not yet recorded)."""
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    remit(sqlite_ledger, "2024-12", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    remit(sqlite_ledger, "2025-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    outpatient(sqlite_ledger, "OP-LATE", A, date(2024, 12, 28), 5_000)
    Projector(sqlite_ledger, store).catch_up()
    full = balances(store, person=A)
    assert full == [("2024-12-15", 14_000, 14_000), ("2024-12-28", -5_000, 9_000), ("2025-01-15", 14_000, 23_000)]
    assert balances(store, person=A, year=2024) == full[:2]
    assert balances(store, person=A, year=2025) == full[2:]  # 28,000 before
    assert balances(store, region=REGION, person=A, year=2025) == full[2:]
    by_person = run_report("statement", store, Filters(region=REGION, year=2025)).sections[0].rows
    assert {row["person_id"]: row["balance_fen"] for row in by_person} == {A: 23_000, B: 2 * 12_000}
    assert balances(store, person=A, year=2026) == []


def quiet_2025(ledger: Ledger, store: ProjectionStore) -> None:
    """2024: a remittance (both funds, the income bank account); 2025: only a bill paid from a
    personal account (no posting of the pooled fund or of the bank account)."""
    open_regions(ledger)
    enrol_both(ledger)
    remit(ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    outpatient(ledger, "OP1", A, date(2025, 2, 1), 3_000)
    Projector(ledger, store).catch_up()


def final_rows(report: Report) -> dict[str, list[tuple[object, ...]]]:
    return {section.name: [(row.get("fund") or row["account"], row["year"], row["opening_fen"], row["closing_fen"]) for row in section.rows]
            for section in report.sections}


def test_final_accounts_carry_a_fund_and_a_bank_account_through_a_year_without_their_postings(
        sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    quiet_2025(sqlite_ledger, store)
    report = run_report("final-accounts", store, Filters(region=REGION, year=2025))
    expected = {"funds": [("personal", 2025, 26_000, 23_000), ("pooled", 2025, 38_000, 38_000)],  # pooled was missing
                "deposits": [("bank.income", 2025, 64_000, 64_000)], "receivables": []}  # so was the bank account
    assert final_rows(report) == expected
    pooled = next(row for row in report.sections[0].rows if row["fund"] == "pooled")
    assert (pooled["income_fen"], pooled["expenditure_fen"], pooled["check"], pooled["months_of_payment_capacity"]) == (0, 0, "ok", None)
    as_of, source = as_of_report(sqlite_ledger, store, "final-accounts", date(2025, 12, 31), Filters(region=REGION, year=2025))
    assert (final_rows(as_of), source) == (expected, "tables")
    balances, _ = as_of_report(sqlite_ledger, store, "balances", date(2025, 12, 31), Filters(region=REGION))
    assert {row["fund"]: row["balance_fen"] for row in balances.sections[0].rows} == {"personal": 23_000, "pooled": 38_000}
    assert final_rows(run_report("final-accounts", store, Filters(region=REGION, year=2024)))["funds"] == [
        ("personal", 2024, 0, 26_000), ("pooled", 2024, 0, 38_000)]


def test_views_of_an_older_definition_are_made_again(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """Tables built by an earlier version keep them; their views are made again by the next
    projector (a report's catch-up, ``project``) when their definition changed."""
    quiet_2025(sqlite_ledger, store)
    for name in ("final_accounts", "bank_deposits"):
        with store.transaction() as cursor:
            cursor.execute(f"DROP VIEW proj_{name}")
            cursor.execute(f"CREATE VIEW proj_{name} AS SELECT * FROM ({schema.view_definitions('proj_')[name]}) AS v WHERE 1 = 0")
    assert run_report("final-accounts", store, Filters(region=REGION, year=2025)).sections[0].rows == []
    Projector(sqlite_ledger, store)
    assert len(run_report("final-accounts", store, Filters(region=REGION, year=2025)).sections[0].rows) == 2
    assert len(run_report("final-accounts", store, Filters(region=REGION, year=2025)).sections[1].rows) == 1


def test_the_claim_report_refuses_a_claim_the_ledger_does_not_have(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """Through the one report layer the command line, the API and the pages share: an unknown
    claim id, or a claim under another region, is ``unknown_claim`` naming ``claim``."""
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    outpatient(sqlite_ledger, "OP1", A, date(2024, 2, 1), 3_000)
    position = Projector(sqlite_ledger, store).catch_up().end_position
    found = answer(sqlite_ledger, store, ReportRequest("claim", claim="OP1"), position)
    assert [row["claim_id"] for row in found.report.sections[0].rows] == ["OP1"]
    for request in (ReportRequest("claim", claim="NO-SUCH-CLAIM"), ReportRequest("claim", region=OTHER_REGION, claim="OP1")):
        with pytest.raises(UnknownClaim) as refused:  # an empty report before
            answer(sqlite_ledger, store, request, position)
        assert (refused.value.code, refused.value.field) == ("unknown_claim", "claim")


def test_the_reports_with_a_row_per_person_come_a_page_at_a_time(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    """``limit`` rows from ``offset`` in the rows' key order: the pages together are the whole
    report, none repeated or skipped; each says how many rows every page holds and where the next
    starts; a page's total line (which would sum the page only) is left out. Live and as of a date."""
    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    for n in range(5):
        sqlite_ledger.enrol(Enrol(REGION, f"C{n}", "employee", date(1980, 1, 1), "E1", date(2023, 12, 1)))
    remit(sqlite_ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN, "C3": WAGE_B_FEN}, 88_000)
    position = Projector(sqlite_ledger, store).catch_up().end_position
    for name, as_of in (("personal", None), ("contributions", None), ("personal", date(2024, 1, 31)), ("contributions", date(2024, 1, 31))):
        whole = answer(sqlite_ledger, store, ReportRequest(name, region=REGION, as_of=as_of), position)
        assert "page" not in whole.meta and len(whole.report.sections[0].rows) == 7
        pages = [answer(sqlite_ledger, store, ReportRequest(name, region=REGION, as_of=as_of, limit=3, offset=offset), position)
                 for offset in (0, 3, 6)]
        assert [row for page in pages for row in page.report.sections[0].rows] == whole.report.sections[0].rows
        assert [page.meta["page"]["next_offset"] for page in pages] == [3, 6, None]
        assert {page.meta["page"]["total_rows"][whole.report.sections[0].name] for page in pages} == {7}
        assert [len(page.report.sections[0].rows) for page in pages] == [3, 3, 1]
        assert all(page.report.sections[0].total_keys == () for page in pages)
    last = answer(sqlite_ledger, store, ReportRequest("personal", region=REGION, limit=10), position)
    assert last.meta["page"] == {"limit": 10, "offset": 0, "total_rows": {"accounts": 7}, "next_offset": None}
    assert last.report.sections[0].total_keys  # the whole report in one page keeps its total line
    for wrong, field in ((ReportRequest("personal", limit=0), "limit"), (ReportRequest("personal", limit=MAX_PAGE + 1), "limit"),
                         (ReportRequest("personal", limit=5, offset=-1), "offset"), (ReportRequest("balances", limit=5), "limit")):
        with pytest.raises(InvalidInput) as refused:
            answer(sqlite_ledger, store, wrong, position)
        assert refused.value.field == field


def test_a_page_of_personal_accounts_as_of_a_date_folds_only_its_own_accounts(
        sqlite_ledger: Ledger, store: ProjectionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """As of a date, a page of ``personal`` is found in the tables (the accounts that existed at
    the end of the day, in key order: two enrolled later are not there) and only its accounts are
    folded, not every account of the region for each page (7 before, 4.1 s a page at 10,000
    persons); the pages together are the whole report as of the date and the reference's."""
    import projections.as_of
    from projections.reports import as_of_store

    open_regions(sqlite_ledger)
    enrol_both(sqlite_ledger)
    for n in range(5):
        enrolled = date(2024, 3, 1) if n in (1, 3) else date(2023, 12, 1)
        sqlite_ledger.enrol(Enrol(REGION, f"C{n}", "employee", date(1980, 1, 1), "E1", enrolled))
    remit(sqlite_ledger, "2024-01", {A: WAGE_A_FEN, B: WAGE_B_FEN, "C2": WAGE_B_FEN}, 88_000)
    remit(sqlite_ledger, "2024-03", {A: WAGE_A_FEN, "C3": WAGE_B_FEN}, 64_000)
    position = Projector(sqlite_ledger, store).catch_up().end_position
    day = date(2024, 1, 31)
    folded: list[int] = []
    fold = projections.as_of.fold_as_of

    def counting(accounts: list[dict[str, object]], *rest: object) -> object:
        folded.append(len(accounts))
        return fold(accounts, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(projections.as_of, "fold_as_of", counting)
    whole = answer(sqlite_ledger, store, ReportRequest("personal", region=REGION, as_of=day), position).report.sections[0].rows
    reference = as_of_store(sqlite_ledger, day, REGION)
    try:
        assert whole == run_report("personal", reference, Filters(region=REGION)).sections[0].rows
    finally:
        reference.close()
    assert [row["person_id"] for row in whole] == [A, B, "C0", "C2", "C4"]
    folded.clear()
    pages = [answer(sqlite_ledger, store, ReportRequest("personal", region=REGION, as_of=day, limit=2, offset=offset), position)
             for offset in (0, 2, 4, 6)]
    assert [row for page in pages for row in page.report.sections[0].rows] == whole
    assert [page.meta["page"]["next_offset"] for page in pages] == [2, 4, None, None]
    assert {page.meta["page"]["total_rows"]["accounts"] for page in pages} == {5}
    assert max(folded) <= 3, folded  # the page's range (C0 to C2 holds C1, not there yet); 7, the region's, before
