"""Personal accounts snapshotted in bulk by the unit of work (``Ledger.account_snapshot_interval``)
and read back by ``prefetch`` (the last snapshot, then only the events after it), on SQLite and on
PostgreSQL.

What a user would check: a ledger that loads its accounts from snapshots keeps the same books as
one that folds every event, after each step, in a fresh process (nothing held in memory); the
snapshot is there right after the save that took the account past the interval; a process reads
only the events after it; an account whose key was destroyed after its snapshot still loads and
answers as its log would; a snapshot that cannot be written leaves the save standing.

Figures: one employee born 1995 (under 35), wage 1,000,000 fen: 28,000 fen a month to the account
(see ``tests/lifecycle/scenario.py``); an outpatient bill of 5,000 fen paid from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.crypto import ERASED, account_key_id
from ledger.aggregates import PersonalAccount
from ledger.application import Ledger
from ledger.commands import ChangeCategory, Enrol, PayOutpatient, PostRemittance, RemittanceLine
from ledger.policy import load_policy_file
from ledger.settings import ledger_env

REGION = "210100"
BIRTH = date(1995, 3, 15)
INTERVAL = 3


def _remittance(number: int, person_id: str, employer_id: str, month: int) -> PostRemittance:
    return PostRemittance(REGION, f"R-{person_id}-{number}", "employer", employer_id, f"2024-{month:02d}", date(2024, month, 15),
                          80_000, (RemittanceLine(person_id, 1_000_000),))


def _steps() -> list[Callable[[Ledger], Any]]:
    """A year of one person's account, each step a command of its own: enrolment, six months from
    employer E1, a bill, a change of employer (and employer history) to E2, three months from E2."""
    steps: list[Callable[[Ledger], Any]] = [
        lambda ledger: ledger.enrol(Enrol(REGION, "P1", "employee", BIRTH, "E1", date(2024, 1, 1))),
        lambda ledger: ledger.enrol(Enrol(REGION, "P2", "employee", BIRTH, "E1", date(2024, 1, 1))),
    ]
    for month in range(1, 7):
        steps.append(lambda ledger, month=month: ledger.post_remittance(_remittance(month, "P1", "E1", month)))
    steps.append(lambda ledger: ledger.pay_outpatient(PayOutpatient(REGION, "C1", "P1", "outpatient", date(2024, 6, 20), 5_000)))
    steps.append(lambda ledger: ledger.change_category(ChangeCategory(REGION, "P1", date(2024, 7, 1), "employee", "E2")))
    for month in range(7, 10):
        steps.append(lambda ledger, month=month: ledger.post_remittance(_remittance(month, "P1", "E2", month)))
    return steps


def _state(account: PersonalAccount, *, timestamps: bool = True) -> dict[str, Any]:
    """What an account holds, as compared: every attribute but its unsaved events (and, between
    two stores, the recording times of its first and last events)."""
    left_out = {"_pending_events"} if timestamps else {"_pending_events", "_created_on", "_modified_on"}
    return {name: value for name, value in vars(account).items() if name not in left_out}


def _folded(env: dict[str, str], person_id: str = "P1") -> PersonalAccount:
    """The account as every one of its events makes it, no snapshot read."""
    for ledger in _cold(env, 0):
        account = None
        for event in ledger.events.get(PersonalAccount.id_for(REGION, person_id)):
            account = event.mutate(account)  # type: ignore[attr-defined]
        assert isinstance(account, PersonalAccount)
        return account
    raise AssertionError("unreachable")


def _cold(env: dict[str, str], interval: int) -> Iterator[Ledger]:
    ledger = _LedgerWith(interval)(env=env)
    try:
        yield ledger
    finally:
        ledger.close()


def _LedgerWith(interval: int) -> type[Ledger]:  # noqa: N802 (a class factory)
    return type(f"LedgerSnapshotEvery{interval}", (Ledger,), {"account_snapshot_interval": interval, "name": Ledger.name})


def _loaded(env: dict[str, str], interval: int, person_id: str = "P1") -> PersonalAccount:
    """The account as a fresh process reads it, through the unit of work's prefetch."""
    from ledger.unit_of_work import UnitOfWork

    for ledger in _cold(env, interval):
        unit = UnitOfWork(ledger)
        account_id = PersonalAccount.id_for(REGION, person_id)
        unit.prefetch([account_id])
        return unit.get(account_id, PersonalAccount)
    raise AssertionError("unreachable")


