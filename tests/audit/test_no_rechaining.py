"""Opening a store never chains again a history that was chained: an edited event whose hash was
removed (the append-only triggers dropped) used to make the next process that opened the file,
``verify`` itself included, take it for a file written before the chain and re-chain every row,
so the edit passed ``verify`` and the evidence was overwritten. And ``verify`` opens the store
as it is: it makes no table and puts no trigger back."""

from __future__ import annotations

from pathlib import Path

from ledger.application import Ledger
from tests.audit.sqlite_file import raw, scenario_file, verified, verify_command
from tests.audit.tamper import C1_POSITION

TRIGGERS = ("stored_events_no_update", "stored_events_no_delete", "stored_events_positions", "stored_events_originator_ids",
            "stored_events_chain_hashes", "stored_events_column_types")


def _edit_and_remove_its_hash(env: dict[str, str]) -> dict[int, bytes]:
    """C1's claim lowered from 10,000 to 1,000 fen on both postings (still balanced), its chain
    hash set NULL, every trigger left dropped; returns the hashes stored before."""
    with raw(env, *TRIGGERS) as connection:
        before = {position: bytes(h) for position, h in connection.execute("SELECT rowid, chain_hash FROM stored_events")}
        connection.execute("UPDATE stored_events SET state = CAST(replace(replace(state, '\"amount_fen\":10000', '\"amount_fen\":1000'), "
                           "'\"amount_fen\":-10000', '\"amount_fen\":-1000') AS BLOB), chain_hash = NULL WHERE rowid = ?", (C1_POSITION,))
        assert connection.total_changes == 1
    return before


def _stored_hashes(env: dict[str, str]) -> dict[int, bytes | None]:
    with raw(env) as connection:
        return {position: None if h is None else bytes(h) for position, h in connection.execute("SELECT rowid, chain_hash FROM stored_events")}


def test_a_hash_removed_is_never_chained_again_and_verify_fails_there(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    before = _edit_and_remove_its_hash(env)
    Ledger(env=env).close()  # any process opening the file (it puts the triggers back)
    result = verified(env)
    assert not result.passed
    assert result.first_break is not None and result.first_break.position == C1_POSITION
    assert "has no chain hash" in result.first_break.reason
    stored = _stored_hashes(env)
    assert stored[C1_POSITION] is None  # the evidence stays
    assert {p: h for p, h in stored.items() if p != C1_POSITION} == {p: h for p, h in before.items() if p != C1_POSITION}


def test_a_file_never_chained_is_still_chained_when_opened(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with raw(env, *TRIGGERS) as connection:
        before = dict(connection.execute("SELECT rowid, chain_hash FROM stored_events"))
        connection.execute("UPDATE stored_events SET chain_hash = NULL")
    Ledger(env=env).close()
    assert _stored_hashes(env) == before
    assert verified(env).passed


def test_verify_opens_the_store_read_only(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    _edit_and_remove_its_hash(env)
    done = verify_command(env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"first break at position {C1_POSITION}" in done.stdout and "has no chain hash" in done.stdout
    with raw(env) as connection:
        assert connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    assert _stored_hashes(env)[C1_POSITION] is None
