"""The year's interest run in chunks (``ledger.interest_posting``): the accounts are credited a
chunk at a time, each chunk its own transaction with the run's progress; the pooled fund's
posting comes last. Stopped anywhere and started again, it pays every account once.

The scenario, by hand (rates of the conftest: demand 0.00001 a day, 3-month 0.00003; each
remittance puts 80,000 fen in the income account and 28,000 in the person's account):

    Shenyang, in enrolment order (D1 of Dalian is enrolled between P2 and P3), remitted in date
    order (a movement recorded later is valued no earlier than the one before it):
      P1  remitted 1 July        28,000 x 184 days = 5,152,000 fen-days -> 51.52 -> 52 fen
      P2  remitted 1 October     28,000 x  92 days = 2,576,000          -> 25.76 -> 26 fen
      P3  remitted 1 December    28,000 x  31 days =   868,000          ->  8.68 ->  9 fen
      P4  remitted 1 July, transferred out 1 October: closed, not in the year's run (paid
          28,000 x 92 = 2,576,000 -> 26 fen up to 30 September at the transfer)
      P5  nothing remitted: earns nothing, not credited
    The accounts: 52 + 26 + 9 = 87 fen, 3 accounts credited.
    The income account (all this year's money, demand rate):
      80,000 x (184 + 92 + 31 + 184) = 80,000 x 491 = 39,280,000 fen-days -> 392.8 -> 393 fen
    The pooled fund: 393 - 87 - 26 = 280 fen of interest, and P4's 26 fen, which it advanced at
    the transfer, paid back: the region's interest income is 87 + 26 + 280 = 393, what the
    deposits earned (306 of income for the pooled fund counted P4's 26 fen twice).
With two accounts a chunk the run saves [P1, P2], [P3, P4], [P5], then the pooled posting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.application import Ledger
from ledger.commands import AnnounceInterestRates, Enrol, PostInterest, TransferOut
from ledger.interest_run import (
    DEFAULT_CHUNK_ACCOUNTS,
    DEFAULT_WORKERS,
    MAX_CHUNK_ACCOUNTS,
    MAX_WORKERS,
    chunk_accounts,
    in_part,
    part_of,
    worker_count,
)
from ledger.policy import load_policy_file
from ledger.records import InterestRun
from ledger.settings import SettingsError

from .conftest import dalian_policy
from .scenario import BIRTH, DALIAN, RATES_FROM, SHENYANG, TO_ACCOUNT_FEN, balances, enrol, events_of, remit, remittance

YEAR_END = PostInterest(SHENYANG, 2024)
CREDITS_FEN = {"P1": 52, "P2": 26, "P3": 9}
OUTCOME = {"region": SHENYANG, "year": 2024, "accounts_credited": 3, "personal_accounts_fen": 87, "bank_interest_fen": 393,
           "pooled_fen": 280, "advanced_at_closes_fen": 26}


def chunked_ledger(chunk_accounts_setting: str) -> Ledger:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "INTEREST_CHUNK_ACCOUNTS": chunk_accounts_setting})
    policy = load_policy_file()
    ledger.open_region(policy)
    ledger.open_region(dalian_policy(policy))
    ledger.announce_interest_rates(AnnounceInterestRates("rates-2024", RATES_FROM, "0.0036", "0.0108", "0.0180"))
    return ledger


def the_year(ledger: Ledger) -> Ledger:
    for person_id in ("P1", "P2"):
        enrol(ledger, person_id)
    enrol(ledger, "D1", DALIAN)
    for person_id in ("P3", "P4", "P5"):
        enrol(ledger, person_id)
    remit(ledger, "R-P1", "P1", date(2024, 7, 1))
    remit(ledger, "R-P4", "P4", date(2024, 7, 1))
    remit(ledger, "R-P2", "P2", date(2024, 10, 1))
    remit(ledger, "R-P3", "P3", date(2024, 12, 1))
    remit(ledger, "R-D1", "D1", date(2024, 7, 1), DALIAN)
    ledger.transfer_out(TransferOut(SHENYANG, "T-P4", "P4", DALIAN, date(2024, 10, 1)))
    return ledger


@pytest.fixture
def year_in_chunks_of_two() -> Iterator[Ledger]:
    ledger = the_year(chunked_ledger("2"))
    yield ledger
    ledger.close()


class Crash(Exception):
    """Stands for the process dying after some chunks were saved."""


def crash_after_chunks(ledger: Ledger, saved: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``saved`` chunks save, then stop the run as a crash would, before the next saves."""
    original: Callable[..., Any] = ledger._credit_chunk
    calls = []

    def credit_chunk(*args: Any) -> Any:
        calls.append(args)
        if len(calls) > saved:
            raise Crash
        return original(*args)

    monkeypatch.setattr(ledger, "_credit_chunk", credit_chunk)


