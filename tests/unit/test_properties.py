"""Properties over random sequences of use cases (hypothesis, kept small): money is conserved
(the trial balance is zero), personal accounts never go below zero, the ceiling holds, a
person's period is credited once, the pooled fund never goes below zero, and replaying the commands that were applied changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.application import Ledger
from ledger.commands import PayOutpatient, PostRemittance, SettleInpatient
from ledger.errors import LedgerError
from ledger.policy import load_policy_file
from ledger.rules import age_on, contribution_split, laid_off_wage_base_fen

from .builders import REGION, enrol, event_count, fiscal_subsidy, inpatient, outpatient, remittance

POLICY = load_policy_file().versions[0]
PEOPLE = {  # person id: (category, birth date)
    "E1": ("employee", date(1990, 3, 15)),
    "E2": ("employee", date(1979, 6, 1)),  # crosses 45 in June 2024
    "R1": ("retiree", date(1954, 8, 1)),  # crosses 70 in August 2024
    "L1": ("laid_off", date(1975, 5, 5)),
}
Command = PostRemittance | PayOutpatient | SettleInpatient
REFUSALS = {"declared_total_mismatch", "duplicate_contribution", "pooled_fund_shortfall"}


def payable_fen(person_id: str, wage_base_fen: int, period_start: date) -> int:
    """What the payer owes for one line, by the rules (the rules are tested by hand elsewhere)."""
    category, born = PEOPLE[person_id]
    base = laid_off_wage_base_fen(POLICY) if category == "laid_off" else wage_base_fen
    return contribution_split(POLICY, category, age_on(born, period_start), base).payable_fen


@dataclass(frozen=True)
class Remit:
    month: int
    wages: tuple[int, int]  # E1, E2
    declared_error_fen: int  # 0 most of the time; else the remittance is refused


@dataclass(frozen=True)
class Claim:
    person_id: str
    kind: str  # outpatient | pharmacy | inpatient
    amount_fen: int
    level: int
    excluded_percent: int
    month: int
    year: int


def to_command(index: int, step: Remit | Claim) -> Command:
    if isinstance(step, Remit):
        period = f"2024-{step.month:02d}"
        start = date(2024, step.month, 1)
        if index % 5 == 4:  # now and then, the re-employment centre's remittance
            total = payable_fen("L1", 0, start)
            return remittance(f"RC{index}", {"L1": None}, total + step.declared_error_fen, period=period,
                              payer_kind="reemployment_centre", payer_id="RC01")
        lines = {"E1": step.wages[0], "E2": step.wages[1], "R1": None}
        total = sum(payable_fen(person, wage or 0, start) for person, wage in lines.items())
        # A declared total that would be negative (all wages 0, error -1) is declared high instead:
        # a negative amount is refused as invalid input before any comparison.
        error_fen = abs(step.declared_error_fen) if total + step.declared_error_fen < 0 else step.declared_error_fen
        return remittance(f"R{index}", lines, total + error_fen, period=period)
    on = date(step.year, step.month, 1)
    if step.kind == "inpatient":
        return inpatient(f"H{index}", step.person_id, step.amount_fen, hospital_level=step.level,
                         admitted_on=on, excluded_fen=step.amount_fen * step.excluded_percent // 100)
    return outpatient(f"C{index}", step.person_id, step.amount_fen, kind=step.kind, on=on)


remits = st.builds(
    Remit,
    month=st.integers(1, 12),
    wages=st.tuples(st.integers(0, 3_000_000), st.integers(0, 3_000_000)),
    declared_error_fen=st.sampled_from([0, 0, 0, 0, 1, -1]),
)
claims = st.builds(
    Claim,
    person_id=st.sampled_from(sorted(PEOPLE)),
    kind=st.sampled_from(["outpatient", "pharmacy", "inpatient", "inpatient"]),
    amount_fen=st.integers(1, 4_000_000),
    level=st.sampled_from([1, 2, 3]),
    excluded_percent=st.sampled_from([0, 0, 10, 100]),
    month=st.integers(1, 12),
    year=st.sampled_from([2024, 2024, 2025]),
)
scenarios = st.lists(st.one_of(remits, claims), min_size=1, max_size=12).map(
    lambda steps: [to_command(index, step) for index, step in enumerate(steps)]
)


def new_ledger() -> Ledger:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ledger.open_region(load_policy_file())
    for person_id, (category, born) in PEOPLE.items():
        enrol(ledger, person_id, category, birth_date=born)
    fiscal_subsidy(ledger, 3_000_000)  # enough for some stays, not for all
    return ledger


def apply(ledger: Ledger, commands: list[Command]) -> list[Any]:
    """Each command's outcome, or the code of the error that refused it."""
    results: list[Any] = []
    for command in commands:
        try:
            if isinstance(command, PostRemittance):
                results.append(ledger.post_remittance(command))
            elif isinstance(command, PayOutpatient):
                results.append(ledger.pay_outpatient(command))
            else:
                results.append(ledger.settle_inpatient(command))
        except LedgerError as error:
            results.append(error.code)
    return results


