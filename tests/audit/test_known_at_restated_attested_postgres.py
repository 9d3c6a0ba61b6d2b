"""The second kind of time, the restatement of a closed year, and signed evidence, on the real
PostgreSQL, over ``tests.integration.test_stores.run_scenario`` (2024) closed at the end of 2024,
then corrected in 2025.

Hand-computed (see test_stores for the scenario's figures):
  2024 personal-account expenditure as reported at the close: C1 outpatient 10,000 + H1's
  inpatient self-pay from P2's account 20,000 + C2 pharmacy 600 = 30,600 fen; pooled-fund
  expenditure: H1's pooled part 400,000 fen.
  2025: COR-1 reverses C1 (10,000 back to P1's account), COR-2 reverses H1 (20,000 back to P2's
  account, 400,000 to the pooled fund), and a 2025 remittance (not a correction of 2024).
  Restated 2024: personal expenditure 30,600 - 10,000 - 20,000 = 600 (closing +30,000); pooled
  expenditure 400,000 - 400,000 = 0 (closing +400,000). Nothing else differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.commands import CloseYear, PostRemittance, RemittanceLine, ReverseClaim
from projections import render
from projections.attest import attest, check, generate_key, load_private_key, load_public_key
from projections.known_at import known_at_report, position_at_time
from projections.projector import Projector
from projections.reports import Filters, run_report
from projections.restatement import restate
from projections.store import open_store
from tests.audit import tamper
from tests.conftest import connect
from tests.integration.test_stores import REGION, run_scenario

pytestmark = pytest.mark.postgres

FINAL_2024 = Filters(region=REGION, year=2024)
BALANCES = Filters(region=REGION)


def live_report(ledger: Ledger, name: str, filters: Filters) -> Any:
    store = open_store(ledger)
    try:
        Projector(ledger, store).catch_up()
        return run_report(name, store, filters)
    finally:
        store.close()


def correct_in_2025(ledger: Ledger) -> None:
    ledger.reverse_claim(ReverseClaim(REGION, "COR-1", "C1", date(2025, 1, 10), "billed in error"))
    ledger.reverse_claim(ReverseClaim(REGION, "COR-2", "H1", date(2025, 1, 12), "bill withdrawn"))
    ledger.post_remittance(PostRemittance(REGION, "R-2025-01", "employer", "E1", "2025-01", date(2025, 1, 15), 64_000,
                                          (RemittanceLine("P1", 800_000),)))


@pytest.fixture(scope="module")
def closed_then_corrected(postgres_module_env: dict[str, str]) -> Iterator[tuple[Ledger, int, dict[str, bytes]]]:
    """The ledger, the position right after the close, and reports as issued then (JSON bytes)."""
    ledger = Ledger(env=postgres_module_env)
    run_scenario(ledger)
    ledger.close_year(CloseYear(REGION, 2024))
    issued_at = ledger.recorder.max_notification_id()
    meta = {"known_at_position": issued_at}
    issued = {name: render.as_json(live_report(ledger, name, filters), meta).encode()
              for name, filters in (("balances", BALANCES), ("final-accounts", FINAL_2024))}
    correct_in_2025(ledger)
    yield ledger, issued_at, issued
    ledger.close()


def test_a_report_as_known_at_a_position_is_byte_identical_after_later_events(
        closed_then_corrected: tuple[Ledger, int, dict[str, bytes]]) -> None:
    ledger, issued_at, issued = closed_then_corrected
    assert ledger.recorder.max_notification_id() > issued_at
    meta = {"known_at_position": issued_at}
    for name, filters in (("balances", BALANCES), ("final-accounts", FINAL_2024)):
        again = render.as_json(known_at_report(ledger, name, filters, issued_at), meta).encode()
        assert again == issued[name], name
    now = render.as_json(live_report(ledger, "balances", BALANCES), meta).encode()
    assert now != issued["balances"], "the later events do change today's balances"


def test_a_recording_time_resolves_to_the_last_event_recorded_by_then(closed_then_corrected: tuple[Ledger, int, dict[str, bytes]]) -> None:
    ledger, issued_at, _ = closed_then_corrected
    recorded = ledger.mapper.to_domain_event(ledger.recorder.select_notifications(issued_at, 1)[0]).timestamp
    assert position_at_time(ledger, recorded) == issued_at


def test_restated_differs_from_reported_exactly_by_the_corrections(closed_then_corrected: tuple[Ledger, int, dict[str, bytes]]) -> None:
    ledger, issued_at, _ = closed_then_corrected
    restatement = restate(ledger, REGION, 2024)
    assert restatement.close_position == issued_at  # the YearClosed event was the last of the close
    reported = {r["fund"]: r for r in restatement.reported.sections[0].rows}
    assert (reported["personal"]["expenditure_fen"], reported["pooled"]["expenditure_fen"]) == (30_600, 400_000)
    assert restatement.differences() == {
        ("personal", "expenditure_fen"): (30_600, 600), ("personal", "closing_fen"): (reported["personal"]["closing_fen"],
                                                                                      reported["personal"]["closing_fen"] + 30_000),
        ("pooled", "expenditure_fen"): (400_000, 0), ("pooled", "closing_fen"): (reported["pooled"]["closing_fen"],
                                                                             reported["pooled"]["closing_fen"] + 400_000),
    }
    effects = restatement.effects()
    assert {key: after - before for key, (before, after) in restatement.differences().items()} == effects
    assert sorted({c.correction_id for c in restatement.corrections}) == ["COR-1", "COR-2"]
    table = restatement.report()
    assert [s.name for s in table.sections] == ["reported", "restated", "differences", "corrections"]
    assert all("COR-2" in row["corrections"] for row in table.sections[2].rows if row["fund"] == "pooled")
    # The report as reported is the one issued at the close.
    assert restatement.reported.sections[0].rows == run_report("final-accounts", _store_at(ledger, issued_at), FINAL_2024).sections[0].rows


def _store_at(ledger: Ledger, position: int) -> Any:
    from projections.known_at import known_at_store

    return known_at_store(ledger, position)


def test_an_attestation_round_trips_and_a_one_fen_change_fails(closed_then_corrected: tuple[Ledger, int, dict[str, bytes]],
                                                               tmp_path: Path) -> None:
    ledger, issued_at, _ = closed_then_corrected
    public = generate_key(tmp_path / "audit.key")
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
    document = attest(ledger, "final-accounts", FINAL_2024, load_private_key(tmp_path / "audit.key"), issued_at)
    assert document["verify"]["passed"] and document["log_position"] == issued_at and len(document["chain_head"]) == 64
    assert check(ledger, document, load_public_key(public)) == ([], [])
    changed = {**document, "content": {**document["content"], "sections": {
        **document["content"]["sections"],
        "funds": [{**row, "closing_fen": row["closing_fen"] + 1} if index == 0 else row
                  for index, row in enumerate(document["content"]["sections"]["funds"])]}}}
    problems, _ = check(ledger, changed, load_public_key(public))
    assert any("signature does not match" in p for p in problems)
    assert any("no longer yields the attested report" in p for p in problems)


def test_an_attestation_fails_once_the_log_is_changed(postgres_env: dict[str, str], tmp_path: Path) -> None:
    ledger = Ledger(env=postgres_env)
    try:
        run_scenario(ledger)
        public = generate_key(tmp_path / "audit.key")
        document = attest(ledger, "balances", BALANCES, load_private_key(tmp_path / "audit.key"))
        with connect(postgres_env, "superuser") as connection:
            tamper.balanced_edit(connection, tamper.C1_POSITION)
        problems, _ = check(ledger, document, load_public_key(public))
    finally:
        ledger.close()
    assert any(f"chain at position {document['log_position']}" in p for p in problems)
    assert any("verify fails" in p for p in problems)
