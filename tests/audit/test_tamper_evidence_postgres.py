"""The hash chain on the real PostgreSQL: each kind of tampering, done with SQL as a superuser,
is caught by ``verify`` at its position; a chain rewritten whole is caught by an anchor.

The history is ``tests.integration.test_stores.run_scenario`` (``tamper.SCENARIO_EVENTS`` events,
``tamper.C1_POSITION`` being claim C1's ``ClaimPaid``: fund.personal +10,000, payable.hospitals
-10,000).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger
from projections.anchors import append_anchor, load_anchor_file, take_anchor
from projections.verify import Verification, Verifier
from tests.audit import tamper
from tests.conftest import REPO, connect
from tests.integration.test_stores import run_scenario

pytestmark = pytest.mark.postgres

EVENTS = tamper.SCENARIO_EVENTS
DELETED = EVENTS - 3  # an event in the middle of the history


@pytest.fixture
def history(postgres_env: dict[str, str]) -> Iterator[dict[str, str]]:
    ledger = Ledger(env=postgres_env)
    try:
        run_scenario(ledger)
        assert ledger.recorder.max_notification_id() == EVENTS
    finally:
        ledger.close()
    yield postgres_env


def verify(env: dict[str, str], anchors_file: Path | None = None) -> Verification:
    ledger = Ledger(env=env)
    try:
        return Verifier(ledger).run(anchors=load_anchor_file(anchors_file) if anchors_file else None)
    finally:
        ledger.close()


def anchored(env: dict[str, str], path: Path) -> Path:
    """An anchor of the log's head now, appended to ``path``."""
    ledger = Ledger(env=env)
    try:
        append_anchor(path, take_anchor(ledger))
    finally:
        ledger.close()
    return path


def test_an_untouched_history_verifies_with_its_chain_head(history: dict[str, str]) -> None:
    result = verify(history)
    assert result.passed, dict(result.violations)
    assert result.chain_events == EVENTS
    assert result.chain_head is not None and result.chain_head[0] == EVENTS


def test_a_balanced_edit_of_a_claim_is_caught_at_its_position(history: dict[str, str]) -> None:
    with connect(history, "superuser") as connection:
        tamper.balanced_edit(connection, tamper.C1_POSITION)
    result = verify(history)
    assert set(result.counts) == {"hash chain broken"}  # the books still balance: only the chain sees it
    assert result.first_break is not None and result.first_break.position == tamper.C1_POSITION


def test_a_deleted_event_is_caught_at_the_next_position(history: dict[str, str]) -> None:
    with connect(history, "superuser") as connection:
        tamper.delete(connection, DELETED)
    result = verify(history)
    assert result.first_break is not None and result.first_break.position == DELETED + 1
    assert f"positions {DELETED}-{DELETED} are absent" in result.first_break.reason


def test_an_inserted_event_is_caught_even_when_its_own_hash_links(history: dict[str, str]) -> None:
    with connect(history, "superuser") as connection:
        tamper.insert_with_valid_link(connection, 15)
    result = verify(history)
    # the forged event at 15 links to 14; the event moved from 15 to 16 was hashed at position 15
    assert result.first_break is not None and result.first_break.position == 16


def test_two_events_swapped_are_caught_at_the_first(history: dict[str, str]) -> None:
    with connect(history, "superuser") as connection:
        tamper.swap(connection, 17, 18)
    result = verify(history)
    assert result.first_break is not None and result.first_break.position == 17


def test_a_history_rewritten_whole_is_caught_by_an_anchor_kept_outside(history: dict[str, str], tmp_path: Path) -> None:
    anchors = anchored(history, tmp_path / "anchors.jsonl")
    with connect(history, "superuser") as connection:
        tamper.balanced_edit(connection, tamper.C1_POSITION)
        tamper.rechain_from(connection, tamper.C1_POSITION)
    rewritten = verify(history)
    assert rewritten.first_break is None and "hash chain broken" not in rewritten.counts, "the rewritten chain is consistent in itself"
    result = verify(history, anchors)
    assert "anchor contradicted" in result.counts and "hash chain broken" not in result.counts
    assert f"up to position {EVENTS}" in result.violations["anchor contradicted"][0]


def test_the_anchor_catches_events_removed_from_the_end(history: dict[str, str], tmp_path: Path) -> None:
    anchors = anchored(history, tmp_path / "anchors.jsonl")
    with connect(history, "superuser") as connection:
        tamper.delete(connection, EVENTS)
    result = verify(history, anchors)
    assert result.counts == {"anchor contradicted": 1}
    assert f"the log now ends at {EVENTS - 1}" in result.violations["anchor contradicted"][0]


def test_the_command_names_the_broken_position_and_fails(history: dict[str, str]) -> None:
    with connect(history, "superuser") as connection:
        tamper.balanced_edit(connection, tamper.C1_POSITION)
    environ = {**os.environ, **history, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "cli.main", "verify", "--no-projection"], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"BROKEN at position {tamper.C1_POSITION}" in done.stdout
    assert f"first break at position {tamper.C1_POSITION}" in done.stdout
    assert "FAIL" in done.stdout.splitlines()[-1]


def test_the_issue_scenario_fails_replay_too(history: dict[str, str]) -> None:
    """Issue 11: a balanced UPDATE of a claim's two postings, the projections dropped and rebuilt:
    ``verify`` and ``replay`` both passed. Now both fail, naming the position."""
    from projections import schema
    from projections.projector import Projector
    from projections.replay import replay
    from projections.store import open_store

    with connect(history, "superuser") as connection:
        tamper.balanced_edit(connection, tamper.C1_POSITION)
    ledger = Ledger(env=history)
    store = open_store(ledger)
    try:
        store.drop_tables(schema.LIVE_PREFIX)
        Projector(ledger, store).catch_up()
        result = replay(ledger, store)
    finally:
        store.close()
        ledger.close()
    assert not result.differences, "the projections agree with the edited events"
    assert not result.passed
    assert result.chain is not None and result.chain.first_break is not None
    assert result.chain.first_break.position == tamper.C1_POSITION
