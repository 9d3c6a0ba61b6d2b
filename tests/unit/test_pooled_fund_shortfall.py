"""The pooled fund never goes below zero (Liao 1999 §II(4): the pooled fund and the personal
accounts may not overdraw each other, 不得互相挤占): a pooled payment it cannot cover is refused
with the shortfall named, unless the region's policy lets the deficit be booked against a
receivable from the fiscal budget (应收财政补贴), kept apart until a fiscal subsidy clears it
(issue 10, error 4).

Figures (shipped policy): P1 (born 1990-03-15) remitted on 800,000: the account 22,400, the pooled
fund 41,600. A 570,000 stay at a level-3 hospital, 1st admission: deductible 70,000, 20% of
500,000 = 100,000 co-pay, pooled 400,000; the pooled fund is short by 400,000 - 41,600 = 358,400.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import RecordIncome
from ledger.errors import PooledFundShortfall
from ledger.policy import PolicyFile, load_policy_file

from .builders import REGION, enrol, event_count, inpatient, remittance


def with_policy(**changes: object) -> Ledger:
    shipped = load_policy_file()
    app = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.open_region(PolicyFile(opened_on=load_policy_file().opened_on, region=REGION, region_name="test", versions=[shipped.versions[0].model_copy(update=changes)]))
    enrol(app, "P1", birth_date=date(1990, 3, 15))
    enrol(app, "R2", "retiree", birth_date=date(1960, 1, 1))
    app.post_remittance(remittance("R-2024-01", {"P1": 800_000}, 64_000))
    return app


def fund(ledger: Ledger) -> int:
    return ledger.pooled_fund(REGION).balance_fen


def test_a_stay_the_pooled_fund_cannot_cover_is_refused_naming_the_shortfall() -> None:
    ledger = with_policy()
    recorded = event_count(ledger)
    with pytest.raises(PooledFundShortfall) as error:
        ledger.settle_inpatient(inpatient("H1", "P1", 570_000))
    assert (error.value.code, error.value.field) == ("pooled_fund_shortfall", "pooled_fen")
    assert (error.value.context["shortfall_fen"], error.value.context["balance_fen"], error.value.context["payment_fen"]) == (
        358_400, 41_600, 400_000)
    assert "358400 fen" in error.value.reason
    assert event_count(ledger) == recorded
    assert (fund(ledger), ledger.personal_account(REGION, "P1").balance_fen) == (41_600, 22_400)


def test_a_retirees_credit_the_pooled_fund_cannot_cover_is_refused() -> None:
    # R2 (64): 4.3% of 58,333 = 2,508.32 -> 2,508, from a pooled fund that holds 41,600 after one
    # remittance: covered. A region whose fund is empty: short by 2,508.
    ledger = with_policy()
    ledger.post_remittance(remittance("R-R2-01", {"R2": None}, 0))
    assert fund(ledger) == 41_600 - 2_508
    empty = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    empty.open_region(load_policy_file())
    enrol(empty, "R2", "retiree", birth_date=date(1960, 1, 1))
    with pytest.raises(PooledFundShortfall) as error:
        empty.post_remittance(remittance("R-R2-01", {"R2": None}, 0))
    assert error.value.context["shortfall_fen"] == 2_508
    assert empty.personal_account(REGION, "R2").balance_fen == 0


def test_where_the_policy_allows_it_the_deficit_is_a_receivable_from_the_fiscal_budget() -> None:
    ledger = with_policy(pooled_deficit="fiscal_receivable")
    outcome = ledger.settle_inpatient(inpatient("H1", "P1", 570_000))
    assert (outcome["pooled_fen"], outcome["fiscal_receivable_fen"]) == (400_000, 358_400)
    # Right after the stay: the pooled fund holds 41,600 + 358,400 - 400,000 = 0, the receivable 358,400.
    assert fund(ledger) == 0
    books = ledger.trial_balance()
    assert books[acc.RECEIVABLE_FISCAL_BUDGET] == 358_400
    assert books[acc.PAYABLE_HOSPITALS] == -(400_000 + 22_400)
    assert sum(books.values()) == 0


def test_a_fiscal_subsidy_clears_the_receivable_first_and_the_rest_is_income() -> None:
    ledger = with_policy(pooled_deficit="fiscal_receivable")
    ledger.settle_inpatient(inpatient("H1", "P1", 570_000))
    outcome = ledger.record_income(RecordIncome(REGION, "FISCAL-1", "pooled", "fiscal_subsidy", 500_000, date(2024, 3, 1)))
    # 500,000 received: 358,400 clears the receivable, 141,600 is fiscal subsidy income of the fund.
    assert (outcome["receivable_cleared_fen"], outcome["amount_fen"]) == (358_400, 500_000)
    assert fund(ledger) == 141_600
    books = ledger.trial_balance()
    assert books.get(acc.RECEIVABLE_FISCAL_BUDGET, 0) == 0
    assert books[acc.BANK_INCOME] == 64_000 + 500_000
    pooled = {(item, side): amount for (account, item, side), amount in acc.income_and_expenditure(
        p for _, e in ledger.stored_events() for p in getattr(e, "postings", ())).items() if account == acc.FUND_POOLED}
    assert pooled == {(acc.INCOME_CONTRIBUTION, "in"): 41_600, (acc.INCOME_FISCAL_SUBSIDY_RECEIVABLE, "in"): 358_400,
                      (acc.INCOME_FISCAL_SUBSIDY, "in"): 141_600, (acc.EXPENDITURE_INPATIENT, "out"): 400_000}


def test_discretionary_expenditure_is_never_paid_on_a_deficit() -> None:
    from ledger.commands import RecordExpenditure

    ledger = with_policy(pooled_deficit="fiscal_receivable")
    with pytest.raises(PooledFundShortfall) as error:
        ledger.record_expenditure(RecordExpenditure(REGION, "X1", "pooled", "remittance_to_upper_level", 50_000, date(2024, 2, 1)))
    assert error.value.context["shortfall_fen"] == 50_000 - 41_600
