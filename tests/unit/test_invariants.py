"""Invariants the ledger keeps whatever the caller does: a personal account never below zero,
the pooled fund and the personal accounts never posting to each other (不得互相挤占), the ceiling,
double entry on every event, the clearing account between the personal accounts and the
region's books (through which retiree credits pass) back to zero after every save, and
units of work that save all of a command or none of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund, check_ceiling
from ledger.application import Ledger
from ledger.commands import Enrol
from ledger.errors import (
    CeilingExceeded,
    DeclaredTotalMismatch,
    InsufficientBalance,
    InvalidInput,
    ScopeViolation,
    UnknownPerson,
)

from .builders import REGION, enrol, event_count, fiscal_subsidy, inpatient, outpatient, remittance

ON = date(2024, 3, 1)


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    """P1 (33) with 22,400 fen: 2% + 0.8% of 800,000; R1 (73) with 2,800: 4.8% of 58,333; a
    fiscal subsidy of 100,000 yuan lets the pooled fund pay up to the ceiling."""
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    enrol(ledger, "P2", birth_date=date(1979, 1, 1))
    enrol(ledger, "R1", "retiree", birth_date=date(1950, 6, 1))
    ledger.post_remittance(remittance("R-01", {"P1": 800_000, "R1": None}, 64_000))
    fiscal_subsidy(ledger, 10_000_000)
    return ledger


def account_payment(person_id: str, amount_fen: int) -> list[dict[str, Any]]:
    return acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.PAYABLE_HOSPITALS, amount_fen,
                                   debit_item=acc.EXPENDITURE_OUTPATIENT, debit_person_id=person_id))


def pay_directly(account: PersonalAccount, postings: list[dict[str, Any]]) -> None:
    account.record_money(PersonalAccount.ClaimPaid, postings, on=ON, origin="claim", claim_id="X1", kind="outpatient", account_fen=0)


# --------------------------------------------------------------------------- never below zero


def test_a_personal_account_can_never_be_forced_below_zero(funded: Ledger) -> None:
    account = funded.personal_account(REGION, "P1")
    with pytest.raises(InsufficientBalance) as error:
        pay_directly(account, account_payment("P1", 22_401))  # one fen more than the 22,400 it holds
    assert (error.value.code, error.value.field) == ("insufficient_balance", "amount_fen")
    assert error.value.context["balance_fen"] == 22_400
    assert error.value.context["change_fen"] == -22_401
    assert account.balance_fen == 22_400
    assert list(account.pending_events) == []


def test_a_personal_account_may_be_emptied_exactly(funded: Ledger) -> None:
    account = funded.personal_account(REGION, "P1")
    pay_directly(account, account_payment("P1", 22_400))
    funded.save(account)
    assert funded.personal_account(REGION, "P1").balance_fen == 0


def test_claims_larger_than_the_account_never_overdraw_it(funded: Ledger) -> None:
    funded.pay_outpatient(outpatient("C1", "P1", 1_000_000))
    funded.settle_inpatient(inpatient("H1", "P1", 1_000_000))
    funded.pay_outpatient(outpatient("C2", "P1", 1, kind="pharmacy"))
    assert funded.personal_account(REGION, "P1").balance_fen == 0
    assert all(line["balance_fen"] >= 0 for line in funded.statement(REGION, "P1"))


# --------------------------------------------------------------------------- separate scopes


def test_a_personal_account_event_may_not_post_to_the_pooled_fund(funded: Ledger) -> None:
    account = funded.personal_account(REGION, "P1")
    # the pooled fund paying a person's outpatient bill: refused on the personal account's side
    postings = acc.entry(*acc.transfer(acc.FUND_POOLED, acc.FUND_PERSONAL, 1_000, debit_item=acc.EXPENDITURE_OUTPATIENT,
                                       credit_person_id="P1"))
    with pytest.raises(ScopeViolation) as error:
        account.record_money(PersonalAccount.ContributionCredited, postings, on=ON, origin="contribution",
                             remittance_id="X", period="2024-03", employee_fen=0, employer_to_personal_fen=0, retiree_credit_fen=0)
    assert (error.value.code, error.value.field) == ("scope_violation", "postings")
    assert error.value.context["person_id"] == "P1"
    assert list(account.pending_events) == []


def test_the_pooled_fund_may_not_post_to_the_personal_accounts(funded: Ledger) -> None:
    fund = funded.pooled_fund(REGION)
    postings = account_payment("P1", 1_000)  # debit a person's account: not the pooled fund's to do
    with pytest.raises(ScopeViolation) as error:
        fund.record_money(PooledFund.InpatientBenefitPaid, postings, on=ON, claim_id="X", person_id="P1", pooled_fen=1_000)
    assert (error.value.code, error.value.field) == ("scope_violation", "postings")
    assert list(fund.pending_events) == []


def test_a_personal_account_may_not_post_to_another_persons_account(funded: Ledger) -> None:
    account = funded.personal_account(REGION, "P1")
    with pytest.raises(ScopeViolation) as error:
        pay_directly(account, account_payment("P2", 100))
    assert error.value.field == "postings"


def test_pooled_money_only_ever_moves_on_pooled_fund_events(funded: Ledger) -> None:
    funded.pay_outpatient(outpatient("C1", "P1", 5_000))
    funded.settle_inpatient(inpatient("H1", "P1", 570_000))
    for _, event in funded.stored_events():
        touched = {posting["account"] for posting in getattr(event, "postings", ())}
        if isinstance(event, PersonalAccount.MoneyEvent):
            assert acc.FUND_POOLED not in touched
        if isinstance(event, PooledFund.MoneyEvent):
            assert acc.FUND_PERSONAL not in touched


# --------------------------------------------------------------------------- the ceiling


def test_the_ceiling_check_refuses_one_fen_above_the_annual_ceiling(funded: Ledger) -> None:
    funded.settle_inpatient(inpatient("H1", "P2", 2_570_000))  # pooled 2,100,000 (see test_rules_inpatient)
    account = funded.personal_account(REGION, "P2")
    check_ceiling(account, 2024, 700_000, 2_800_000)  # 2,100,000 + 700,000 = the ceiling exactly: allowed
    with pytest.raises(CeilingExceeded) as error:
        check_ceiling(account, 2024, 700_001, 2_800_000)
    assert (error.value.code, error.value.field) == ("ceiling_exceeded", "pooled_fen")
    assert error.value.context["already_paid_fen"] == 2_100_000
    check_ceiling(account, 2025, 2_800_000, 2_800_000)  # another year starts from zero


def test_the_pooled_fund_never_pays_one_person_more_than_the_ceiling_in_a_year(funded: Ledger) -> None:
    for number in range(1, 5):
        funded.settle_inpatient(inpatient(f"H{number}", "P2", 1_500_000, admitted_on=date(2024, number, 2)))
    pooled_paid_fen = sum(event.pooled_fen for _, event in funded.stored_events() if isinstance(event, PooledFund.InpatientBenefitPaid))
    # 1st: 1,430,000 above the 70,000 deductible -> 800,000 + 85% of 430,000 = 1,165,500 pooled;
    # 2nd: 1,450,000 above 50,000 -> 800,000 + 85% of 450,000 = 1,182,500 (2,348,000 so far);
    # 3rd: only 452,000 left of the ceiling; 4th: nothing. In all: the ceiling, 2,800,000
    assert pooled_paid_fen == 2_800_000


# --------------------------------------------------------------------------- double entry


def test_an_unbalanced_journal_entry_is_a_programming_error() -> None:
    with pytest.raises(AssertionError, match="unbalanced"):
        acc.entry(acc.Posting(acc.BANK_INCOME, 100), acc.Posting(acc.FUND_POOLED, -99))


def test_a_posting_to_an_account_outside_the_chart_is_a_programming_error() -> None:
    with pytest.raises(AssertionError):
        acc.entry(acc.Posting("bank.petty_cash", 100), acc.Posting(acc.FUND_POOLED, -100))


def run_scenario(ledger: Ledger, check_after_each_save: Callable[[], None]) -> None:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    enrol(ledger, "R1", "retiree", birth_date=date(1950, 6, 1))
    enrol(ledger, "R2", "retiree", birth_date=date(1960, 1, 1))
    enrol(ledger, "L1", "laid_off", birth_date=date(1975, 5, 5))
    check_after_each_save()
    steps: list[Callable[[], object]] = [
        lambda: fiscal_subsidy(ledger, 10_000_000),
        lambda: ledger.post_remittance(remittance("R-01", {"P1": 800_000, "R1": None, "R2": 0}, 64_000)),
        lambda: ledger.post_remittance(remittance("RC-01", {"L1": None}, 2_800, payer_kind="reemployment_centre", payer_id="RC01")),
        lambda: ledger.pay_outpatient(outpatient("C1", "P1", 3_000)),
        lambda: ledger.pay_outpatient(outpatient("C2", "R1", 9_000, kind="pharmacy")),
        lambda: ledger.settle_inpatient(inpatient("H1", "R2", 2_000_000)),
        lambda: ledger.settle_inpatient(inpatient("H2", "L1", 50_000, hospital_level=1)),
    ]
    for step in steps:
        step()
        check_after_each_save()
    with ledger.batch() as unit:
        ledger.post_remittance(remittance("R-02", {"P1": 800_000, "R1": None}, 64_000, period="2024-02"), unit=unit)
        ledger.settle_inpatient(inpatient("H3", "P1", 3_000_000, admitted_on=date(2024, 2, 20)), unit=unit)
    check_after_each_save()


def test_every_stored_event_balances_and_the_trial_balance_is_zero(ledger: Ledger) -> None:
    run_scenario(ledger, lambda: None)
    events_with_postings = 0
    for _, event in ledger.stored_events():
        postings = getattr(event, "postings", None)
        if postings is not None:
            events_with_postings += 1
            assert sum(posting["amount_fen"] for posting in postings) == 0, event
            assert all(isinstance(posting["amount_fen"], int) for posting in postings)
    assert events_with_postings > 10
    trial = ledger.trial_balance()
    assert sum(trial.values()) == 0
    assert {"bank.income", "fund.pooled", "fund.personal", "payable.hospitals"} <= set(trial)


def test_the_personal_accounts_clearing_account_is_zero_after_every_save(ledger: Ledger) -> None:
    def clearing_is_zero() -> None:
        assert ledger.trial_balance().get(acc.CLEARING_PERSONAL_ACCOUNTS, 0) == 0

    run_scenario(ledger, clearing_is_zero)
    credited = [p for _, e in ledger.stored_events() for p in getattr(e, "postings", ()) if p["account"] == acc.CLEARING_PERSONAL_ACCOUNTS]
    assert credited, "contributions and retiree credits pass through the clearing account"


def test_the_funds_balances_agree_with_the_trial_balance(ledger: Ledger) -> None:
    run_scenario(ledger, lambda: None)
    trial = ledger.trial_balance()
    assert ledger.pooled_fund(REGION).balance_fen == -trial[acc.FUND_POOLED]
    accounts_fen = sum(ledger.personal_account(REGION, person).balance_fen for person in ("P1", "R1", "R2", "L1"))
    assert accounts_fen == -trial[acc.FUND_PERSONAL]


# --------------------------------------------------------------------------- units of work


def test_a_failing_command_in_a_batch_leaves_no_trace_while_the_others_are_saved(ledger: Ledger) -> None:
    with ledger.batch() as unit:
        ledger.enrol(Enrol(REGION, "P1", "employee", date(1990, 3, 15), "E1", date(2010, 1, 1)), unit=unit)
        ledger.post_remittance(remittance("R-01", {"P1": 800_000}, 64_000), unit=unit)  # sees P1 enrolled above
        with pytest.raises(UnknownPerson):
            ledger.post_remittance(remittance("R-BAD", {"P1": 100_000, "NOBODY": 100_000}, 16_000, period="2024-02"), unit=unit)
        with pytest.raises(DeclaredTotalMismatch):
            ledger.post_remittance(remittance("R-BAD2", {"P1": 100_000}, 1, period="2024-03"), unit=unit)
        ledger.pay_outpatient(outpatient("C1", "P1", 2_400), unit=unit)
    # 22,400 credited, 2,400 paid: nothing of the two refused remittances
    assert ledger.personal_account(REGION, "P1").balance_fen == 20_000
    assert [line["reference"] for line in ledger.statement(REGION, "P1")] == ["R-01", "C1"]
    # the refused ids were never recorded: they can be sent again, corrected
    ledger.post_remittance(remittance("R-BAD", {"P1": 100_000}, 8_000, period="2024-02"))  # 2% + 6% of 100,000
    assert sum(ledger.trial_balance().values()) == 0


def test_a_command_that_fails_after_changing_an_aggregate_is_rolled_back(funded: Ledger) -> None:
    events_before = event_count(funded)
    with funded.batch() as unit:
        funded.pay_outpatient(outpatient("C1", "P1", 400), unit=unit)
        with pytest.raises(InvalidInput), unit.command():
            account = unit.get(PersonalAccount.id_for(REGION, "P1"), PersonalAccount)
            pay_directly(account, account_payment("P1", 10_000))
            assert account.balance_fen == 12_000  # changed within the command...
            raise InvalidInput("amount_fen", "refused after the change")
        assert unit.get(PersonalAccount.id_for(REGION, "P1"), PersonalAccount).balance_fen == 22_000  # ...and restored
    assert funded.personal_account(REGION, "P1").balance_fen == 22_000  # 22,400 - 400
    assert event_count(funded) == events_before + 2  # the claim and its business record only


def test_an_aggregate_created_by_a_failed_command_is_not_saved(ledger: Ledger) -> None:
    with ledger.batch() as unit:
        with pytest.raises(InvalidInput), unit.command():
            # the use case's body, inside a command of our own (commands do not nest)
            ledger._enrol(unit, Enrol(REGION, "P9", "employee", date(1990, 1, 1), "E1", date(2010, 1, 1)))
            raise InvalidInput("person_id", "refused after creating the account")
        enrol(ledger, "P1")
    with pytest.raises(UnknownPerson):
        ledger.personal_account(REGION, "P9")
    assert ledger.personal_account(REGION, "P1").balance_fen == 0


def test_the_same_remittance_twice_in_one_batch_is_counted_once(ledger: Ledger) -> None:
    enrol(ledger, "P1", birth_date=date(1990, 3, 15))
    command = remittance("R-01", {"P1": 800_000}, 64_000)
    with ledger.batch() as unit:
        first = ledger.post_remittance(command, unit=unit)
        again = ledger.post_remittance(command, unit=unit)
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert ledger.personal_account(REGION, "P1").balance_fen == 22_400


def test_an_error_escaping_a_batch_saves_nothing_of_it(ledger: Ledger) -> None:
    events_before = event_count(ledger)
    with pytest.raises(UnknownPerson), ledger.batch() as unit:
        ledger.enrol(Enrol(REGION, "P1", "employee", date(1990, 3, 15), "E1", date(2010, 1, 1)), unit=unit)
        ledger.post_remittance(remittance("R-01", {"NOBODY": 800_000}, 64_000), unit=unit)
    assert event_count(ledger) == events_before
    with pytest.raises(UnknownPerson):
        ledger.personal_account(REGION, "P1")


def test_the_count_of_pending_events_follows_every_command_failed_ones_included(funded: Ledger) -> None:
    """What a consumer checks to split a large save (``MAX_EVENTS_PER_SAVE``): counted again only for
    what changed since the last count, it must equal every aggregate's pending events summed, after
    each command, a failed one (its changes undone), a new account and a failed new account."""
    def summed(unit: Any) -> int:
        return sum(len(aggregate.pending_events) for aggregate in unit.aggregates.values())

    with funded.batch() as unit:
        counts = [unit.pending_event_count]
        funded.pay_outpatient(outpatient("C1", "P1", 400), unit=unit)
        counts.append(unit.pending_event_count)
        with pytest.raises(InvalidInput), unit.command():
            account = unit.get(PersonalAccount.id_for(REGION, "P1"), PersonalAccount)
            pay_directly(account, account_payment("P1", 10_000))
            raise InvalidInput("amount_fen", "refused after the change")
        counts.append(unit.pending_event_count)
        with pytest.raises(InvalidInput), unit.command():
            funded._enrol(unit, Enrol(REGION, "P9", "employee", date(1990, 1, 1), "E1", date(2010, 1, 1)))
            assert unit.pending_event_count == summed(unit)  # counted mid-command too
            raise InvalidInput("person_id", "refused after creating the account")
        counts.append(unit.pending_event_count)
        enrol(funded, "P8")
        funded.post_remittance(remittance("R-02", {"P1": 800_000, "R1": None}, 64_000, period="2024-02"), unit=unit)
        counts.append(unit.pending_event_count)
        assert counts[-1] == summed(unit)
    assert counts == [0, 2, 2, 2, counts[-1]] and counts[-1] > 2