def year_end_credits(ledger: Ledger, region: str = SHENYANG) -> dict[str, list[int]]:
    credits: dict[str, list[int]] = {}
    for event in events_of(ledger, PersonalAccount.InterestCredited):
        if event.region == region and event.is_year_end:
            [person_id] = {p["person_id"] for p in event.postings if p["account"] == acc.FUND_PERSONAL}
            credits.setdefault(person_id, []).append(event.interest_fen)
    return credits


@pytest.mark.parametrize("chunk_size", ["1", "2", "3", "5", str(DEFAULT_CHUNK_ACCOUNTS)])
def test_the_year_in_chunks_of_any_size_credits_each_account_once_and_the_pooled_fund_the_rest(chunk_size: str) -> None:
    ledger = the_year(chunked_ledger(chunk_size))
    outcome = ledger.post_interest(YEAR_END)
    assert outcome == {**OUTCOME, "duplicate": False}
    assert year_end_credits(ledger) == {person_id: [fen] for person_id, fen in CREDITS_FEN.items()}
    assert year_end_credits(ledger, DALIAN) == {}
    for person_id, fen in CREDITS_FEN.items():
        assert ledger.personal_account(SHENYANG, person_id).balance_fen == TO_ACCOUNT_FEN + fen
    [posted] = events_of(ledger, PooledFund.InterestPosted)
    assert [(p["amount_fen"], p["item"]) for p in posted.postings if p["account"] == acc.FUND_POOLED] == [
        (-280, acc.INCOME_INTEREST), (-26, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS)]
    # P4 left on 1 October with its 26 fen; the pooled fund: 4 x 52,000 - 26 advanced + 280 + 26 paid back.
    assert ledger.pooled_fund(SHENYANG).balance_fen == 4 * 52_000 - 26 + 280 + 26
    # Income and transfers of the whole basic fund: interest income 393 (the deposits'), the
    # pooled fund's transfer out to P4 and its transfer back netting to nothing.
    report = acc.income_and_expenditure(p for _, e in ledger.stored_events() if getattr(e, "region", "") == SHENYANG
                                        for p in getattr(e, "postings", ()))
    interest_income = sum(fen for (fund, item, way), fen in report.items()
                          if item == acc.INCOME_INTEREST and fund in (acc.FUND_POOLED, acc.FUND_PERSONAL) and way == "in")
    assert interest_income == 393
    assert report[(acc.FUND_POOLED, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS, "out")] == report[
        (acc.FUND_POOLED, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS, "in")] == 26
    books = balances(ledger, SHENYANG)
    assert acc.ACCRUED_DEPOSIT_INTEREST not in books and acc.CLEARING_PERSONAL_ACCOUNTS not in books
    assert books[acc.BANK_INCOME] == 4 * 80_000 + 393


def test_each_chunk_saves_the_runs_progress_with_its_credits(year_in_chunks_of_two: Ledger) -> None:
    ledger = year_in_chunks_of_two
    ledger.post_interest(YEAR_END)
    chunks = events_of(ledger, InterestRun.ChunkCredited)
    # [P1, P2]: 52 + 26; [P3, P4]: 9 (P4 closed); [P5]: nothing.
    assert [(c.accounts_seen, c.accounts_credited, c.interest_fen) for c in chunks] == [(2, 2, 78), (2, 1, 9), (1, 0, 0)]
    enrolled = {e.person_id: position for position, e in ledger.stored_events() if isinstance(e, PersonalAccount.Enrolled)}
    assert [c.through_position for c in chunks] == [enrolled["P2"], enrolled["P4"], enrolled["P5"]]


