"""Tampering with a stored history the way an attacker with the database's superuser would: SQL
on the events table, with the append-only triggers switched off for the session
(``session_replication_role = replica``, which only a superuser may set)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from adapters import chain

TABLE = "fundledger_events"
ASIDE = 1 << 40  # a position no test reaches, where rows are moved out of the way


def _scenario_positions() -> tuple[int, int]:
    """Where ``tests.integration.test_stores.run_scenario`` puts claim C1's ``ClaimPaid``, and how
    many events it stores, found by running it in memory (a fresh store numbers events 1, 2, ...)."""
    from ledger.application import Ledger
    from tests.integration.test_stores import run_scenario

    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        run_scenario(ledger)
        c1 = next(position for position, event in ledger.stored_events()
                  if type(event).__qualname__ == "PersonalAccount.ClaimPaid" and getattr(event, "claim_id", "") == "C1")
        return c1, ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()


C1_POSITION, SCENARIO_EVENTS = _scenario_positions()  # C1's ClaimPaid: fund.personal +10,000, payable.hospitals -10,000


def _as_superuser(connection: Any) -> None:
    connection.execute("SET session_replication_role = replica")


def balanced_edit(connection: Any, position: int = C1_POSITION) -> None:
    """The claim's two postings both lowered from 10,000 to 1,000 fen: still balanced, so the
    books' invariants alone do not see it (issue 11)."""
    _as_superuser(connection)
    state = bytes(connection.execute(f"SELECT state FROM {TABLE} WHERE notification_id = %s", (position,)).fetchone()[0])
    edited = state.replace(b'"amount_fen":10000', b'"amount_fen":1000').replace(b'"amount_fen":-10000', b'"amount_fen":-1000')
    assert edited != state
    connection.execute(f"UPDATE {TABLE} SET state = %s WHERE notification_id = %s", (edited, position))


def delete(connection: Any, position: int) -> None:
    _as_superuser(connection)
    connection.execute(f"DELETE FROM {TABLE} WHERE notification_id = %s", (position,))


def insert_with_valid_link(connection: Any, position: int) -> None:
    """Make room at ``position`` (every later event moved one on) and insert there a forged event
    whose hash links correctly to the event before it: the attacker knows the algorithm."""
    _as_superuser(connection)  # (out of the way and back: positions below 1 are refused, by a CHECK triggers do not switch off)
    connection.execute(f"UPDATE {TABLE} SET notification_id = notification_id + 1 + %s WHERE notification_id >= %s", (ASIDE, position))
    connection.execute(f"UPDATE {TABLE} SET notification_id = notification_id - %s WHERE notification_id > %s", (ASIDE, ASIDE))
    previous = bytes(connection.execute(f"SELECT chain_hash FROM {TABLE} WHERE notification_id = %s", (position - 1,)).fetchone()[0])
    forged_id, topic, state = UUID(int=1), "ledger.aggregates:PersonalAccount.ClaimPaid", b"{}"
    forged_hash = chain.link(previous, position, forged_id, 1, topic, state)
    connection.execute(f"INSERT INTO {TABLE} (notification_id, originator_id, originator_version, topic, state, chain_hash) "
                       "VALUES (%s, %s, 1, %s, %s, %s)", (position, forged_id, topic, state, forged_hash))


def swap(connection: Any, first: int, second: int) -> None:
    """Exchange the positions of two events (rows, hashes and all)."""
    _as_superuser(connection)
    connection.execute(f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = %s", (ASIDE, first))
    connection.execute(f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = %s", (first, second))
    connection.execute(f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = %s", (second, ASIDE))


def rechain_from(connection: Any, position: int) -> None:
    """Recompute every hash from ``position`` on, so the chain in the database is consistent
    again after an edit: only an anchor kept outside the database can tell."""
    _as_superuser(connection)
    previous = bytes(connection.execute(f"SELECT chain_hash FROM {TABLE} WHERE notification_id = %s", (position - 1,)).fetchone()[0])
    rows = connection.execute(f"SELECT notification_id, originator_id, originator_version, topic, state FROM {TABLE} "
                              "WHERE notification_id >= %s ORDER BY notification_id", (position,)).fetchall()
    hashes = chain.chain_hashes(previous, [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows])
    for row, recomputed in zip(rows, hashes, strict=True):
        connection.execute(f"UPDATE {TABLE} SET chain_hash = %s WHERE notification_id = %s", (recomputed, row[0]))
