"""``verify`` on a row whose columns are of a type the ledger never writes (SQLite keeps what it
is given: a text originator version, a NULL version, topic or state) exited 70 "internal error"
(``struct.pack`` of a text version); it now reports that row's position as a break, and the
SQLite store refuses such a row on insert (a trigger)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.audit.sqlite_file import raw, scenario_file, verified, verify_command

ODD = {"text version": ("originator_version", "2x"), "NULL version": ("originator_version", None),
       "real version": ("originator_version", 2.5), "NULL topic": ("topic", None), "NULL state": ("state", None)}


def _append_odd_row(connection: sqlite3.Connection, column: str, value: object) -> int:
    """The last row again after the head, one column changed, its hash linked to nothing."""
    row = dict(zip(("originator_id", "originator_version", "topic", "state"), connection.execute(
        "SELECT originator_id, originator_version + 1, topic, state FROM stored_events ORDER BY rowid DESC LIMIT 1").fetchone(),
        strict=True))
    row[column] = value
    connection.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state, chain_hash) VALUES (?, ?, ?, ?, ?)",
                       (*row.values(), bytes(32)))
    return int(connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0])


@pytest.mark.parametrize("column,value", ODD.values(), ids=ODD.keys())
def test_verify_reports_an_odd_row_as_a_break_at_its_position(tmp_path: Path, column: str, value: object) -> None:
    env = scenario_file(tmp_path)
    with raw(env, "stored_events_column_types") as connection:
        position = _append_odd_row(connection, column, value)
    result = verified(env)
    assert result.first_break is not None and result.first_break.position == position, result.first_break
    assert "never writes such a row" in result.first_break.reason and column.split("_")[-1] in result.first_break.reason


def test_the_command_reports_a_text_version_as_a_break_not_an_internal_error(tmp_path: Path) -> None:
    env = scenario_file(tmp_path)
    with raw(env, "stored_events_column_types") as connection:
        position = _append_odd_row(connection, "originator_version", "2x")
    done = verify_command(env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"first break at position {position}" in done.stdout and "'2x'" in done.stdout
    assert "internal error" not in done.stderr


@pytest.mark.parametrize("column,value", ODD.values(), ids=ODD.keys())
def test_the_sqlite_triggers_refuse_an_odd_row(tmp_path: Path, column: str, value: object) -> None:
    env = scenario_file(tmp_path)
    with raw(env) as connection, pytest.raises(sqlite3.IntegrityError, match="row refused"):
        _append_odd_row(connection, column, value)