def _snapshot_versions(env: dict[str, str], person_id: str = "P1") -> list[int]:
    for ledger in _cold(env, 0):
        assert ledger.snapshots is not None
        return [snapshot.originator_version for snapshot in ledger.snapshots.get(PersonalAccount.id_for(REGION, person_id))]
    raise AssertionError("unreachable")


def _open(env: dict[str, str]) -> None:
    for ledger in _cold(env, 0):
        ledger.open_region(load_policy_file())


def _sqlite_env(path: Path, name: str) -> dict[str, str]:
    return ledger_env({"FUND_LEDGER_SQLITE": str(path / f"{name}.sqlite")})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Two empty stores of the same kind: one snapshotted, one not."""
    if request.param == "sqlite":
        yield _sqlite_env(tmp_path, "snapshotted"), _sqlite_env(tmp_path, "folded")
        return
    from tests.conftest import fresh_database

    settings = request.getfixturevalue("postgres_server")
    with fresh_database(settings) as snapshotted, fresh_database(settings) as folded:
        yield snapshotted, folded


def test_accounts_loaded_from_snapshots_keep_the_books_of_accounts_folded_from_every_event(
        two_stores: tuple[dict[str, str], dict[str, str]]) -> None:
    snapshotted, folded = two_stores
    _open(snapshotted)
    _open(folded)
    seen_versions: list[int] = []
    for step in _steps():
        for env, interval in ((snapshotted, INTERVAL), (folded, 0)):
            for ledger in _cold(env, interval):  # a fresh process each step: nothing held in memory
                step(ledger)
        with_snapshots, from_events = _loaded(snapshotted, INTERVAL), _loaded(folded, 0)
        assert _state(with_snapshots) == _state(_folded(snapshotted))
        assert _state(with_snapshots, timestamps=False) == _state(from_events, timestamps=False)
        versions = _snapshot_versions(snapshotted)
        # Right after the save that took the account to a multiple of the interval, its snapshot is stored.
        assert versions == [v for v in range(INTERVAL, from_events.version + 1, INTERVAL)], (from_events.version, versions)
        # ... and read: a fresh process asks only for the events after the last one.
        assert _asked_versions(snapshotted) == [{PersonalAccount.id_for(REGION, "P1"): max(versions, default=0)}]
        seen_versions = versions
    assert seen_versions == [3, 6, 9, 12]  # enrolment, 6 months, the bill, the change of employer, 3 months: 12 events
    account = _loaded(snapshotted, INTERVAL)
    assert account.balance_fen == 9 * 28_000 - 5_000
    assert account.employer_history == [(date(2024, 1, 1), "E1"), (date(2024, 7, 1), "E2")]
    assert account.employers_of_record(date(2024, 7, 1), date(2024, 7, 31)) == ["E2"]
    assert _snapshot_versions(folded) == []
    assert _snapshot_versions(snapshotted, "P2") == []  # one event: below the interval


def _run(env: dict[str, str], steps: list[Callable[[Ledger], Any]], interval: int = INTERVAL) -> None:
    _open(env)
    for step in steps:
        for ledger in _cold(env, interval):
            step(ledger)


def _asked_versions(env: dict[str, str], person_id: str = "P1") -> list[dict[Any, int]]:
    """The versions after which a fresh process's prefetch of the account read its events."""
    from ledger.unit_of_work import UnitOfWork

    asked: list[dict[Any, int]] = []
    for ledger in _cold(env, INTERVAL):
        read_events = ledger.events_after

        def events_after(versions: dict[Any, int], read_events: Any = read_events) -> Any:
            asked.append(dict(versions))
            return read_events(versions)

        ledger.__dict__["_events_after"] = events_after
        UnitOfWork(ledger).prefetch([PersonalAccount.id_for(REGION, person_id)])
    return asked


