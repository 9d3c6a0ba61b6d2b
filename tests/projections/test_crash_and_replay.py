"""Exactly once: a crash between a batch's rows and its commit, then a restart, gives the same
tables as a clean build; replay equals live after a random sequence of use cases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.commands import CloseYear, Enrol
from projections import schema
from projections.projector import Projector
from projections.replay import compare_tables, replay
from projections.store import ProjectionStore, memory_store, open_store
from tests.projections.scenario import REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, inpatient, open_regions, outpatient, remit

REPO = Path(__file__).resolve().parents[2]


def busy_history(ledger: Ledger) -> None:
    open_regions(ledger)
    enrol_both(ledger)
    for month in range(1, 7):
        remit(ledger, f"2024-{month:02d}", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
        outpatient(ledger, f"OP{month}", A, date(2024, month, 20), 1_000 * month)
    inpatient(ledger, "IP1", B, date(2024, 7, 1), 150_000)
    ledger.close_year(CloseYear(REGION, 2024))  # every account's 2024 money becomes carried over
    remit(ledger, "2025-01", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)


class Crash(Exception):
    pass


def test_injected_failure_before_commit_leaves_nothing_and_restart_catches_up(
        sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    busy_history(sqlite_ledger)
    crashing = Projector(sqlite_ledger, store, batch_size=4)
    batches = []

    def fail_on_third(state: object) -> None:
        batches.append(state)
        if len(batches) == 3:
            raise Crash("between the rows and the commit")

    crashing.before_commit = fail_on_third
    with pytest.raises(Crash):
        crashing.catch_up()
    position = crashing.position
    assert position > 0  # two batches committed
    before = store.query(f"SELECT COUNT(*) AS n FROM {schema.LIVE_PREFIX}personal_statements")[0]["n"]
    restarted = Projector(sqlite_ledger, store, batch_size=4)
    assert restarted.position == position
    restarted.catch_up()
    assert restarted.position == restarted.head()
    assert store.query(f"SELECT COUNT(*) AS n FROM {schema.LIVE_PREFIX}personal_statements")[0]["n"] > before
    assert replay(sqlite_ledger, store, batch_size=50).passed


def test_a_batch_applied_twice_is_refused(sqlite_ledger: Ledger, store: ProjectionStore) -> None:
    busy_history(sqlite_ledger)
    projector = Projector(sqlite_ledger, store, batch_size=5)
    first = next(projector.batches(0, None))
    projector.apply(first)
    with pytest.raises(Exception, match="(?i)tracking|unique|integrity"):
        projector.apply(first)
    projector.catch_up()
    assert replay(sqlite_ledger, store).passed


CRASHING_CHILD = textwrap.dedent("""
    import os, signal, sys
    from ledger.application import Ledger
    from projections.projector import Projector
    from projections.store import open_store
    env = dict(PERSISTENCE_MODULE=sys.argv[1], SQLITE_DBNAME=sys.argv[2])
    env.update({k: v for k, v in os.environ.items() if k.startswith("POSTGRES_")})
    ledger = Ledger(env=env)
    projector = Projector(ledger, open_store(ledger), batch_size=4)
    seen = []
    def kill_on_third(state):
        seen.append(state)
        if len(seen) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    projector.before_commit = kill_on_third
    projector.catch_up()
