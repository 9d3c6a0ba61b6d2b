"""A person's contribution for a period is recorded once (issue 10, error 3): a second line for
the same (person, period) is refused naming the first remittance, whoever sends it, and
contribution months count distinct periods; a payer other than the person's employer of record
is refused unless a change of employer was recorded.

Figures (shipped policy, tests/unit/test_use_cases.py): P1 born 1990-03-15, wage 800,000: the
payer owes 2% + 6% = 64,000 fen, the account gets 16,000 + 0.8% = 6,400 = 22,400. R1, a retiree
born 1950-06-01 (73): credited 4.8% of 58,333 (700,000 / 12 rounded) = 2,799.98 -> 2,800 fen,
from the pooled fund.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import Ledger
from ledger.commands import ChangeCategory, TransferOut
from ledger.errors import DuplicateContribution, PayerMismatch

from .builders import REGION, enrol, event_count, remittance


@pytest.fixture
def people(ledger: Ledger) -> Ledger:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    enrol(ledger, "R1", "retiree", birth_date=date(1950, 6, 1))
    return ledger


def balance(ledger: Ledger, person_id: str) -> int:
    return ledger.personal_account(REGION, person_id).balance_fen


def test_a_retiree_listed_by_two_remittances_for_one_month_is_credited_once(people: Ledger) -> None:
    people.post_remittance(remittance("R-E1-2024-03", {"P1": 800_000, "R1": None}, 64_000, period="2024-03"))
    assert balance(people, "R1") == 2_800
    pooled_before = people.pooled_fund(REGION).balance_fen
    recorded = event_count(people)
    with pytest.raises(DuplicateContribution) as error:
        people.post_remittance(remittance("R-E1b-2024-03", {"R1": None}, 0, period="2024-03"))
    assert (error.value.code, error.value.field) == ("duplicate_contribution", "lines[0].person_id")
    assert "R-E1-2024-03" in error.value.reason
    assert error.value.context["first_remittance_id"] == "R-E1-2024-03"
    assert balance(people, "R1") == 2_800  # not 5,600
    assert people.pooled_fund(REGION).balance_fen == pooled_before
    assert event_count(people) == recorded


def test_an_employee_remitted_twice_for_one_month_counts_one_contribution_month(people: Ledger) -> None:
    people.post_remittance(remittance("R-2024-03", {"P1": 800_000}, 64_000, period="2024-03"))
    assert people.personal_account(REGION, "P1").contribution_months == 1
    with pytest.raises(DuplicateContribution) as error:
        people.post_remittance(remittance("R-2024-03-again", {"P1": 800_000}, 64_000, period="2024-03"))
    assert error.value.context == {"region": REGION, "person_id": "P1", "period": "2024-03", "first_remittance_id": "R-2024-03"}
    account = people.personal_account(REGION, "P1")
    assert (account.contribution_months, account.balance_fen) == (1, 22_400)


def test_the_second_line_is_refused_when_both_remittances_are_in_one_batch(people: Ledger) -> None:
    with people.batch() as unit:
        people.post_remittance(remittance("R-A", {"P1": 800_000}, 64_000, period="2024-03"), unit)
        with pytest.raises(DuplicateContribution) as error:
            people.post_remittance(remittance("R-B", {"P1": 800_000}, 64_000, period="2024-03"), unit)
    assert error.value.context["first_remittance_id"] == "R-A"
    assert balance(people, "P1") == 22_400


def test_the_same_remittance_sent_again_is_still_a_duplicate_delivery_not_a_refusal(people: Ledger) -> None:
    command = remittance("R-2024-03", {"P1": 800_000}, 64_000, period="2024-03")
    people.post_remittance(command)
    assert people.post_remittance(command)["duplicate"] is True


def test_contribution_months_count_distinct_periods_and_travel_with_a_transfer(people: Ledger) -> None:
    for month in (1, 2, 3):
        people.post_remittance(remittance(f"R-2024-{month:02d}", {"P1": 800_000}, 64_000, period=f"2024-{month:02d}"))
    with pytest.raises(DuplicateContribution):
        people.post_remittance(remittance("R-2024-02-bis", {"P1": 800_000}, 64_000, period="2024-02"))
    assert people.personal_account(REGION, "P1").contribution_months == 3
    out = people.transfer_out(TransferOut(REGION, "T1", "P1", "210200", date(2024, 4, 20)))
    assert out["contribution_months"] == 3


# --------------------------------------------------------------------------- the employer of record


def test_a_payer_other_than_the_employer_of_record_is_refused(people: Ledger) -> None:
    recorded = event_count(people)
    with pytest.raises(PayerMismatch) as error:
        people.post_remittance(remittance("R-E2-2024-03", {"P1": 800_000}, 64_000, period="2024-03", payer_id="E2"))
    assert (error.value.code, error.value.field) == ("payer_mismatch", "lines[0].person_id")
    assert error.value.context["employer_of_record"] == "E1"
    assert "E1" in error.value.reason and "E2" in error.value.reason
    assert event_count(people) == recorded
    assert balance(people, "P1") == 0


def test_after_a_recorded_change_of_employer_each_employer_pays_its_own_months(people: Ledger) -> None:
    people.change_category(ChangeCategory(REGION, "P1", date(2024, 4, 1), "employee", "E2"))
    people.post_remittance(remittance("R-E2-2024-04", {"P1": 800_000}, 64_000, period="2024-04", payer_id="E2"))
    people.post_remittance(remittance("R-E1-2024-03", {"P1": 800_000}, 64_000, period="2024-03", payer_id="E1"))
    assert balance(people, "P1") == 2 * 22_400
    with pytest.raises(PayerMismatch) as error:
        people.post_remittance(remittance("R-E1-2024-05", {"P1": 800_000}, 64_000, period="2024-05", payer_id="E1"))
    assert error.value.context["employer_of_record"] == "E2"


def test_in_the_month_of_the_change_either_employer_may_pay_but_only_once(people: Ledger) -> None:
    people.change_category(ChangeCategory(REGION, "P1", date(2024, 6, 16), "employee", "E2"))
    people.post_remittance(remittance("R-E2-2024-06", {"P1": 800_000}, 64_000, period="2024-06", payer_id="E2"))
    with pytest.raises(DuplicateContribution) as error:
        people.post_remittance(remittance("R-E1-2024-06", {"P1": 800_000}, 64_000, period="2024-06", payer_id="E1"))
    assert error.value.context["first_remittance_id"] == "R-E2-2024-06"
    assert balance(people, "P1") == 22_400
