"""Small builders for the use-case tests: commands with sensible defaults, so each test
states only what it is about. Expected amounts are never computed here."""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger.application import Ledger
from ledger.commands import Enrol, PayOutpatient, PostRemittance, RecordIncome, RemittanceLine, SettleInpatient

REGION = "210100"
JANUARY = "2024-01"


def enrol(ledger: Ledger, person_id: str, category: str = "employee", birth_date: date = date(1990, 3, 15),
          employer_id: str = "E1", pension_fen: int = 0) -> dict[str, Any]:
    if category == "laid_off":
        employer_id = "RC01"
    return ledger.enrol(Enrol(REGION, person_id, category, birth_date, employer_id, date(2010, 1, 1), pension_fen))


def remittance(remittance_id: str, lines: dict[str, int | None], declared_total_fen: int, period: str = "2024-01",
               payer_kind: str = "employer", payer_id: str = "E1") -> PostRemittance:
    return PostRemittance(
        region=REGION, remittance_id=remittance_id, payer_kind=payer_kind, payer_id=payer_id, period=period,
        received_on=_mid_month(period),
        declared_total_fen=declared_total_fen,
        lines=tuple(RemittanceLine(person_id, wage) for person_id, wage in lines.items()),
    )


def _mid_month(period: str) -> date:
    """The 15th of the period's month; a fixed date when the period is malformed on purpose."""
    try:
        return date(int(period[:4]), int(period[5:7]), 15)
    except ValueError:
        return date(2024, 1, 15)


def outpatient(claim_id: str, person_id: str, amount_fen: int, kind: str = "outpatient", on: date = date(2024, 2, 1)) -> PayOutpatient:
    return PayOutpatient(REGION, claim_id, person_id, kind, on, amount_fen)


def inpatient(claim_id: str, person_id: str, total_cost_fen: int, hospital_level: Any = 3,
              admitted_on: date = date(2024, 2, 1), excluded_fen: int = 0) -> SettleInpatient:
    return SettleInpatient(REGION, claim_id, person_id, hospital_level, admitted_on,
                           date(admitted_on.year, admitted_on.month, min(admitted_on.day + 5, 28)), total_cost_fen, excluded_fen)


def fiscal_subsidy(ledger: Ledger, amount_fen: int, income_id: str = "FISCAL-1", on: date = date(2024, 1, 10)) -> dict[str, Any]:
    """A fiscal subsidy to the pooled fund, so that it can pay the stays a test settles (it never
    goes below zero)."""
    return ledger.record_income(RecordIncome(REGION, income_id, "pooled", "fiscal_subsidy", amount_fen, on))


def event_count(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.stored_events())
