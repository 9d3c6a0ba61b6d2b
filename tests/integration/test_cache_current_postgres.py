"""A process's cached accounts on PostgreSQL: trusted while nobody else writes, read again when
somebody does (``CoreLedger.cache_is_current``, ``written_by_others`` in
``adapters/postgres_recorder.py``).

A consumer's batch touches thousands of accounts it already holds; it used to ask the store, at
every batch, for the events after each of them, which a single writer never finds. The store now
names what others wrote since the process last looked, and only that is read again. Each test
here has two ledgers on one database, two processes as far as the store can tell.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from adapters import postgres_recorder
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.commands import Enrol, PostRemittance, RemittanceLine
from ledger.policy import load_policy_file

pytestmark = pytest.mark.postgres

REGION = "210100"
PEOPLE = [f"P{i:03d}" for i in range(30)]
# A wage base of 100,000 fen at 44 (born 1980, the 35-45 band: 1% of the employer's share to the
# account): employee 2,000 + employer 6,000 = 8,000 a line, 3,000 of it to the account.
LINE_FEN, TO_ACCOUNT_FEN = 8_000, 3_000


@pytest.fixture
def ledgers(postgres_env: dict[str, str]) -> Iterator[tuple[Ledger, Ledger]]:
    first = Ledger(env=postgres_env)
    first.open_region(load_policy_file())
    with first.batch() as unit:
        for person_id in PEOPLE:
            first.enrol(Enrol(REGION, person_id, "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)), unit)
    second = Ledger(env=postgres_env)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _remit(ledger: Ledger, month: int, people: list[str] = PEOPLE) -> None:
    ledger.post_remittance(PostRemittance(REGION, f"R-{month}-{people[0]}-{len(people)}", "employer", "E1", f"2024-{month:02d}",
                                          date(2024, month, 15), LINE_FEN * len(people),
                                          tuple(RemittanceLine(p, 100_000) for p in people)))


def _asked(ledger: Ledger) -> list[set[UUID]]:
    """The ids each of the ledger's reads of 'events after these versions' asks for, from now on."""
    asked: list[set[UUID]] = []
    read = ledger.events_after

    def spy(versions: dict[UUID, int]) -> Any:
        asked.append(set(versions))
        return read(versions)

    ledger.__dict__["_events_after"] = spy
    return asked


def _account_ids(people: list[str]) -> set[UUID]:
    return {PersonalAccount.id_for(REGION, p) for p in people}


def _balance_fen(ledger: Ledger, person_id: str) -> int:
    return ledger.personal_account(REGION, person_id).balance_fen


def test_a_lone_writer_asks_the_store_for_no_events_of_the_accounts_it_holds(ledgers: tuple[Ledger, Ledger]) -> None:
    first, _ = ledgers
    _remit(first, 1)  # the accounts are read and cached; the store starts watching for others
    asked = _asked(first)
    _remit(first, 2)
    assert asked and not set().union(*asked) & _account_ids(PEOPLE), asked  # only the remittance's records
    assert all(first.personal_account(REGION, p).balance_fen == 2 * TO_ACCOUNT_FEN for p in PEOPLE)
    fresh = Ledger(env=dict(first.env))
    try:
        assert all(_balance_fen(fresh, p) == 2 * TO_ACCOUNT_FEN for p in PEOPLE)
    finally:
        fresh.close()


def test_an_account_another_process_wrote_is_read_again_and_only_it(ledgers: tuple[Ledger, Ledger]) -> None:
    first, second = ledgers
    _remit(first, 1)
    _remit(first, 2)
    _remit(second, 3, ["P007"])  # the second process credits one account the first holds
    asked = _asked(first)
    _remit(first, 3, [p for p in PEOPLE if p != "P007"])
    _remit(first, 4)  # P007 included: a stale copy would fail the save on its version
    accounts = set().union(*asked) & _account_ids(PEOPLE)
    assert accounts == {PersonalAccount.id_for(REGION, "P007")}, accounts
    assert _balance_fen(first, "P007") == 4 * TO_ACCOUNT_FEN
    assert _balance_fen(second, "P007") == 4 * TO_ACCOUNT_FEN
    assert _balance_fen(first, "P000") == 4 * TO_ACCOUNT_FEN


