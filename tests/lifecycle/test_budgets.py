"""Budgets (预算, DOMAIN "Fund management"; Liao 1999 §II(5)2): drafted per fund, year and item,
approved once, adjusted through the same path; an adjustment replaces the items it names."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import BudgetLine, CloseYear, SetBudget
from ledger.errors import InvalidInput
from ledger.records import Budget

from .scenario import SHENYANG, event_count

APPROVED = SetBudget(SHENYANG, "B-2024", "pooled", 2024, "approved",
                     (BudgetLine(acc.INCOME_CONTRIBUTION, 5_000_000), BudgetLine(acc.EXPENDITURE_INPATIENT, 3_000_000)),
                     date(2024, 1, 5))
ADJUSTED = SetBudget(SHENYANG, "B-2024-adj1", "pooled", 2024, "adjusted",
                     (BudgetLine(acc.EXPENDITURE_INPATIENT, 3_500_000),), date(2024, 7, 1))


def budget_lines(ledger: Ledger) -> dict[str, int]:
    budget: Budget = ledger.repository.get(Budget.id_for(SHENYANG, "pooled", 2024))
    return budget.lines_fen


def test_an_approved_budget_then_an_adjustment_replaces_only_the_items_it_names(ledger: Ledger) -> None:
    approved = ledger.set_budget(APPROVED)
    assert approved["lines"] == {acc.INCOME_CONTRIBUTION: 5_000_000, acc.EXPENDITURE_INPATIENT: 3_000_000}
    adjusted = ledger.set_budget(ADJUSTED)
    assert adjusted["lines"] == {acc.INCOME_CONTRIBUTION: 5_000_000, acc.EXPENDITURE_INPATIENT: 3_500_000}
    assert budget_lines(ledger) == adjusted["lines"]


def test_a_budget_cannot_be_adjusted_before_it_is_approved(ledger: Ledger) -> None:
    recorded = event_count(ledger)
    with pytest.raises(InvalidInput) as error:
        ledger.set_budget(ADJUSTED)
    assert error.value.field == "kind"
    assert "not been approved" in error.value.reason
    assert event_count(ledger) == recorded


def test_a_budget_cannot_be_approved_twice(ledger: Ledger) -> None:
    ledger.set_budget(APPROVED)
    with pytest.raises(InvalidInput) as error:
        ledger.set_budget(SetBudget(SHENYANG, "B-2024-again", "pooled", 2024, "approved",
                                    (BudgetLine(acc.INCOME_CONTRIBUTION, 1),), date(2024, 2, 1)))
    assert error.value.field == "kind"
    assert budget_lines(ledger)[acc.INCOME_CONTRIBUTION] == 5_000_000


def test_an_unknown_budget_item_is_refused_naming_its_line(ledger: Ledger) -> None:
    lines = (BudgetLine(acc.INCOME_CONTRIBUTION, 1), BudgetLine("expenditure.office_party", 2))
    with pytest.raises(InvalidInput) as error:
        ledger.set_budget(SetBudget(SHENYANG, "B-x", "pooled", 2024, "approved", lines, date(2024, 1, 5)))
    assert error.value.field == "lines[1].item"


def test_a_closed_years_budget_cannot_be_set(ledger: Ledger) -> None:
    ledger.close_year(CloseYear(SHENYANG, 2024))
    with pytest.raises(InvalidInput) as error:
        ledger.set_budget(APPROVED)
    assert error.value.field == "year"


def test_events_recorded_when_the_smaller_aggregates_lived_in_ledger_aggregates_still_resolve() -> None:
    from eventsourcing.utils import resolve_topic

    from ledger import records

    assert resolve_topic("ledger.aggregates:Budget.BudgetSet") is records.Budget.BudgetSet
    assert resolve_topic("ledger.aggregates:MemoFund.IncomeRecorded") is records.MemoFund.IncomeRecorded
    assert resolve_topic("ledger.aggregates:InterestRateBook") is records.InterestRateBook


def test_an_item_budgeted_twice_in_one_order_is_refused_naming_the_second_line(ledger: Ledger) -> None:
    # Accepted, the last line won silently: an approved 1,000,000 fen read as 2 fen.
    lines = (BudgetLine(acc.INCOME_CONTRIBUTION, 1_000_000), BudgetLine(acc.INCOME_CONTRIBUTION, 2))
    recorded = event_count(ledger)
    with pytest.raises(InvalidInput) as error:
        ledger.set_budget(SetBudget(SHENYANG, "B-2024", "pooled", 2024, "approved", lines, date(2024, 1, 5)))
    assert error.value.field == "lines[1].item"
    assert "budgeted twice (lines[0] and this one)" in error.value.reason
    assert event_count(ledger) == recorded