def test_each_chunk_runs_with_the_cyclic_collector_paused_and_it_is_on_again_after_the_run(
        year_in_chunks_of_two: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's decoded accounts live until its save: with the collector on they set off full
    collections, a third of a run's CPU at 100,000 accounts (``adapters.collector``)."""
    import gc

    from ledger.unit_of_work import UnitOfWork

    ledger = year_in_chunks_of_two
    at_commits: list[bool] = []
    commit = UnitOfWork.commit

    def watched_commit(unit: UnitOfWork, *args: Any, **kwargs: Any) -> Any:
        at_commits.append(gc.isenabled())
        return commit(unit, *args, **kwargs)

    monkeypatch.setattr(UnitOfWork, "commit", watched_commit)
    gc.enable()
    try:
        crash_after_chunks(ledger, 1, monkeypatch)
        with pytest.raises(Crash):
            ledger.post_interest(YEAR_END)
        assert gc.isenabled()  # on again right after a run that stopped
        monkeypatch.undo()
        monkeypatch.setattr(UnitOfWork, "commit", watched_commit)
        at_commits.clear()
        ledger.post_interest(YEAR_END)
        assert len(events_of(ledger, InterestRun.ChunkCredited)) == 3
        # This start's two chunks saved with the collector paused; the run's outcome after them, with it on.
        assert at_commits == [False, False, True]
        assert gc.isenabled()
    finally:
        gc.enable()


def test_a_run_stopped_between_chunks_holds_the_accounts_interest_as_accrued_not_in_clearing(
        year_in_chunks_of_two: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = year_in_chunks_of_two
    before = balances(ledger, SHENYANG)
    crash_after_chunks(ledger, 1, monkeypatch)
    with pytest.raises(Crash):
        ledger.post_interest(YEAR_END)
    # Right after: P1 and P2 credited (52 + 26 = 78), the deposits' interest not posted yet.
    assert year_end_credits(ledger) == {"P1": [52], "P2": [26]}
    assert events_of(ledger, PooledFund.InterestPosted) == []
    after = balances(ledger, SHENYANG)
    assert after[acc.ACCRUED_DEPOSIT_INTEREST] == 78
    assert after[acc.FUND_PERSONAL] == before[acc.FUND_PERSONAL] - 78
    assert acc.CLEARING_PERSONAL_ACCOUNTS not in after
    assert sum(after.values()) == 0


def test_a_run_started_again_after_a_crash_finishes_it_and_pays_no_account_twice(
        year_in_chunks_of_two: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = year_in_chunks_of_two
    crash_after_chunks(ledger, 2, monkeypatch)
    with pytest.raises(Crash):
        ledger.post_interest(YEAR_END)
    monkeypatch.undo()
    outcome = ledger.post_interest(YEAR_END)
    assert outcome == {**OUTCOME, "duplicate": False}
    assert year_end_credits(ledger) == {person_id: [fen] for person_id, fen in CREDITS_FEN.items()}
    # The second start went on after P4's enrolment: one more chunk, [P5].
    assert [c.accounts_seen for c in events_of(ledger, InterestRun.ChunkCredited)] == [2, 2, 1]
    assert acc.ACCRUED_DEPOSIT_INTEREST not in balances(ledger, SHENYANG)
    assert ledger.post_interest(YEAR_END) == {**outcome, "duplicate": True}


def test_a_batch_that_holds_an_account_the_stopped_run_credited_does_not_pay_it_again(
        year_in_chunks_of_two: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """P1 was credited (52) by the first start's first chunk. The run is started again in a batch
    that first records a remittance of P1 on 20 December: P1's credit for the year is its
    idempotency record, so the run passes P1 by. The income account earns the new remittance
    too: 80,000 x 12 days (20-31 December) = 960,000 more fen-days, 40,240,000 in all -> 402.4 ->
    402 fen; the pooled fund 402 - 87 = 315."""
    ledger = year_in_chunks_of_two
    crash_after_chunks(ledger, 1, monkeypatch)
    with pytest.raises(Crash):
        ledger.post_interest(YEAR_END)
    monkeypatch.undo()
    with ledger.batch() as unit:
        ledger.post_remittance(remittance("R-P1-DEC", "P1", date(2024, 12, 20)), unit)
        outcome = ledger.post_interest(YEAR_END, unit)
    assert outcome == {**OUTCOME, "bank_interest_fen": 402, "pooled_fen": 289, "duplicate": False}
    assert year_end_credits(ledger) == {person_id: [fen] for person_id, fen in CREDITS_FEN.items()}
    assert ledger.personal_account(SHENYANG, "P1").balance_fen == 2 * TO_ACCOUNT_FEN + 52


def test_a_batch_credits_its_own_new_accounts_after_the_stored_ones_are_saved_in_chunks(year_in_chunks_of_two: Ledger) -> None:
    """P9 is enrolled and remitted on 1 December in the same batch as the interest run: 9 fen like
    P3. The accounts: 87 + 9 = 96, 4 credited; the income account 39,280,000 + 80,000 x 31 =
    41,760,000 fen-days -> 417.6 -> 418 fen; the pooled fund 418 - 96 - 26 (P4's, advanced) = 296."""
    ledger = year_in_chunks_of_two
    with ledger.batch() as unit:
        ledger.enrol(Enrol(SHENYANG, "P9", "employee", BIRTH, "E1", date(2024, 1, 1)), unit)
        ledger.post_remittance(remittance("R-P9", "P9", date(2024, 12, 1)), unit)
        outcome = ledger.post_interest(YEAR_END, unit)
        # The stored accounts' chunks are saved already; the batch (P9, the pooled posting) not yet.
        assert year_end_credits(ledger) == {person_id: [fen] for person_id, fen in CREDITS_FEN.items()}
        assert balances(ledger, SHENYANG)[acc.ACCRUED_DEPOSIT_INTEREST] == 87
    assert outcome == {**OUTCOME, "accounts_credited": 4, "personal_accounts_fen": 96, "bank_interest_fen": 418,
                       "pooled_fen": 296, "duplicate": False}
    assert year_end_credits(ledger)["P9"] == [9]
    assert acc.ACCRUED_DEPOSIT_INTEREST not in balances(ledger, SHENYANG)


def test_a_stopped_run_leaves_the_other_regions_alone(year_in_chunks_of_two: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = year_in_chunks_of_two
    crash_after_chunks(ledger, 1, monkeypatch)
    with pytest.raises(Crash):
        ledger.post_interest(YEAR_END)
    monkeypatch.undo()
    # Dalian's own run: D1 28,000 x 184 days -> 52 fen; its income account 80,000 x 184 -> 147.2 -> 147.
    outcome = ledger.post_interest(PostInterest(DALIAN, 2024))
    assert (outcome["accounts_credited"], outcome["personal_accounts_fen"], outcome["bank_interest_fen"]) == (1, 52, 147)
    assert balances(ledger, SHENYANG)[acc.ACCRUED_DEPOSIT_INTEREST] == 78
    assert acc.ACCRUED_DEPOSIT_INTEREST not in balances(ledger, DALIAN)


@pytest.mark.parametrize("setting", ["0", "-5", str(MAX_CHUNK_ACCOUNTS + 1), "2k", "1e3"])
def test_a_chunk_size_that_is_not_a_whole_number_in_bounds_is_refused_naming_the_setting(setting: str) -> None:
    with pytest.raises(SettingsError, match="INTEREST_CHUNK_ACCOUNTS"):
        chunk_accounts(setting)


def test_the_chunk_size_defaults_and_accepts_its_bounds() -> None:
    assert (chunk_accounts(None), chunk_accounts(""), chunk_accounts("1"), chunk_accounts(str(MAX_CHUNK_ACCOUNTS))) == (
        DEFAULT_CHUNK_ACCOUNTS, DEFAULT_CHUNK_ACCOUNTS, 1, MAX_CHUNK_ACCOUNTS)


def test_a_refused_chunk_size_refuses_the_run_before_it_starts() -> None:
    ledger = the_year(chunked_ledger("0"))
    with pytest.raises(SettingsError):
        ledger.post_interest(YEAR_END)
    assert year_end_credits(ledger) == {}
    assert events_of(ledger, InterestRun.Started) == []


def test_a_run_resumed_after_new_rates_were_announced_finishes_with_the_rates_it_started_with(
        year_in_chunks_of_two: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """P1 and P2 were credited at the rates of 1 January. A cut announced for 1 October after the
    run started does not change the rest of the run: every account and the deposits are computed
    with the same rates, and the outcome is the hand-computed one above."""
    ledger = year_in_chunks_of_two
    crash_after_chunks(ledger, 1, monkeypatch)
    with pytest.raises(Crash):
        ledger.post_interest(YEAR_END)
    monkeypatch.undo()
    ledger.announce_interest_rates(AnnounceInterestRates("cut-2024-10", date(2024, 10, 1), "0.0018", "0.0054", "0.0090"))
    assert ledger.post_interest(YEAR_END) == {**OUTCOME, "duplicate": False}
    assert year_end_credits(ledger) == {person_id: [fen] for person_id, fen in CREDITS_FEN.items()}
    [posted] = events_of(ledger, PooledFund.InterestPosted)
    assert [segment["to_exclusive"] for segment in posted.basis[acc.BANK_INCOME]] == ["2025-01-01"]


def test_an_account_enrolled_in_the_batch_with_its_enrolment_alone_earns_nothing_and_the_run_still_posts() -> None:
    ledger = chunked_ledger("2")
    with ledger.batch() as unit:
        ledger.enrol(Enrol(SHENYANG, "P1", "employee", BIRTH, "E1", date(2024, 1, 1)), unit)
        outcome = ledger.post_interest(YEAR_END, unit)
    assert (outcome["accounts_credited"], outcome["personal_accounts_fen"], outcome["bank_interest_fen"]) == (0, 0, 0)
    assert events_of(ledger, InterestRun.ChunkCredited) == []
    assert len(events_of(ledger, PooledFund.InterestPosted)) == 1


@pytest.mark.parametrize(("setting", "store", "parts"), [
    (None, "eventsourcing.postgres", DEFAULT_WORKERS), ("3", "eventsourcing.postgres", 3), ("1", "eventsourcing.postgres", 1),
    ("4", "eventsourcing.sqlite", 1), ("4", "eventsourcing.popo", 1),
])
def test_a_run_has_parts_side_by_side_only_on_a_store_several_processes_write(setting: str | None, store: str, parts: int) -> None:
    assert worker_count(setting, store) == parts


@pytest.mark.parametrize("setting", ["0", str(MAX_WORKERS + 1), "two"])
def test_a_worker_count_out_of_bounds_is_refused_naming_the_setting(setting: str) -> None:
    with pytest.raises(SettingsError, match="INTEREST_WORKERS"):
        worker_count(setting, "eventsourcing.postgres")


def test_each_account_falls_in_exactly_one_part_of_a_run() -> None:
    accounts = [PersonalAccount.id_for(SHENYANG, f"P{i}") for i in range(1_000)]
    filters = [in_part(part, 3) for part in range(3)]
    assert all(sum(1 for accepts in filters if accepts is not None and accepts(account)) == 1 for account in accounts)
    assert all(part_of(account, 3) in (0, 1, 2) for account in accounts)
    assert min(sum(1 for a in accounts if part_of(a, 3) == part) for part in range(3)) > 250  # ids spread evenly
    assert in_part(0, 1) is None