def test_a_fresh_process_reads_the_last_snapshot_and_only_the_events_after_it(
        two_stores: tuple[dict[str, str], dict[str, str]]) -> None:
    env, _ = two_stores
    _run(env, _steps()[:-1])  # P1 at version 11: snapshots at 3, 6 and 9
    account_id = PersonalAccount.id_for(REGION, "P1")
    asked: list[dict[Any, int]] = []
    decoded: list[int] = []
    for ledger in _cold(env, INTERVAL):
        read_events = ledger.events_after

        def events_after(versions: dict[Any, int], read_events: Any = read_events) -> Any:
            asked.append(dict(versions))
            found = read_events(versions)
            decoded.extend(stored.originator_version for stored in found.get(account_id, ()))
            return found

        ledger.__dict__["_events_after"] = events_after
        from ledger.unit_of_work import UnitOfWork

        unit = UnitOfWork(ledger)
        unit.prefetch([account_id])
        account = unit.get(account_id, PersonalAccount)
        assert account.version == 11
        assert account.balance_fen == 8 * 28_000 - 5_000
    assert asked == [{account_id: 9}]
    assert decoded == [10, 11]


def test_an_account_whose_key_was_destroyed_after_its_snapshot_is_folded_from_its_events(tmp_path: Path) -> None:
    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])  # snapshots at 3, 6 and 9
    for ledger in _cold(env, 0):
        assert ledger.mapper.keys is not None  # type: ignore[attr-defined]
        assert ledger.mapper.keys.destroy(account_key_id(PersonalAccount.id_for(REGION, "P1")))  # type: ignore[attr-defined]
    asked = _asked_versions(env)
    assert asked == [{PersonalAccount.id_for(REGION, "P1"): 0}]
    from_snapshots_store, from_events = _loaded(env, INTERVAL), _folded(env)
    assert from_snapshots_store.birth_date == ERASED
    assert from_snapshots_store.employer_history == [(date(2024, 1, 1), ERASED), (date(2024, 7, 1), ERASED)]
    assert _state(from_snapshots_store) == _state(from_events)
    for ledger in _cold(env, INTERVAL):  # the library's repository (a get outside a prefetch) passes it over too
        assert _state(ledger.personal_account(REGION, "P1")) == _state(from_events)


def test_a_snapshot_that_cannot_be_written_leaves_the_save_standing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:4])  # P1 at version 3 with its snapshot
    for ledger in _cold(env, INTERVAL):
        assert ledger.snapshots is not None

        def refuse(*_: Any, **__: Any) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(ledger.snapshots.recorder, "insert_events", refuse)
        with capture_logs() as logs:
            for step in _steps()[4:7]:  # versions 4 to 6: the save of the 6th would snapshot it
                step(ledger)
        assert ledger.personal_account(REGION, "P1").version == 6
        assert [(log["event"], log["log_level"], log["accounts"], log["error"]) for log in logs] == [
            ("account_snapshots_not_written", "warning", 1, "OSError")]
    assert _snapshot_versions(env) == [3]
    account = _loaded(env, INTERVAL)
    assert (account.version, account.balance_fen) == (6, 5 * 28_000)
    assert _state(account) == _state(_folded(env))