""")


def crash_then_restart(env: dict[str, str], ledger: Ledger) -> None:
    child_env = {**os.environ, **{k: v for k, v in env.items() if k.startswith("POSTGRES_")}, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CRASHING_CHILD, env["PERSISTENCE_MODULE"], env.get("SQLITE_DBNAME", "")],
                          env=child_env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    store = open_store(ledger)
    try:
        restarted = Projector(ledger, store, batch_size=4)
        assert 0 < restarted.position < restarted.head()  # two batches were committed, the third was not
        restarted.catch_up()
        clean = memory_store()
        Projector(ledger, clean, batch_size=1000).catch_up()
        assert_same_tables(store, clean)
        assert replay(ledger, store).passed
    finally:
        store.close()


def assert_same_tables(left: ProjectionStore, right: ProjectionStore) -> None:
    for table in schema.TABLES:
        statement = f"SELECT * FROM {schema.LIVE_PREFIX}{table.name} ORDER BY {', '.join(table.key)}"
        assert left.query(statement) == right.query(statement), table.name


def test_sigkill_in_the_middle_of_a_batch_then_restart_gives_identical_tables(
        sqlite_env: dict[str, str], sqlite_ledger: Ledger) -> None:
    busy_history(sqlite_ledger)
    crash_then_restart(sqlite_env, sqlite_ledger)


# ---------------------------------------------------------------------------- property: replay == live
PEOPLE = ("P1", "P2", "P3")
step = st.one_of(
    st.tuples(st.just("remit"), st.integers(1, 12), st.sampled_from([2024, 2025]), st.lists(st.sampled_from(PEOPLE), min_size=1, unique=True)),
    st.tuples(st.just("outpatient"), st.sampled_from(PEOPLE), st.integers(1, 60_000), st.integers(1, 12)),
    st.tuples(st.just("inpatient"), st.sampled_from(PEOPLE), st.integers(10_000, 3_000_000), st.integers(1, 12)),
    st.tuples(st.just("project"), st.integers(1, 7)),
    st.tuples(st.just("close"), st.just(2024)),
)


def run_step(ledger: Ledger, store: ProjectionStore, index: int, action: tuple) -> None:
    from ledger.commands import PayOutpatient, PostRemittance, RemittanceLine, SettleInpatient
    from ledger.errors import LedgerError
    from ledger.rules import age_on, contribution_split

    try:
        if action[0] == "remit":
            _, month, year, people = action
            period = f"{year}-{month:02d}"
            policy = ledger.policy_in_force(REGION, date(year, month, 1))
            total_fen = sum(contribution_split(policy, "employee", age_on(date(1980, 1, 1), date(year, month, 1)), 400_000).payable_fen
                            for _ in people)
            ledger.post_remittance(PostRemittance(REGION, f"R{index}", "employer", "E1", period, date(year, month, 15), total_fen,
                                                  tuple(RemittanceLine(p, 400_000) for p in people)))
        elif action[0] == "outpatient":
            _, person, amount_fen, month = action
            ledger.pay_outpatient(PayOutpatient(REGION, f"O{index}", person, "pharmacy", date(2024, month, 20), amount_fen))
        elif action[0] == "inpatient":
            _, person, cost_fen, month = action
            ledger.settle_inpatient(SettleInpatient(REGION, f"I{index}", person, 2, date(2024, month, 2), date(2024, month, 9), cost_fen))
        elif action[0] == "close":
            ledger.close_year(CloseYear(REGION, action[1]))
        else:
            Projector(ledger, store, batch_size=action[1]).catch_up()
    except LedgerError:
        pass  # refused (e.g. over the ceiling): records nothing


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=14))
def test_replay_equals_live_after_random_use_cases(steps: list[tuple]) -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    store = memory_store()
    try:
        open_regions(ledger)
        for person in PEOPLE:
            ledger.enrol(Enrol(REGION, person, "employee", date(1980, 1, 1), "E1", date(2023, 1, 1)))
        for index, action in enumerate(steps):
            run_step(ledger, store, index, action)
        result = replay(ledger, store, batch_size=1000, keep=True)
        assert result.passed, result.differences
        assert not compare_tables(store, schema.LIVE_PREFIX, schema.REPLAY_PREFIX)
        live = {r["account"]: r["balance_fen"] for r in store.query(f"SELECT * FROM {schema.LIVE_PREFIX}account_balances")}
        assert live == {account: total for (region, account), total in _trial_balance(ledger).items() if region == REGION}
    finally:
        store.close()
        ledger.close()


def _trial_balance(ledger: Ledger) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for _, event in ledger.stored_events():
        for posting in getattr(event, "postings", None) or ():
            key = (event.region, posting["account"])  # type: ignore[attr-defined]
            totals[key] = totals.get(key, 0) + posting["amount_fen"]
    return totals


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_batch_size_does_not_change_the_tables(sqlite_ledger: Ledger, batch_size: int) -> None:
    busy_history(sqlite_ledger)
    left, right = memory_store(), memory_store()
    Projector(sqlite_ledger, left, batch_size=batch_size).catch_up()
    Projector(sqlite_ledger, right, batch_size=100_000).catch_up()
    assert_same_tables(left, right)
    balances = {r["person_id"]: r for r in left.query("SELECT * FROM proj_personal_balances")}
    # B's account was emptied by the inpatient bill in July, so only A carries 2024 money over.
    assert balances[A]["carried_over_fen"] == 14_000 * 6 - sum(1_000 * m for m in range(1, 7))
    assert balances[B]["current_year"] == 2025


def test_open_store_puts_sqlite_projections_beside_the_ledger(sqlite_env: dict[str, str], sqlite_ledger: Ledger) -> None:
    store = open_store(sqlite_ledger)
    try:
        assert store.description.endswith("ledger.projections.sqlite")
    finally:
        store.close()