def test_an_account_cached_before_the_store_first_looked_is_not_trusted(ledgers: tuple[Ledger, Ledger]) -> None:
    """The first look cannot tell what changed before it: everything held then is read again."""
    first, second = ledgers
    assert _balance_fen(second, "P003") == 0  # cached by the second process before any batch of its own
    _remit(first, 1, ["P003"])
    _remit(second, 2, ["P003"])  # its first batch: P003 as it is in the store, month 1 included
    assert _balance_fen(second, "P003") == 2 * TO_ACCOUNT_FEN


def test_past_the_bound_of_others_events_the_whole_cache_is_read_again(ledgers: tuple[Ledger, Ledger],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = ledgers
    _remit(first, 1)
    _remit(second, 2, ["P001", "P002"])
    monkeypatch.setattr(postgres_recorder, "MAX_OTHERS_EVENTS", 2)  # the second wrote 3 events (two lines, the fund's)
    asked = _asked(first)
    _remit(first, 2, [p for p in PEOPLE if p not in ("P001", "P002")])
    assert set().union(*asked) >= _account_ids([p for p in PEOPLE if p not in ("P001", "P002")])  # none trusted
    _remit(first, 3)
    assert _balance_fen(first, "P001") == 3 * TO_ACCOUNT_FEN
    assert _balance_fen(first, "P010") == 3 * TO_ACCOUNT_FEN


def test_a_save_of_its_own_after_anothers_does_not_vouch_for_what_the_other_wrote(ledgers: tuple[Ledger, Ledger]) -> None:
    """Saves interleaved: the first process's next save follows the second's, not its own last."""
    first, second = ledgers
    _remit(first, 1)
    _remit(second, 2, ["P020"])
    _remit(first, 2, ["P021"])  # this save's head is the second's event: the first has not seen it
    asked = _asked(first)
    _remit(first, 3, ["P020", "P021"])
    assert PersonalAccount.id_for(REGION, "P020") in set().union(*asked)
    assert _balance_fen(first, "P020") == 3 * TO_ACCOUNT_FEN


def test_a_failed_look_at_what_others_wrote_is_looked_at_again(ledgers: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch) -> None:
    """The store moves what it has seen on only once it has named what others wrote: a read
    that failed (the batch fails with it) leaves those accounts to the next batch's look."""
    from psycopg.sql import SQL

    first, second = ledgers
    _remit(first, 1)
    _remit(second, 2, ["P005"])
    monkeypatch.setattr(first.recorder, "_others_statement", SQL("SELECT no_such_column FROM pg_class WHERE %s < %s"))
    with pytest.raises(Exception, match="no_such_column"):
        _remit(first, 2, ["P004", "P005"])
    monkeypatch.undo()
    _remit(first, 3, ["P005"])  # a stale P005 would fail this save on its version
    assert _balance_fen(first, "P005") == 3 * TO_ACCOUNT_FEN
    assert _balance_fen(second, "P005") == 3 * TO_ACCOUNT_FEN


def test_an_account_given_as_of_its_enrolment_is_folded_on_even_when_the_cache_is_current(ledgers: tuple[Ledger, Ledger]) -> None:
    """The year-end run starts each account from its enrolment, read already: that is a start,
    not a current account (the run credited accounts from their enrolment alone when it was put
    in the cache, which this process trusts)."""
    from ledger.unit_of_work import UnitOfWork

    first, _ = ledgers
    _remit(first, 1)
    _remit(first, 2)  # the cache is current: the store has seen every save since
    account_id = PersonalAccount.id_for(REGION, "P010")
    enrolled = first.repository.get(account_id, version=1)
    assert enrolled.balance_fen == 0
    UnitOfWork(first).evict([account_id])
    unit = UnitOfWork(first)
    unit.prefetch([account_id], start_from={account_id: enrolled})
    assert unit.get(account_id, PersonalAccount).balance_fen == 2 * TO_ACCOUNT_FEN
    assert unit.get(account_id, PersonalAccount).version == 3