@pytest.mark.postgres
def test_the_snapshots_recorder_writes_a_save_in_one_statement_and_keeps_a_version_it_has(postgres_env: dict[str, str]) -> None:
    from eventsourcing.persistence import StoredEvent

    from adapters.postgres_recorder import BulkPostgresAggregateRecorder

    _run(postgres_env, _steps()[:4])  # P1 at version 3, snapshotted
    for ledger in _cold(postgres_env, INTERVAL):
        assert ledger.snapshots is not None
        recorder = ledger.snapshots.recorder
        assert isinstance(recorder, BulkPostgresAggregateRecorder)
        (stored,) = recorder.select_events(PersonalAccount.id_for(REGION, "P1"))
        other = PersonalAccount.id_for(REGION, "P2")
        # A version already there keeps what it has, and the rest of the save is written.
        recorder.insert_events([StoredEvent(stored.originator_id, 3, stored.topic, b"{}"), StoredEvent(other, 1, stored.topic, b"{}")])
        assert [(s.originator_version, s.state) for s in recorder.select_events(stored.originator_id)] == [(3, stored.state)]
        assert [s.originator_version for s in recorder.select_events(other)] == [1]


def _refusals(logs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(log["log_level"], log["reason"]) for log in logs if log["event"] == "snapshot_refused"]


def test_a_snapshot_altered_in_the_store_is_refused_and_the_account_folded_from_its_events(tmp_path: Path) -> None:
    """A balanced edit is not needed: a snapshot is not chained. Its balance raised by an SQL edit
    (28,000 fen more) would have the rules pay from money the account never had; the digest sealed
    under the person's key does not match what the snapshot keeps in clear, so it is refused."""
    import sqlite3

    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])  # P1 at version 11, snapshots at 3, 6 and 9; at 9: six months less the bill, 163,000 fen
    true_fen = 6 * 28_000 - 5_000
    with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
        (state,) = connection.execute("SELECT state FROM stored_snapshots WHERE originator_version = 9").fetchone()
        assert f'"balance_fen":{true_fen},'.encode() in state
        forged = state.replace(f'"balance_fen":{true_fen},'.encode(), f'"balance_fen":{true_fen + 28_000},'.encode())
        connection.execute("UPDATE stored_snapshots SET state = ? WHERE originator_version = 9", (forged,))
    with capture_logs() as logs:
        assert _asked_versions(env) == [{PersonalAccount.id_for(REGION, "P1"): 0}]
        account = _loaded(env, INTERVAL)
        for ledger in _cold(env, INTERVAL):
            held = ledger.personal_account(REGION, "P1")  # the library's repository
    assert account.balance_fen == held.balance_fen == 8 * 28_000 - 5_000
    assert _state(account) == _state(_folded(env))
    assert set(_refusals(logs)) == {("error", "altered")}


@pytest.mark.postgres
def test_snapshots_made_up_by_the_application_role_are_refused(postgres_env: dict[str, str]) -> None:
    """What the application role may do (INSERT a snapshot; it may not UPDATE one): a snapshot
    copied whole to a later version, and one written with its personal fields in clear."""
    import json

    from tests.conftest import connect

    _run(postgres_env, _steps()[:-1])  # P1 at version 11, last snapshot at 9
    account_id = PersonalAccount.id_for(REGION, "P1")
    with connect(postgres_env) as connection:
        (topic, state) = connection.execute(
            "SELECT topic, state FROM fundledger_snapshots WHERE originator_id = %s AND originator_version = 9", (account_id,)).fetchone()
        connection.execute("INSERT INTO fundledger_snapshots (originator_id, originator_version, topic, state) VALUES (%s, 10, %s, %s)",
                           (account_id, topic, state))
        with capture_logs() as logs:
            assert _asked_versions(postgres_env) == [{account_id: 0}]
        assert _refusals(logs) == [("error", "altered")]  # the version is sealed with it
        plain = json.loads(bytes(state))
        sealed_fields = plain["state"].pop("personal_fields")
        plain["state"].update({name: "made up" for name in sealed_fields["fields"]})
        plain["state"]["balance_fen"] = 10**9
        connection.execute("INSERT INTO fundledger_snapshots (originator_id, originator_version, topic, state) VALUES (%s, 11, %s, %s)",
                           (account_id, topic, json.dumps(plain).encode()))
        with capture_logs() as logs:
            assert _asked_versions(postgres_env) == [{account_id: 0}]
            account = _loaded(postgres_env, INTERVAL)
        assert _refusals(logs) == [("error", "unsealed"), ("error", "unsealed")]
        assert account.balance_fen == 8 * 28_000 - 5_000
        with pytest.raises(Exception, match="permission denied"):
            connection.execute("UPDATE fundledger_snapshots SET state = state WHERE originator_id = %s", (account_id,))


