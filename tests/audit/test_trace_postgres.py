"""``trace`` on the real PostgreSQL, over the example messages (``examples/messages.jsonl``)
applied through the consumers' handlers, as the application role.

Hand-computed with the shipped policy (employee 2%; employer share to accounts 0.8% under 35,
2% from 45; laid-off base 60% of 7,000 yuan / 12 = 35,000 fen):
  January's personal-account contribution income (line 2024-01, fund personal,
  income.contribution) = P001 (33) 500,000 x 2.8% = 14,000 + P002 (53) 800,000 x 4% = 32,000
  (both in tax-0005, offset 5) + P004 (48, laid off) 35,000 x 4% = 1,400 (tax-0006, offset 6)
  = 47,400 fen.
  P001's account at the end of February: 14,000 (January) + 14,000 (February, tax-0007)
  - 12,000 (outpatient OP-1, his-0009) = 16,000 fen.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from consumers.ingest import ingest_file
from consumers.runtime import open_ledger
from ledger.application import Ledger
from ledger.policy import DEFAULT_POLICY_FILE
from projections.projector import Projector
from projections.reports import Filters, run_report
from projections.store import open_store
from projections.trace import personal_balance, report_line, trace, trace_message
from tests.conftest import REPO

pytestmark = pytest.mark.postgres

EXAMPLES = REPO / "examples" / "messages.jsonl"


@pytest.fixture
def ingested(postgres_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    for name, value in postgres_env.items():
        monkeypatch.setenv(name, value)
    ledger = open_ledger([DEFAULT_POLICY_FILE])
    try:
        ingest_file(ledger, EXAMPLES, dead_letter_file=tmp_path / "dead.jsonl")
        yield ledger
    finally:
        ledger.close()


def test_trace_finds_the_messages_behind_a_line_of_the_income_report(ingested: Ledger) -> None:
    store = open_store(ingested)
    try:
        Projector(ingested, store).catch_up()
        rows = run_report("income", store, Filters(region="210100")).sections[0].rows
    finally:
        store.close()
    row = next(r for r in rows if (r["period"], r["fund"], r["item"]) == ("2024-01", "personal", "income.contribution"))
    assert row["amount_fen"] == 47_400
    found = trace(ingested, report_line("210100", "personal", "income.contribution", "2024-01"))
    assert found.credit_fen == row["amount_fen"] and found.debit_fen == row["reversed_fen"] == 0
    assert sorted(e.amount_fen for e in found.events) == [-32_000, -14_000, -1_400]
    sources = {(e.message["message_id"], e.message["producer"], e.message["topic"], e.message["partition"], e.message["offset"])
               for e in found.events if e.message is not None}
    assert sources == {("tax-0005", "tax", "file:messages.jsonl", 0, 5), ("tax-0006", "tax", "file:messages.jsonl", 0, 6)}
    assert {e.policy_version for e in found.events} == {"2024-01"}


def test_trace_of_a_balance_on_a_date_and_of_a_message_to_its_events(ingested: Ledger) -> None:
    balance = trace(ingested, personal_balance("210100", "P001", date(2024, 2, 29)))
    assert -balance.net_fen == 16_000
    assert [e.message["message_id"] for e in balance.events if e.message] == ["tax-0005", "tax-0007", "his-0009"]
    caused = trace_message(ingested, "his-0009")
    assert [(e.event_type, e.reference, e.amount_fen) for e in caused.events if e.event_type.startswith("PersonalAccount")] == [
        ("PersonalAccount.ClaimPaid", "OP-1", 0)]  # the account's debit and the payable's credit: 12,000 - 12,000
    assert {e.originator_version for e in caused.events} and all(e.message and e.message["offset"] == 9 for e in caused.events)
