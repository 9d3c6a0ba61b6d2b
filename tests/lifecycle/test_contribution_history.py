"""Contribution history: contribution years accumulate across regions (Social Insurance Law art.
32, seed 000). An enrolment can carry the months contributed elsewhere, documented; a transfer
carries the months to the new region; contribution months are distinct periods paid plus the
months brought.

P1 is enrolled in Shenyang with 150 months contributed elsewhere (transfer certificate
"JJJ-2023-88"), then remitted for 2024-01 and 2024-02: 150 + 2 = 152 months (12 years 8 months).
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import Enrol, PostRemittance, RemittanceLine, TransferIn, TransferOut
from ledger.errors import DuplicateBusinessId, DuplicateContribution, InvalidInput

from .scenario import BIRTH, DALIAN, SHENYANG, enrol, fund_expenditure_account, remit


def arrive(ledger: Ledger, months: int = 150, reference: str = "JJJ-2023-88") -> None:
    ledger.enrol(Enrol(SHENYANG, "P1", "employee", BIRTH, "E1", date(2024, 1, 1), 0, months, reference))


def test_months_contributed_elsewhere_count_with_the_months_paid_here(ledger: Ledger) -> None:
    arrive(ledger)
    assert ledger.personal_account(SHENYANG, "P1").contribution_months == 150
    remit(ledger, "R-2024-01", "P1", date(2024, 1, 15))
    remit(ledger, "R-2024-02", "P1", date(2024, 2, 15))
    assert ledger.personal_account(SHENYANG, "P1").contribution_months == 152


def test_the_months_travel_with_a_transfer(ledger: Ledger) -> None:
    arrive(ledger)
    remit(ledger, "R-2024-01", "P1", date(2024, 1, 15))
    remit(ledger, "R-2024-02", "P1", date(2024, 2, 15))
    out = ledger.transfer_out(TransferOut(SHENYANG, "T-1", "P1", DALIAN, date(2024, 3, 1)))
    assert out["contribution_months"] == 152
    assert ledger.personal_account(SHENYANG, "P1").contribution_months == 0  # gone with the person
    fund_expenditure_account(ledger, out["amount_fen"], date(2024, 3, 2))
    landed = ledger.transfer_in(TransferIn(DALIAN, "T-1", "P1", SHENYANG, date(2024, 3, 5), out["amount_fen"], 152, employer_id="E1"))
    assert landed["contribution_months_total"] == 152


def test_months_without_the_document_that_records_them_are_refused(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput) as error:
        arrive(ledger, 150, "")
    assert error.value.field == "contribution_history_reference"
    for months in (-1, 1201):
        with pytest.raises(InvalidInput) as error:
            arrive(ledger, months)
        assert error.value.field == "contribution_months_elsewhere"


def test_enrolling_again_with_other_months_is_refused(ledger: Ledger) -> None:
    arrive(ledger)
    assert ledger.enrol(Enrol(SHENYANG, "P1", "employee", BIRTH, "E1", date(2024, 1, 1), 0, 150, "JJJ-2023-88"))["created"] is False
    with pytest.raises(DuplicateBusinessId):
        arrive(ledger, 151)


def test_a_line_too_small_to_reach_the_account_still_pays_its_month_once(bare_ledger: Ledger) -> None:
    # A wage base of 9 fen: employee 2% = 0.18 -> 0, employer 6% = 0.54 -> 1 fen, all of it to
    # the pooled fund. The month was not marked paid: not counted, and paid again by another remittance.
    enrol(bare_ledger, "P1")
    tiny = PostRemittance(SHENYANG, "R-A", "employer", "E1", "2024-03", date(2024, 3, 20), 1, (RemittanceLine("P1", 9),))
    assert bare_ledger.post_remittance(tiny)["total_fen"] == 1
    assert bare_ledger.personal_account(SHENYANG, "P1").contribution_months == 1
    again = PostRemittance(SHENYANG, "R-B", "employer", "E1", "2024-03", date(2024, 3, 21), 80_000, (RemittanceLine("P1", 1_000_000),))
    with pytest.raises(DuplicateContribution) as error:
        bare_ledger.post_remittance(again)
    assert error.value.context["first_remittance_id"] == "R-A"