def test_the_setting_says_how_often_an_account_is_snapshotted_or_that_none_is(tmp_path: Path) -> None:
    from ledger.settings import SettingsError

    for every, expected in (("0", []), ("2", [2, 4, 6, 8, 10, 12]), (None, [12])):  # None: the default
        env = _sqlite_env(tmp_path, f"every{every}") | ({} if every is None else {"ACCOUNT_SNAPSHOT_EVERY": every})
        ledger = Ledger(env=env)
        try:
            ledger.open_region(load_policy_file())
            for step in _steps():  # P1 to version 12
                step(ledger)
        finally:
            ledger.close()
        assert _snapshot_versions(env) == expected, every
    for wrong in ("x", "1001", "-1"):
        with pytest.raises(SettingsError, match="ACCOUNT_SNAPSHOT_EVERY"):
            Ledger(env={**_sqlite_env(tmp_path, "wrong"), "ACCOUNT_SNAPSHOT_EVERY": wrong}).account_snapshot_every  # noqa: B018


def test_a_snapshot_of_another_kind_under_an_accounts_id_is_refused(tmp_path: Path) -> None:
    """A snapshot becomes only the aggregate its content names: an account's snapshot relabelled as
    a pooled fund, or as a kind the ledger never snapshots, is not loaded under the account's id."""
    import json
    import sqlite3

    from eventsourcing.utils import get_topic

    from ledger.aggregates import PooledFund
    from ledger.records import MemoFund

    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])  # P1 at version 11, last snapshot at 9
    account_id = PersonalAccount.id_for(REGION, "P1")
    with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
        (topic, state) = connection.execute("SELECT topic, state FROM stored_snapshots WHERE originator_version = 9").fetchone()
    for version, kind, why in ((10, PooledFund, "it stands under another aggregate's id than the one its content names"),
                               (11, MemoFund, f"the ledger takes no snapshot of {get_topic(MemoFund)!r}")):
        relabelled = json.loads(state)
        relabelled["topic"] = get_topic(kind)
        with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
            connection.execute("INSERT INTO stored_snapshots (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                               (account_id.hex, version, topic, json.dumps(relabelled).encode()))
        with capture_logs() as logs:
            assert _asked_versions(env) == [{account_id: 0}]
            for ledger in _cold(env, INTERVAL):
                account = ledger.personal_account(REGION, "P1")  # the library's repository reads the last one too
        refused = [(log["reason"], log["detail"].split(": ", 1)[1]) for log in logs if log["event"] == "snapshot_refused"]
        assert refused == [("altered", why)] * 2, kind
        assert _state(account) == _state(_folded(env))


# ---------------------------------------------------------------------------- rows made up by whoever may INSERT a snapshot
def _insert_row(env: dict[str, str], originator_id: Any, version: int, topic: str, state: bytes) -> None:
    import sqlite3

    with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
        connection.execute("INSERT INTO stored_snapshots (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                           (originator_id.hex, version, topic, state))


def _encoded(env: dict[str, str], value: dict[str, Any]) -> bytes:
    for ledger in _cold(env, 0):
        return ledger.mapper.transcoder.encode(value)
    raise AssertionError("unreachable")


def test_rows_that_are_not_snapshots_in_the_snapshots_table_are_refused(tmp_path: Path) -> None:
    """Rows only the INSERT privilege is needed for, each of which the ledger once folded as if it
    were a snapshot: an account's state as a list of pairs (a balance of 10^9 fen, fields in
    clear), a snapshot with no aggregate topic, an enrolment event under the account's id, and a
    business record's creation under the id of a remittance not yet received (which would have
    refused the real one as a duplicate). Each is refused, logged, and nothing it says is used."""
    from datetime import UTC, datetime

    from eventsourcing.utils import get_topic

    from ledger.aggregates import BusinessRecord

    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])  # P1 at version 11, 219,000 fen
    account_id = PersonalAccount.id_for(REGION, "P1")
    real = _folded(env)
    now = datetime.now(UTC)
    pairs = [[name, 10**9 if name == "balance_fen" else value] for name, value in _state(real).items() if name not in ("_id", "_version")]
    rows = [
        (account_id, 12, get_topic(PersonalAccount.Snapshot), {"timestamp": now, "topic": get_topic(PersonalAccount), "state": pairs}),
        (account_id, 13, get_topic(PersonalAccount.Snapshot), {"timestamp": now, "state": {"balance_fen": 10**9}}),
        (account_id, 11, get_topic(PersonalAccount.Enrolled),
         {"timestamp": now, "originator_topic": get_topic(PersonalAccount), "region": REGION, "person_id": "P1", "category": "retiree",
          "birth_date": date(1940, 1, 1), "employer_id": "X", "enrolled_on": date(2024, 1, 1), "pension_fen": 9_999_999,
          "contribution_months_elsewhere": 480}),
        (BusinessRecord.id_for("remittance", REGION, "R-P1-9"), 1, get_topic(BusinessRecord.Recorded),
         {"timestamp": now, "originator_topic": get_topic(BusinessRecord), "region": REGION, "kind": "remittance",
          "business_key": "R-P1-9", "fingerprint": "x", "on": date(2024, 9, 15), "outcome": {}, "postings": []}),
    ]
    for originator_id, version, topic, value in rows:
        _insert_row(env, originator_id, version, topic, _encoded(env, value))
    with capture_logs() as logs:
        assert _asked_versions(env) == [{account_id: 0}]
        for ledger in _cold(env, INTERVAL):
            held = ledger.personal_account(REGION, "P1")  # the library's repository
            assert _state(held) == _state(real)
            ledger.post_remittance(_remittance(9, "P1", "E2", 9))  # credited: no record of it stands in the way
            assert ledger.personal_account(REGION, "P1").balance_fen == 9 * 28_000 - 5_000
    assert _state(_loaded(env, INTERVAL)) == _state(_folded(env))
    assert {log["reason"] for log in logs if log["event"] == "snapshot_refused"} == {"altered"}
    assert all(log["log_level"] == "error" for log in logs if log["event"] == "snapshot_refused")


