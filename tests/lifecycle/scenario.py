"""Builders and readers for the lifecycle tests. They only state commands and read what the
ledger recorded; every expected figure is computed by hand in the test that uses it.

The one person of most tests is an employee born 1995-03-15 (under 35 throughout 2024-2025)
on a wage base of 1,000,000 fen a month. By the example policy (Liao 1999 §II(2)-(3), bands of
Beijing 2001) one month's remittance is:

    employee 2 %  of 1,000,000 = 20,000 fen -> personal account
    employer 6 %  of 1,000,000 = 60,000 fen, of which 0.8 % = 8,000 -> personal account (under 35)
                                              and 52,000 -> pooled fund
    total 80,000 fen; the personal account receives 28,000 fen.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import Enrol, MoveBetweenBankAccounts, PostRemittance, RemittanceLine

SHENYANG = "210100"
DALIAN = "210200"
RATES_FROM = date(2024, 1, 1)
BIRTH = date(1995, 3, 15)
WAGE_FEN = 1_000_000
REMITTANCE_FEN = 80_000
TO_ACCOUNT_FEN = 28_000
TO_POOLED_FEN = 52_000


def enrol(ledger: Ledger, person_id: str, region: str = SHENYANG, on: date = date(2024, 1, 1)) -> None:
    ledger.enrol(Enrol(region, person_id, "employee", BIRTH, "E1", on))


def remittance(remittance_id: str, person_id: str, received_on: date, region: str = SHENYANG,
               period: str | None = None) -> PostRemittance:
    """One month's contribution for one person, received on ``received_on`` (period: its month)."""
    period = period or f"{received_on.year}-{received_on.month:02d}"
    return PostRemittance(region, remittance_id, "employer", "E1", period, received_on, REMITTANCE_FEN,
                          (RemittanceLine(person_id, WAGE_FEN),))


def remit(ledger: Ledger, remittance_id: str, person_id: str, received_on: date, region: str = SHENYANG) -> dict[str, Any]:
    return ledger.post_remittance(remittance(remittance_id, person_id, received_on, region))


def fund_expenditure_account(ledger: Ledger, amount_fen: int, on: date, region: str = SHENYANG, tag: str = "") -> None:
    """Income account -> fiscal special account -> expenditure account (two lines)."""
    ledger.move_money(MoveBetweenBankAccounts(region, f"to-fiscal{tag}", "income_to_fiscal_special", amount_fen, on))
    ledger.move_money(MoveBetweenBankAccounts(region, f"to-expenditure{tag}", "fiscal_special_to_expenditure", amount_fen, on))


def events(ledger: Ledger) -> list[Any]:
    return [event for _, event in ledger.stored_events()]


def event_count(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.stored_events())


def events_of(ledger: Ledger, kind: type) -> list[Any]:
    return [event for event in events(ledger) if isinstance(event, kind)]


def postings(ledger: Ledger, region: str | None = None, through: date | None = None) -> list[dict[str, Any]]:
    """Every posting recorded, optionally of one region's events dated up to ``through``."""
    found = []
    for event in events(ledger):
        if not hasattr(event, "postings"):
            continue
        if region is not None and event.region != region:
            continue
        if through is not None and event.on > through:
            continue
        found.extend(getattr(event, "postings", ()))
    return found


def balances(ledger: Ledger, region: str, through: date | None = None) -> dict[str, int]:
    """Trial balance of one region (debit +), without the accounts that sum to zero."""
    return {name: total for name, total in acc.trial_balance(postings(ledger, region, through)).items() if total}