def balances(ledger: Ledger) -> dict[str, int]:
    found = {person: ledger.personal_account(REGION, person).balance_fen for person in PEOPLE}
    found["pooled"] = ledger.pooled_fund(REGION).balance_fen
    return found


@settings(max_examples=40, deadline=None)
@given(commands=scenarios)
def test_random_sequences_conserve_money_and_keep_accounts_non_negative(commands: list[Command]) -> None:
    ledger = new_ledger()
    results = apply(ledger, commands)
    # Refusals the sequences provoke on purpose: a wrong declared total, the same month twice, a
    # pooled payment larger than the pooled fund holds.
    assert all(isinstance(r, dict) or r in REFUSALS for r in results), results
    trial = ledger.trial_balance()
    assert sum(trial.values()) == 0
    assert trial.get(acc.CLEARING_PERSONAL_ACCOUNTS, 0) == 0
    for person in PEOPLE:
        assert ledger.personal_account(REGION, person).balance_fen >= 0
        assert all(line["balance_fen"] >= 0 for line in ledger.statement(REGION, person))
    assert sum(ledger.personal_account(REGION, person).balance_fen for person in PEOPLE) == -trial.get(acc.FUND_PERSONAL, 0)
    pooled_paid: dict[tuple[str, int], int] = {}
    credited_periods: list[tuple[str, str]] = []
    pooled_fen = 0
    for _, event in ledger.stored_events():
        assert sum(posting["amount_fen"] for posting in getattr(event, "postings", ())) == 0
        pooled_fen += acc.fund_balance_fen(getattr(event, "postings", ()), acc.FUND_POOLED)
        assert pooled_fen >= 0, "the pooled fund never goes below zero"
        if isinstance(event, PersonalAccount.ContributionCredited):
            credited_periods.append((str(event.originator_id), event.period))
        if isinstance(event, PooledFund.InpatientBenefitPaid):
            key = (event.person_id, event.on.year)
            pooled_paid[key] = pooled_paid.get(key, 0) + event.pooled_fen
    assert all(paid_fen <= POLICY.annual_ceiling_fen for paid_fen in pooled_paid.values())
    assert len(credited_periods) == len(set(credited_periods))


@settings(max_examples=30, deadline=None)
@given(commands=scenarios)
def test_applying_the_same_commands_twice_is_the_same_as_once(commands: list[Command]) -> None:
    once = new_ledger()
    first_results = apply(once, commands)
    twice = new_ledger()
    apply(twice, commands)
    # A refused command sent again later may be refused for another reason, or accepted (the books
    # changed in between: that is what re-publishing a fixed dead letter relies on); replaying what
    # was applied must change nothing.
    applied = [(command, result) for command, result in zip(commands, first_results, strict=True) if isinstance(result, dict)]
    replayed = apply(twice, [command for command, _ in applied])
    assert balances(twice) == balances(once)
    assert event_count(twice) == event_count(once)
    assert twice.trial_balance() == once.trial_balance()
    for (_, first), again in zip(applied, replayed, strict=True):
        assert again["duplicate"] is True
        assert {k: v for k, v in again.items() if k != "duplicate"} == {k: v for k, v in first.items() if k != "duplicate"}