def test_a_made_up_pooled_fund_snapshot_is_refused(tmp_path: Path) -> None:
    """The pooled fund's snapshots (the library's, every 500 events) are sealed under the ledger's
    snapshot key: one written by anyone else, however plausible, is refused."""
    from datetime import UTC, datetime

    from eventsourcing.domain import Snapshot
    from eventsourcing.utils import get_topic

    from ledger.aggregates import PooledFund

    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:6])
    for ledger in _cold(env, 0):
        fund = ledger.pooled_fund(REGION)
        state = {name: value for name, value in vars(fund).items() if name not in ("_id", "_version", "_pending_events")}
        state["balance_fen"] = fund.balance_fen + 10**9
        true_fen, version = fund.balance_fen, fund.version
    _insert_row(env, PooledFund.id_for(REGION), version, get_topic(Snapshot),
                _encoded(env, {"timestamp": datetime.now(UTC), "topic": get_topic(PooledFund), "state": state}))
    with capture_logs() as logs:
        for ledger in _cold(env, 0):
            assert ledger.pooled_fund(REGION).balance_fen == true_fen
    assert _refusals(logs) == [("error", "unsealed")]


def test_a_snapshot_taken_before_an_attribute_existed_is_not_used(tmp_path: Path) -> None:
    """A snapshot without an attribute a new account has (taken by a release before it existed,
    sealed as that release sealed it) would give an account without it: it is passed over as
    outdated (not an error) and the account folded from its events."""
    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])
    account_id = PersonalAccount.id_for(REGION, "P1")
    for ledger in _cold(env, 0):
        older = _folded(env)
        del older.months_taken_away
        assert ledger.snapshots is not None
        ledger.snapshots.recorder.insert_events([ledger.mapper.to_stored_event(PersonalAccount.Snapshot.take(older))])
    with capture_logs() as logs:
        assert _asked_versions(env) == [{account_id: 0}]
    assert _refusals(logs) == []  # not an error: at info level
    assert _state(_loaded(env, INTERVAL)) == _state(_folded(env))


