"""A small hand-checkable scenario through the real use cases, for the projection tests.

Policy: ``ledger/policies/liaoning_1999_example.toml`` (employee 2%, employer 6%, of which to the
personal account 0.8% of the wage under 35 and 2% from 45; level-3 deductible 700 yuan, then the
patient pays 20% of the first band).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger.application import Ledger
from ledger.commands import Enrol, PayOutpatient, PostRemittance, RemittanceLine, SettleInpatient
from ledger.policy import load_policy_file

REGION = "210100"
OTHER_REGION = "210200"
A, B = "A1", "B1"  # A born 1990 (under 35), B born 1970 (45 and over)
WAGE_A_FEN, WAGE_B_FEN = 500_000, 300_000


def open_regions(ledger: Ledger) -> None:
    policy_file = load_policy_file()
    ledger.open_region(policy_file)
    ledger.open_region(policy_file.model_copy(update={"region": OTHER_REGION, "region_name": "Other"}))


def enrol_both(ledger: Ledger) -> None:
    ledger.enrol(Enrol(REGION, A, "employee", date(1990, 3, 15), "E1", date(2023, 12, 1)))
    ledger.enrol(Enrol(REGION, B, "employee", date(1970, 6, 1), "E1", date(2023, 12, 1)))


def remit(ledger: Ledger, period: str, lines: dict[str, int], total_fen: int) -> dict[str, Any]:
    year, month = int(period[:4]), int(period[5:])
    return ledger.post_remittance(PostRemittance(
        REGION, f"E1-{period}", "employer", "E1", period, date(year, month, 15), total_fen,
        tuple(RemittanceLine(person, wage) for person, wage in lines.items())))


def outpatient(ledger: Ledger, claim_id: str, person: str, on: date, amount_fen: int) -> dict[str, Any]:
    return ledger.pay_outpatient(PayOutpatient(REGION, claim_id, person, "outpatient", on, amount_fen))


def inpatient(ledger: Ledger, claim_id: str, person: str, admitted: date, cost_fen: int) -> dict[str, Any]:
    return ledger.settle_inpatient(SettleInpatient(REGION, claim_id, person, 3, admitted, date(admitted.year, admitted.month, admitted.day + 4), cost_fen))
