"""The window of business dates and the plausibility limits (``ledger.bounds``), at their edges.

The shipped policy (liaoning_1999_example.toml): the region opened on 1999-04-01; a business
date may be at most 7 days after the message's ``occurred_at``, which may be at most 300 s ahead
of the ledger's clock; nobody enrolls older than 130; one outpatient bill is at most 5,000,000
fen, one admission 500,000,000 fen and 731 days, a wage base 10,000,000 fen a month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.commands import BudgetLine, CloseYear, CreditRetirees, Enrol, PostInterest, PostRemittance, RemittanceLine, SetBudget
from ledger.errors import DateOutOfWindow, ImplausibleAmount, InvalidInput
from ledger.unit_of_work import UnitOfWork
from tests.unit.builders import REGION, enrol, inpatient, outpatient, remittance

OCCURRED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def issued(ledger: Ledger, use_case: Any, command: Any, at: datetime = OCCURRED) -> Any:
    """Apply ``command`` as an order issued at ``at`` (as the consumer does with a message)."""
    unit = UnitOfWork(ledger)
    with unit.reported(at):
        outcome = use_case(command, unit=unit)
    unit.commit()
    return outcome


@pytest.fixture
def people(ledger: Ledger) -> Ledger:
    enrol(ledger, "P1")  # enrolled 2010-01-01, born 1990-03-15
    return ledger


def test_a_business_date_up_to_the_tolerance_after_occurred_at_is_accepted_and_a_day_more_refused(people: Ledger) -> None:
    issued(people, people.pay_outpatient, outpatient("C1", "P1", 100, on=date(2024, 5, 8)))  # 1 May + 7 days
    with pytest.raises(DateOutOfWindow) as error:
        issued(people, people.pay_outpatient, outpatient("C2", "P1", 100, on=date(2024, 5, 9)))
    assert (error.value.field, error.value.context["bound"]) == ("on", "date_rules.future_tolerance_days")
    assert "2024-05-09 is later than the message's occurred_at (2024-05-01) plus 7 days" in error.value.reason


def test_the_far_future_that_once_cost_a_year_of_interest_is_refused(people: Ledger) -> None:
    with pytest.raises(DateOutOfWindow):
        issued(people, people.pay_outpatient, outpatient("C9", "P1", 1, on=date(9999, 12, 31)))
    assert people.personal_account(REGION, "P1").movements == []  # nothing moved, nothing carried over


def test_an_order_issued_in_the_future_beyond_the_clock_skew_is_refused(people: Ledger) -> None:
    now = datetime.now(UTC)
    issued(people, people.pay_outpatient, outpatient("C1", "P1", 100, on=date(2024, 5, 1)), at=now + timedelta(seconds=290))
    with pytest.raises(DateOutOfWindow) as error:
        issued(people, people.pay_outpatient, outpatient("C2", "P1", 100, on=date(2024, 5, 1)), at=now + timedelta(seconds=400))
    assert (error.value.field, error.value.context["bound"]) == ("occurred_at", "date_rules.clock_skew_s")


def test_no_date_before_the_region_opened_nor_before_the_persons_enrolment_or_birth(people: Ledger) -> None:
    with pytest.raises(DateOutOfWindow) as before_opening:
        people.enrol(Enrol(REGION, "P2", "employee", date(1960, 1, 1), "E1", date(1999, 3, 31)))
    assert before_opening.value.context["bound"] == "region opening"
    people.enrol(Enrol(REGION, "P2", "employee", date(1960, 1, 1), "E1", date(1999, 4, 1)))  # the opening day itself
    people.enrol(Enrol(REGION, "P4", "employee", date(1980, 1, 1), "E1", date(2024, 2, 1)))
    with pytest.raises(DateOutOfWindow) as before_enrolment:
        people.pay_outpatient(outpatient("C1", "P4", 100, on=date(2024, 1, 31)))
    assert (before_enrolment.value.field, before_enrolment.value.context["bound"]) == ("on", "enrolment")
    people.pay_outpatient(outpatient("C2", "P4", 100, on=date(2024, 2, 1)))  # the enrolment day itself


def test_a_remittance_for_a_period_that_ends_before_the_enrolment_is_refused_naming_the_line(people: Ledger) -> None:
    enrol(people, "P3")
    with pytest.raises(DateOutOfWindow) as error:
        people.post_remittance(remittance("R1", {"P3": 500_000, "P1": 500_000}, 0, period="2009-12"))
    assert error.value.field == "lines[0].person_id"


def test_nobody_enrolls_older_than_the_age_bound(ledger: Ledger) -> None:
    ledger.enrol(Enrol(REGION, "OLD", "retiree", date(1894, 1, 1), "E1", date(2024, 1, 1)))  # 130 in 2024
    with pytest.raises(DateOutOfWindow) as error:
        ledger.enrol(Enrol(REGION, "OLDER", "retiree", date(1893, 12, 31), "E1", date(2024, 1, 1)))
    assert (error.value.field, error.value.context["bound"]) == ("birth_date", "date_rules.max_age_years")


def test_a_year_after_occurred_at_is_refused_but_a_budget_may_be_for_next_year(people: Ledger) -> None:
    with pytest.raises(DateOutOfWindow) as error:
        issued(people, people.post_interest, PostInterest(REGION, 2025))
    assert error.value.field == "year"
    lines = (BudgetLine("income.contribution", 1_000),)
    issued(people, people.set_budget, SetBudget(REGION, "B-2025", "pooled", 2025, "approved", lines, date(2024, 5, 1)))
    with pytest.raises(DateOutOfWindow):
        issued(people, people.set_budget, SetBudget(REGION, "B-2026", "pooled", 2026, "approved", lines, date(2024, 5, 1)))


def test_an_amount_at_its_limit_is_accepted_and_one_fen_more_refused_naming_the_bound(people: Ledger) -> None:
    people.pay_outpatient(outpatient("C1", "P1", 5_000_000))
    with pytest.raises(ImplausibleAmount) as error:
        people.pay_outpatient(outpatient("C2", "P1", 5_000_001))
    assert (error.value.field, error.value.context["bound"]) == ("amount_fen", "limits.max_outpatient_bill_fen")
    assert "above the policy's limits.max_outpatient_bill_fen of 5000000 fen" in error.value.reason
    with pytest.raises(ImplausibleAmount) as ten_billion_yuan:
        people.pay_outpatient(outpatient("C3", "P1", 10**12))
    assert ten_billion_yuan.value.context["amount_fen"] == 10**12


def test_wage_bases_inpatient_bills_and_stays_have_their_limits(people: Ledger) -> None:
    with pytest.raises(ImplausibleAmount) as wage:
        people.post_remittance(remittance("R1", {"P1": 10_000_001}, 0))
    assert wage.value.field == "lines[0].wage_base_fen"
    with pytest.raises(ImplausibleAmount) as bill:
        people.settle_inpatient(inpatient("H1", "P1", 500_000_001))
    assert bill.value.context["bound"] == "limits.max_inpatient_bill_fen"
    long_stay = inpatient("H2", "P1", 100_000)
    with pytest.raises(ImplausibleAmount) as stay:
        people.settle_inpatient(type(long_stay)(**{**long_stay.__dict__, "discharged_on": long_stay.admitted_on + timedelta(days=732)}))
    assert stay.value.context["bound"] == "limits.max_inpatient_stay_days"


def test_an_impossible_amount_is_invalid_not_implausible(people: Ledger) -> None:
    """Above the ledger's absolute maximum (10^13 fen) is no amount at all: the command's own check
    refuses it, as it does a fraction or a negative."""
    with pytest.raises(InvalidInput):
        people.post_remittance(remittance("R1", {"P1": 10**13 + 1}, 0))


@pytest.mark.parametrize("order", [
    lambda app: app.pay_outpatient(outpatient("C9", "P1", 100, on=date(9999, 12, 31))),
    lambda app: app.credit_retirees(CreditRetirees(REGION, "9999-12", date(9999, 12, 31))),
    lambda app: app.post_interest(PostInterest(REGION, 9999)),
    lambda app: app.post_interest(PostInterest(REGION, 0)),
], ids=["a claim in 9999", "a retiree run in 9999", "interest for 9999", "interest for year 0"])
def test_a_date_or_year_outside_the_ledgers_calendar_is_refused_naming_the_field_even_given_directly(people: Ledger, order: Any) -> None:
    # Given directly (no issue instant), these once reached date arithmetic and failed with a
    # ValueError (year 10000 is out of range), the interest run after saving its progress records.
    recorded = sum(1 for _ in people.stored_events())
    with pytest.raises(DateOutOfWindow) as error:
        order(people)
    assert error.value.field in {"on", "year"}
    assert "outside the ledger's calendar (1900-2999)" in error.value.reason
    assert sum(1 for _ in people.stored_events()) == recorded


@pytest.mark.parametrize("period", ["9999-12", "0000-01"])
def test_a_period_outside_the_ledgers_calendar_is_refused_naming_the_period(people: Ledger, period: str) -> None:
    command = PostRemittance(REGION, "R-far", "employer", "E1", period, date(2024, 5, 1), 80_000, (RemittanceLine("P1", 1_000_000),))
    with pytest.raises(InvalidInput) as error:
        issued(people, people.post_remittance, command)
    assert error.value.field == "period"
    assert "outside the ledger's calendar" in error.value.reason


def test_a_year_is_closed_and_its_interest_posted_only_once_it_is_over(people: Ledger) -> None:
    # A year's close typed as 2025 for 2024 early in January 2025 was accepted, and every 2025
    # message was refused as period_closed after it, with no way back.
    january = datetime(2025, 1, 4, 9, 0, tzinfo=UTC)
    with pytest.raises(DateOutOfWindow) as close:
        issued(people, people.close_year, CloseYear(REGION, 2025), at=january)
    assert (close.value.field, close.value.context["earliest"]) == ("year", date(2026, 1, 1))
    with pytest.raises(DateOutOfWindow) as interest:
        issued(people, people.post_interest, PostInterest(REGION, 2025), at=january)
    assert (interest.value.field, interest.value.context["earliest"]) == ("year", date(2025, 12, 31))
    assert people.close_year(CloseYear(REGION, 2024))["year"] == 2024  # given directly: judged by the clock
    with pytest.raises(DateOutOfWindow):
        people.close_year(CloseYear(REGION, datetime.now(UTC).year))