@pytest.mark.parametrize(("class_version", "new_attributes"), [
    (1, ("interest_settled_to", "category_history")),  # before the day its interest is paid to
    (2, ("category_history",)),  # before its categories by date
])
def test_a_snapshot_of_an_earlier_class_version_is_not_used_the_account_is_folded(
        tmp_path: Path, class_version: int, new_attributes: tuple[str, ...]) -> None:
    """What the attributes a later version keeps would hold cannot be told from an earlier
    version's state (a close's settlement, the dates of past changes of category): guessing it
    paid a person who came back within the year twice, and read a retirement recorded ahead as
    held since enrolment. Such a snapshot is passed over as outdated and the account folded from
    its events, the same as a process that never had the snapshot."""
    import dataclasses

    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])
    account_id = PersonalAccount.id_for(REGION, "P1")
    for ledger in _cold(env, 0):
        snapshot = PersonalAccount.Snapshot.take(_folded(env))
        state = {name: value for name, value in snapshot.state.items() if name not in (*new_attributes, "class_version")}
        if class_version > 1:
            state["class_version"] = class_version
        assert ledger.snapshots is not None
        ledger.snapshots.recorder.insert_events([ledger.mapper.to_stored_event(dataclasses.replace(snapshot, state=state))])
    with capture_logs() as logs:
        assert _asked_versions(env) == [{account_id: 0}]
    assert _refusals(logs) == []  # not an error: at info level
    assert [log["reason"] for log in logs if log["event"] == "snapshot_not_used"] == ["outdated"]
    assert _state(_loaded(env, INTERVAL)) == _state(_folded(env))


def test_a_pooled_fund_snapshot_of_an_earlier_class_version_is_folded_from_its_events(tmp_path: Path) -> None:
    """A pooled fund's snapshot taken before it kept the interest it advanced to closing accounts
    (class version 2): it is not used, and the fund is folded from its events."""
    import dataclasses

    from eventsourcing.domain import Snapshot

    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:6])
    for ledger in _cold(env, 0):
        fund = ledger.pooled_fund(REGION)
        snapshot = Snapshot.take(fund)
        state = {name: value for name, value in snapshot.state.items() if name != "interest_advanced_fen"}
        assert ledger.snapshots is not None
        ledger.snapshots.recorder.insert_events([ledger.mapper.to_stored_event(dataclasses.replace(snapshot, state={**state, "class_version": 2}))])
        true_state = {name: value for name, value in vars(fund).items() if name not in ("_pending_events", "_modified_on")}
    with capture_logs() as logs:
        for ledger in _cold(env, 0):
            loaded = ledger.pooled_fund(REGION)
            assert {name: value for name, value in vars(loaded).items() if name not in ("_pending_events", "_modified_on")} == true_state
    assert _refusals(logs) == []
    assert [log["reason"] for log in logs if log["event"] == "snapshot_not_used"] == ["outdated"]


def test_a_row_at_a_version_the_account_never_had_does_not_hide_its_snapshots(tmp_path: Path) -> None:
    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])  # snapshots at 3, 6 and 9; P1 at version 11
    account_id = PersonalAccount.id_for(REGION, "P1")
    _insert_row(env, account_id, 10**6, "anything", b"{}")
    assert _asked_versions(env) == [{account_id: 9}]


def test_a_wrong_setting_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    from ledger.settings import SettingsError

    env = {**_sqlite_env(tmp_path, "ledger"), "ACCOUNT_SNAPSHOT_EVERY": "12x"}
    with pytest.raises(SettingsError, match="ACCOUNT_SNAPSHOT_EVERY must be a whole number"):
        Ledger(env=env)
