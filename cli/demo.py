"""``fund-ledger demo``: two regions, one year, through the real use cases.

A deterministic simulation (``--seed``). Shenyang (the shipped example policy): insured people of
every category, a hundred employers, twelve monthly remittances each, a re-employment service
centre for laid-off workers, outpatient, pharmacy and serious outpatient claims, and inpatient
claims that hit the deductible, every co-pay tier, repeat admissions and the annual ceiling.
Dalian (the example written in the seed's own terms): its retirees credited by a monthly run, a
yearly cumulative deductible, designated hospitals and pharmacies only, and a deficit covered
against the fiscal budget. Between them: a cross-region claim, its clearing and a transfer. And
the rules of the books (issue 10): a late payment with its late fee, a correction, the refusals
(a month paid twice, a payer who is not the employer of record, an institution not designated),
memo funds paid to registered people and against a claim referred above the ceiling. Each
month's remittances are saved in one transaction, as are each month's claims. Then it prints
the books.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger import accounts as acc
from ledger.aggregates import PooledFund
from ledger.application import Ledger
from ledger.commands import (
    AnnounceInterestRates,
    BudgetLine,
    ChangeCategory,
    CloseYear,
    CorrectContributions,
    CreditRetirees,
    Enrol,
    MoveBetweenBankAccounts,
    PayOutpatient,
    PostInterest,
    PostLatePayment,
    PostRemittance,
    RecordDeath,
    RecordExpenditure,
    RecordIncome,
    RegisterMemoBeneficiary,
    RemittanceLine,
    SetBudget,
    SettleClearing,
    SettleCrossRegion,
    SettleInpatient,
    SettleSeriousOutpatient,
    TransferIn,
    TransferOut,
)
from ledger.errors import LedgerError, PooledFundShortfall
from ledger.money import apply_rate, yuan_text
from ledger.policy import DEFAULT_POLICY_FILE, SEED_TERMS_POLICY_FILE, PolicyVersion, load_policy_file
from ledger.rules import age_on, contribution_due_date, contribution_split, laid_off_wage_base_fen, late_fee
from ledger.settings import ledger_env, store_description
from ledger.unit_of_work import UnitOfWork
from projections.render import as_table
from projections.reports import Report, claim_sections
from projections.store import projections_sqlite_path

YEAR = 2024
REGION, OTHER_REGION = "210100", "210200"
LATE_PAYER, LATE_MONTH, PAID_LATE_ON = "E007", 3, date(YEAR, 5, 10)  # March's contributions paid on 10 May
DALIAN_EMPLOYER = "D-E01"
DALIAN_HOSPITALS = {3: "DL-H3-001", 2: "DL-H2-001"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1999)
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--employers", type=int, default=100)
    parser.add_argument("--months", type=int, default=12, choices=range(1, 13), metavar="1-12")
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY_FILE)
    parser.add_argument("--keep", action="store_true", help="append to an existing store instead of starting afresh")


@dataclass
class Person:
    person_id: str
    category: str
    birth_date: date
    employer_id: str
    wage_base_fen: int
    months_elsewhere: int = 0


@dataclass
class Notes:
    """What the demo shows of the rules of the books, as it happens."""

    lines: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    serious: list[int] = field(default_factory=lambda: [0, 0])  # claims, pooled fen
    dalian_retiree_credits: list[int] = field(default_factory=lambda: [0, 0])  # credits, fen
    heavy_claim: dict[str, Any] | None = None
    shortfalls: int = 0  # claims refused: the pooled fund could not cover them

    def refused(self, what: str, attempt: Callable[[], object]) -> None:
        """Try something the ledger must refuse, and note its reason (nothing is recorded)."""
        try:
            attempt()
        except LedgerError as error:
            self.refusals.append(f"{what}: refused ({error.code}) {error.field}: {error.reason}")
        else:
            raise SystemExit(f"the demo expected a refusal: {what}")


def simulate_population(rng: random.Random, people: int, employers: int) -> list[Person]:
    population = []
    for index in range(people):
        roll = rng.random()
        if roll < 0.78:
            category, birth_year, employer = "employee", rng.randint(1962, 2003), f"E{rng.randrange(employers):03d}"
        elif roll < 0.93:
            category, birth_year, employer = "retiree", rng.randint(1935, 1963), f"E{rng.randrange(employers):03d}"
        else:
            category, birth_year, employer = "laid_off", rng.randint(1966, 1985), "RC01"
        wage_fen = rng.randrange(40_000, 250_000, 100) if category == "employee" else 0
        birth = date(birth_year, rng.randint(1, 12), rng.randint(1, 28))
        # A fifth of the employees arrive with months contributed elsewhere, on a transfer certificate.
        elsewhere = rng.randrange(12, 240) if category == "employee" and rng.random() < 0.2 else 0
        population.append(Person(f"P{index:06d}", category, birth, employer, wage_fen, elsewhere))
    return population


def simulate_neighbours(count: int) -> list[Person]:
    """Dalian: employees of one employer, and one in ten a retiree (credited by the monthly run)."""
    neighbours = []
    for i in range(count):
        if i % 10 == 9:
            neighbours.append(Person(f"D{i:05d}", "retiree", date(1950 + i % 10, 1 + i % 12, 1 + i % 28), DALIAN_EMPLOYER, 0))
        else:
            neighbours.append(Person(f"D{i:05d}", "employee", date(1975 + i % 20, 1 + i % 12, 1 + i % 28), DALIAN_EMPLOYER,
                                     150_000 + 1_000 * (i % 50)))
    return neighbours


def remittance_for(policy: PolicyVersion, payer_id: str, members: list[Person], period: str, region: str,
                   received_on: date) -> PostRemittance:
    year, month = int(period[:4]), int(period[5:])
    lines, total_fen = [], 0
    for person in members:
        base_fen = laid_off_wage_base_fen(policy) if person.category == "laid_off" else person.wage_base_fen
        split = contribution_split(policy, person.category, age_on(person.birth_date, date(year, month, 1)), base_fen)
        total_fen += split.payable_fen
        lines.append(RemittanceLine(person.person_id, None if person.category == "laid_off" else base_fen))
    payer_kind = "reemployment_centre" if payer_id.startswith("RC") else "employer"
    return PostRemittance(region, f"{payer_id}-{period}", payer_kind, payer_id, period, received_on, total_fen, tuple(lines))


def remittances_for_month(policy: PolicyVersion, population: list[Person], month: int, region: str) -> list[PostRemittance]:
    """One remittance per payer, received on the 15th; retirees only where their former employer
    credits them (not where a monthly run does); the late payer's March comes later."""
    period = f"{YEAR}-{month:02d}"
    by_payer: dict[str, list[Person]] = {}
    for person in population:
        if person.category == "retiree" and policy.retiree_credit.funded_by == "monthly_run":
            continue
        by_payer.setdefault(person.employer_id, []).append(person)
    return [remittance_for(policy, payer_id, members, period, region, date(YEAR, month, 15))
            for payer_id, members in sorted(by_payer.items()) if not (region == REGION and payer_id == LATE_PAYER and month == LATE_MONTH)]


def claims_for_month(rng: random.Random, population: list[Person], month: int) -> list[PayOutpatient | SettleInpatient]:
    claims: list[PayOutpatient | SettleInpatient] = []
    for person in population:
        if rng.random() < 0.25:
            kind = "pharmacy" if rng.random() < 0.5 else "outpatient"
            claims.append(PayOutpatient(REGION, f"OP-{person.person_id}-{month:02d}", person.person_id, kind,
                                        date(YEAR, month, rng.randint(16, 28)), rng.randrange(2_000, 60_000)))
        admission_rate = 0.008 if person.category == "retiree" else 0.003
        if rng.random() < admission_rate:
            cost_fen = int(rng.lognormvariate(8.6, 0.9)) * 100  # median ~5,400 yuan
            level = rng.choice((1, 2, 3, 3))
            admitted = date(YEAR, month, rng.randint(1, 10))
            claims.append(SettleInpatient(REGION, f"IP-{person.person_id}-{month:02d}", person.person_id, level,
                                          admitted, date(YEAR, month, rng.randint(11, 28)), cost_fen,
                                          excluded_fen=apply_rate(cost_fen, Decimal(rng.choice(("0", "0", "0.05"))))))
    return claims


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    env = ledger_env()
    if env["PERSISTENCE_MODULE"].endswith("sqlite") and not args.keep:
        # A fresh store, and fresh projections: the last run's would show its figures.
        for path in (Path(env["SQLITE_DBNAME"]), projections_sqlite_path(env)):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    ledger = Ledger(env=env)
    rng = random.Random(args.seed)
    ledger.open_region(load_policy_file(args.policy))
    ledger.open_region(load_policy_file(SEED_TERMS_POLICY_FILE))
    policies = {region: ledger.policy_in_force(region, date(YEAR, 1, 1)) for region in (REGION, OTHER_REGION)}
    population = simulate_population(rng, args.people, args.employers)
    neighbours = simulate_neighbours(max(10, args.people // 20))
    notes = Notes()
    with ledger.batch() as unit:
        for region, people in ((REGION, population), (OTHER_REGION, neighbours)):
            for person in people:
                reference = "transfer certificate (参保缴费凭证)" if person.months_elsewhere else ""
                ledger.enrol(Enrol(region, person.person_id, person.category, person.birth_date, person.employer_id,
                                   date(YEAR - 1, 12, 1), 0, person.months_elsewhere, reference), unit)
        lifecycle_opening(ledger, unit)
    counts = {"remittances": 0, "lines": 0, "claims": 0}
    for month in range(1, args.months + 1):
        books_before_remittances(ledger, month, population, notes)
        with ledger.batch() as unit:
            for region, people in ((REGION, population), (OTHER_REGION, neighbours)):
                for remittance in remittances_for_month(policies[region], people, month, region):
                    ledger.post_remittance(remittance, unit)
                    counts["remittances"] += 1
                    counts["lines"] += len(remittance.lines)
            credited = ledger.credit_retirees(CreditRetirees(OTHER_REGION, f"{YEAR}-{month:02d}", date(YEAR, month, 25)), unit)
            notes.dalian_retiree_credits[0] += credited["retirees_credited"]
            notes.dalian_retiree_credits[1] += credited["credited_fen"]
        with ledger.batch() as unit:
            owed_fen = 0
            for claim in claims_for_month(rng, population, month):
                try:
                    outcome = ledger.pay_outpatient(claim, unit) if isinstance(claim, PayOutpatient) else ledger.settle_inpatient(claim, unit)
                except PooledFundShortfall:  # a small region's fund: refused, as the seed wants (不得互相挤占)
                    notes.shortfalls += 1
                    continue
                owed_fen += outcome["account_fen"] + outcome["pooled_fen"]
                counts["claims"] += 1
            owed_fen += serious_outpatient_month(ledger, unit, month, population, notes)
            lifecycle_month(ledger, unit, month, population, neighbours)
            books_month(ledger, unit, month, population, policies[REGION], notes)
            pay_the_month(ledger, unit, REGION, month, owed_fen)
        dalian_month(ledger, month, neighbours, notes)
    heavy = population[0]
    with ledger.batch() as unit:  # one person's bad year: repeat admissions up to the ceiling
        for admission, cost_fen in enumerate((800_000, 1_800_000, 3_500_000), start=1):
            notes.heavy_claim = ledger.settle_inpatient(SettleInpatient(REGION, f"IP-HEAVY-{admission}", heavy.person_id, 3,
                                                                        date(YEAR, 12, 14 + admission * 3),
                                                                        date(YEAR, 12, 16 + admission * 3), cost_fen), unit)
        above_the_ceiling(ledger, unit, notes)
    year_end = {}
    if args.months == 12:
        for region in (REGION, OTHER_REGION):
            year_end[region] = ledger.post_interest(PostInterest(region, YEAR))
            ledger.close_year(CloseYear(region, YEAR))
    elapsed_s = time.perf_counter() - started
    print_books(ledger, heavy.person_id, counts, elapsed_s, store_description(env))
    print_lifecycle(ledger, year_end)
    print_rules(ledger, policies[OTHER_REGION], population, notes)
    return 0


def lifecycle_opening(ledger: Ledger, unit: UnitOfWork) -> None:
    """Rates in force for the year and the approved budget (illustrative figures)."""
    ledger.announce_interest_rates(AnnounceInterestRates("PBOC-2023-09", date(YEAR - 1, 9, 1), "0.0035", "0.0125", "0.0220"), unit)
    ledger.announce_interest_rates(AnnounceInterestRates("PBOC-2024-07", date(YEAR, 7, 25), "0.0015", "0.0110", "0.0195"), unit)
    lines = (BudgetLine(acc.INCOME_CONTRIBUTION, 190_000_000), BudgetLine(acc.INCOME_FISCAL_SUBSIDY, 10_000_000),
             BudgetLine(acc.EXPENDITURE_INPATIENT, 120_000_000))
    ledger.set_budget(SetBudget(REGION, f"BUDGET-{YEAR}-POOLED", "pooled", YEAR, "approved", lines, date(YEAR, 1, 5)), unit)
    # The first half of the year's fiscal subsidy: the pooled fund never pays with the accounts' money.
    ledger.record_income(RecordIncome(REGION, f"FISCAL-{YEAR}-01", "pooled", "fiscal_subsidy", 5_000_000, date(YEAR, 1, 10)), unit)


def lifecycle_month(ledger: Ledger, unit: UnitOfWork, month: int, population: list[Person], neighbours: list[Person]) -> None:
    """The year's other events: a subsidy, a budget adjustment, a cross-region claim, a transfer, a death."""
    if month == 6:
        ledger.record_income(RecordIncome(REGION, f"FISCAL-{YEAR}-06", "pooled", "fiscal_subsidy", 5_000_000, date(YEAR, 6, 20)), unit)
    if month == 7:
        ledger.set_budget(SetBudget(REGION, f"BUDGET-{YEAR}-POOLED-ADJ", "pooled", YEAR, "adjusted",
                                    (BudgetLine(acc.EXPENDITURE_INPATIENT, 140_000_000),), date(YEAR, 7, 10)), unit)
    if month == 8:
        patient = next(p for p in population if p.category == "employee")
        ledger.settle_cross_region(SettleCrossRegion(OTHER_REGION, REGION, f"XR-{patient.person_id}-08", patient.person_id, 3,
                                                     date(YEAR, 8, 2), date(YEAR, 8, 9), 1_200_000, 0, DALIAN_HOSPITALS[3]), unit)
    if month == 9:
        owed_fen = ledger.clearing_owed_fen(OTHER_REGION, REGION) + sum(
            a.pending_events[-1].amount_fen for a in unit.aggregates.values()  # type: ignore[attr-defined]
            if a.pending_events and type(a.pending_events[-1]).__name__ == "ClaimAdvanced")
        if owed_fen:
            ledger.settle_clearing(SettleClearing(f"CLEAR-{YEAR}-09", REGION, OTHER_REGION, owed_fen, date(YEAR, 9, 25)), unit)
    if month == 10:
        mover = next(p for p in population[1:] if p.category == "employee")
        out = ledger.transfer_out(TransferOut(REGION, f"TR-{mover.person_id}", mover.person_id, OTHER_REGION, date(YEAR, 10, 20)), unit)
        ledger.transfer_in(TransferIn(OTHER_REGION, f"TR-{mover.person_id}", mover.person_id, REGION, date(YEAR, 10, 27),
                                      out["amount_fen"], out["contribution_months"], employer_id=DALIAN_EMPLOYER), unit)
        population.remove(mover)
    if month == 11:
        deceased = next(p for p in population if p.category == "retiree")
        ledger.record_death(RecordDeath(REGION, deceased.person_id, date(YEAR, 11, 12), f"HEIRS-{deceased.person_id}"), unit)
        population.remove(deceased)


def books_before_remittances(ledger: Ledger, month: int, population: list[Person], notes: Notes) -> None:
    """Refusals before the month's remittances: a payer who is not the employer of record; and,
    once February is paid, the same month sent again by another remittance."""
    if month == 2:
        employee = next(p for p in population if p.category == "employee")
        policy = ledger.policy_in_force(REGION, date(YEAR, 2, 1))
        stranger = "E999" if employee.employer_id != "E999" else "E998"
        notes.refused(f"{stranger} remitting for {employee.person_id}, whose employer of record is {employee.employer_id}",
                      lambda: ledger.post_remittance(remittance_for(policy, stranger, [employee], f"{YEAR}-02", REGION, date(YEAR, 2, 15))))
    if month == 3:
        retiree = next(p for p in population if p.category == "retiree")
        policy = ledger.policy_in_force(REGION, date(YEAR, 2, 1))
        notes.refused(f"{retiree.person_id}'s February listed again by another remittance of {retiree.employer_id}",
                      lambda: ledger.post_remittance(replace(remittance_for(policy, retiree.employer_id, [retiree], f"{YEAR}-02", REGION,
                                                                            date(YEAR, 3, 1)), remittance_id=f"{retiree.employer_id}-{YEAR}-02-bis")))


def serious_outpatient_month(ledger: Ledger, unit: UnitOfWork, month: int, population: list[Person], notes: Notes) -> int:
    """Three retirees on dialysis and one on cancer treatment, every month (门诊大病): what the
    hospitals are owed."""
    retirees = [p for p in population if p.category == "retiree"]
    patients = retirees[1:1 + max(1, len(retirees) // 100)]
    owed_fen = 0
    for index, patient in enumerate(patients):
        condition, cost_fen = ("cancer_treatment", 420_000) if index == 3 else ("uremia_dialysis", 310_000 + 10_000 * index)
        outcome = ledger.settle_serious_outpatient(SettleSeriousOutpatient(
            REGION, f"SO-{patient.person_id}-{month:02d}", patient.person_id, condition, 3, date(YEAR, month, 12), cost_fen), unit)
        notes.serious[0] += 1
        notes.serious[1] += outcome["pooled_fen"]
        owed_fen += outcome["account_fen"] + outcome["pooled_fen"]
    return owed_fen


def books_month(ledger: Ledger, unit: UnitOfWork, month: int, population: list[Person], policy: PolicyVersion, notes: Notes) -> None:
    """The rules of the books as the months go by: a correction, a late payment, a change of
    employer, memo funds paid to registered people."""
    employee = next((p for p in population if p.employer_id == "E003" and p.category == "employee"), None)
    if month == 4 and employee is not None:  # E003 declares a raise for one employee in April: a correction of its April line
        age = age_on(employee.birth_date, date(YEAR, 4, 1))
        before = contribution_split(policy, "employee", age, employee.wage_base_fen)
        after = contribution_split(policy, "employee", age, employee.wage_base_fen + 50_000)
        outcome = ledger.correct_contributions(CorrectContributions(
            REGION, f"COR-E003-{YEAR}-04", f"E003-{YEAR}-04", "employer", "E003", f"{YEAR}-04", date(YEAR, 4, 28),
            after.payable_fen - before.payable_fen, (RemittanceLine(employee.person_id, employee.wage_base_fen + 50_000),)), unit)
        notes.lines.append(f"Correction COR-E003-{YEAR}-04: {employee.person_id}'s April base +500.00 yuan: "
                           f"{yuan_text(outcome['difference_fen'])} more paid in, {yuan_text(outcome['to_personal_accounts_fen'])} "
                           f"to the account, {yuan_text(outcome['to_pooled_fund_fen'])} to the pooled fund")
    if month == 5:
        late_payment(ledger, unit, population, policy, notes)
    mover = next((p for p in population if p.category == "employee" and p.employer_id == "E004"), None)
    if month == 7 and mover is not None:  # an employee changes employer: from July the new employer pays
        ledger.change_category(ChangeCategory(REGION, mover.person_id, date(YEAR, 7, 1), "employee", "E005"), unit)
        mover.employer_id = "E005"
        notes.lines.append(f"Change of employer: {mover.person_id} from E004 to E005 on {YEAR}-07-01; E005 pays from July")
    if month == 6:
        memo_funds(ledger, unit, population, notes)


def late_payment(ledger: Ledger, unit: UnitOfWork, population: list[Person], policy: PolicyVersion, notes: Notes) -> None:
    """E007's March, paid on 10 May: refused as an ordinary remittance, accepted as a late payment
    with its late fee (0.05% a day from the due date, 15 April)."""
    members = [p for p in population if p.employer_id == LATE_PAYER]
    if not members:
        return
    ordinary = remittance_for(policy, LATE_PAYER, members, f"{YEAR}-03", REGION, PAID_LATE_ON)
    due_on = contribution_due_date(policy, YEAR, LATE_MONTH)
    assert due_on is not None
    days_late, fee_fen = late_fee(policy, due_on, PAID_LATE_ON, ordinary.declared_total_fen)
    notes.refused(f"{LATE_PAYER}'s March as an ordinary remittance on {PAID_LATE_ON}", lambda: ledger.post_remittance(ordinary))
    outcome = ledger.post_late_payment(PostLatePayment(**{**ordinary.__dict__, "remittance_id": f"{LATE_PAYER}-{YEAR}-03-late",
                                                          "late_fee_fen": fee_fen}), unit)
    notes.lines.append(f"Late payment {outcome['remittance_id']}: {yuan_text(outcome['total_fen'])} for March, due {due_on}, "
                       f"{days_late} days late: late fee {yuan_text(fee_fen)} (滞纳金, other income of the pooled fund)")


def memo_funds(ledger: Ledger, unit: UnitOfWork, population: list[Person], notes: Notes) -> None:
    """The special groups' funds pay registered people only: a civil servant (insured), a retired
    cadre (outside the basic scheme), a disabled serviceman."""
    civil_servant = next(p for p in population if p.category == "employee")
    payments = (("civil_servant_subsidy", civil_servant.person_id, 2_000_000, 800_000),
                ("retired_cadres", "LX-0001", 1_500_000, 600_000), ("disabled_servicemen", "DS-0001", 500_000, 120_000))
    for fund, person_id, income_fen, paid_fen in payments:
        ledger.register_memo_beneficiary(RegisterMemoBeneficiary(REGION, fund, person_id, date(YEAR, 1, 1), f"{fund} list {YEAR}"), unit)
        ledger.record_income(RecordIncome(REGION, f"{fund}-{YEAR}-06", fund, "fiscal_subsidy", income_fen, date(YEAR, 6, 20)), unit)
        ledger.record_expenditure(RecordExpenditure(REGION, f"{fund}-PAY-{YEAR}-06", fund, "benefit", paid_fen, date(YEAR, 6, 28),
                                                    person_id), unit)
        notes.lines.append(f"Memo fund {fund}: {yuan_text(paid_fen)} paid to {person_id}, registered with it")
    notes.refused("the civil servants' subsidy paid to someone not registered with it",
                  lambda: ledger.record_expenditure(RecordExpenditure(REGION, "CS-PAY-X", "civil_servant_subsidy", "benefit", 1_000,
                                                                      date(YEAR, 6, 28), population[-1].person_id), unit))


def dalian_month(ledger: Ledger, month: int, neighbours: list[Person], notes: Notes) -> None:
    """Dalian: stays at its designated hospitals under a yearly cumulative deductible, a pharmacy,
    a stay its pooled fund cannot cover in January (covered against the fiscal budget) and the
    fiscal subsidy that clears it in June."""
    employees = [p for p in neighbours if p.category == "employee"]
    with ledger.batch() as unit:
        owed_fen = 0
        if month == 1:
            big = ledger.settle_inpatient(SettleInpatient(OTHER_REGION, f"DL-IP-{employees[0].person_id}-01", employees[0].person_id, 3,
                                                          date(YEAR, 1, 3), date(YEAR, 1, 20), 4_000_000, 0, DALIAN_HOSPITALS[3]), unit)
            owed_fen += big["pooled_fen"] + big["account_fen"]
            notes.lines.append(f"Dalian, {big['claim_id']}: pooled part {yuan_text(big['pooled_fen'])}; the pooled fund could not cover "
                               f"{yuan_text(big['fiscal_receivable_fen'])}: a receivable from the fiscal budget (应收财政补贴)")
            notes.refused("a Dalian stay at a hospital it has not designated", lambda: ledger.settle_inpatient(SettleInpatient(
                OTHER_REGION, "DL-IP-X", employees[1].person_id, 2, date(YEAR, 1, 5), date(YEAR, 1, 9), 300_000, 0, "DL-H9-404"), unit))
        for index, person in enumerate(employees[month::12][:2]):
            level = 2 if index else 3
            stay = ledger.settle_inpatient(SettleInpatient(OTHER_REGION, f"DL-IP-{person.person_id}-{month:02d}", person.person_id, level,
                                                           date(YEAR, month, 4), date(YEAR, month, 11), 60_000 + 40_000 * index, 0,
                                                           DALIAN_HOSPITALS[level]), unit)
            owed_fen += stay["pooled_fen"] + stay["account_fen"]
        drugs = ledger.pay_outpatient(PayOutpatient(OTHER_REGION, f"DL-PH-{month:02d}", employees[2].person_id, "pharmacy",
                                                    date(YEAR, month, 18), 8_800, "DL-PH-001"), unit)
        owed_fen += drugs["account_fen"]
        if month == 6:
            cleared = ledger.record_income(RecordIncome(OTHER_REGION, f"DL-FISCAL-{YEAR}-06", "pooled", "fiscal_subsidy", 4_000_000,
                                                        date(YEAR, 6, 20)), unit)
            notes.lines.append(f"Dalian fiscal subsidy of {yuan_text(4_000_000)}: {yuan_text(cleared['receivable_cleared_fen'])} clears "
                               "the receivable, the rest is fiscal subsidy income")
        pay_the_month(ledger, unit, OTHER_REGION, month, owed_fen)


def above_the_ceiling(ledger: Ledger, unit: UnitOfWork, notes: Notes) -> None:
    """The heavy year's last stay goes above the ceiling: its part above it is referred to the
    large-amount supplementary fund, which pays against the referral."""
    claim = notes.heavy_claim
    if not claim or not claim["above_ceiling_fen"]:
        return
    fund = "large_amount_supplementary"
    ledger.record_income(RecordIncome(REGION, f"LA-{YEAR}-12", fund, "contribution", 10_000_000, date(YEAR, 12, 20)), unit)
    paid = ledger.record_expenditure(RecordExpenditure(REGION, f"LA-PAY-{claim['claim_id']}", fund, "benefit", claim["above_ceiling_fen"],
                                                       date(YEAR, 12, 30), None, claim["claim_id"]), unit)
    notes.lines.append(f"Above the ceiling: {claim['claim_id']} referred {yuan_text(claim['above_ceiling_fen'])} to {fund}; "
                       f"it paid {yuan_text(paid['amount_fen'])} to {paid['person_id']} against the referral")


def pay_the_month(ledger: Ledger, unit: UnitOfWork, region: str, month: int, owed_fen: int) -> None:
    """Two lines: the month's income goes to the fiscal special account; what the hospitals are
    owed goes to the expenditure account, which pays them."""
    last_day = date(YEAR, month, 28)
    fund = unit.get(PooledFund.id_for(region), PooledFund)
    income_fen = fund.bank_balances_fen.get(acc.BANK_INCOME, 0)
    if income_fen:
        ledger.move_money(MoveBetweenBankAccounts(region, f"SWEEP-{YEAR}-{month:02d}", "income_to_fiscal_special",
                                                  income_fen, last_day), unit)
    # What the hospitals are owed, and a float for transfers and inheritance, as far as the
    # fiscal special account allows; hospitals are paid as far as the expenditure account allows.
    needed_fen = min(owed_fen + 2_000_000, fund.bank_balances_fen.get(acc.BANK_FISCAL_SPECIAL, 0))
    if needed_fen:
        ledger.move_money(MoveBetweenBankAccounts(region, f"FUND-{YEAR}-{month:02d}", "fiscal_special_to_expenditure",
                                                  needed_fen, last_day), unit)
    paid_fen = min(owed_fen, fund.bank_balances_fen.get(acc.BANK_EXPENDITURE, 0))
    if paid_fen:
        ledger.move_money(MoveBetweenBankAccounts(region, f"HOSP-{YEAR}-{month:02d}", "pay_hospitals", paid_fen, last_day), unit)


def print_books(ledger: Ledger, person_id: str, counts: dict[str, int], elapsed_s: float, store: str) -> None:
    postings = [p for _, event in ledger.stored_events() for p in getattr(event, "postings", ())]
    trial = acc.trial_balance(postings)
    print(f"fund-ledger demo: regions {REGION} and {OTHER_REGION}, year {YEAR}, store: {store}")
    print(f"  {counts['remittances']} remittances, {counts['lines']} contribution lines, {counts['claims']} claims "
          f"in {elapsed_s:.1f} s\n")
    print("Fund balances (yuan)")
    print(f"  pooled fund (统筹基金)          {yuan_text(acc.fund_balance_fen(postings, acc.FUND_POOLED)):>18}")
    print(f"  personal accounts (个人账户)    {yuan_text(acc.fund_balance_fen(postings, acc.FUND_PERSONAL)):>18}")
    print(f"  due to hospitals               {yuan_text(acc.fund_balance_fen(postings, acc.PAYABLE_HOSPITALS)):>18}\n")
    print("Trial balance (debit +, credit -, yuan)")
    for account, amount_fen in trial.items():
        print(f"  {account:<36} {yuan_text(amount_fen):>18}")
    total_fen = sum(trial.values())
    print(f"  {'total':<36} {yuan_text(total_fen):>18}  {'(balanced)' if total_fen == 0 else '(NOT BALANCED)'}\n")
    print("Income and expenditure by fund and item (yuan)")
    for (account, item, side), amount_fen in acc.income_and_expenditure(postings).items():
        print(f"  {account:<32} {item:<50} {side:<4} {yuan_text(amount_fen):>16}")
    print(f"\nStatement of personal account {person_id}")
    for line in ledger.statement(REGION, person_id):
        print(f"  {line['on']}  {line['event']:<24} {str(line['reference']):<22} {yuan_text(line['change_fen']):>12} {yuan_text(line['balance_fen']):>12}")
    if total_fen != 0:
        raise SystemExit("trial balance is not zero")


def print_lifecycle(ledger: Ledger, year_end: dict[str, dict[str, object]]) -> None:
    print("\nYear end")
    for region, outcome in year_end.items():
        print(f"  {region}: interest {yuan_text(int(outcome['bank_interest_fen']))} earned by the deposits; "  # type: ignore[call-overload]
              f"{yuan_text(int(outcome['personal_accounts_fen']))} credited to {outcome['accounts_credited']} personal accounts, "  # type: ignore[call-overload]
              f"{yuan_text(int(outcome.get('advanced_at_closes_fen', 0)))} back to the pooled fund for what it advanced to "  # type: ignore[call-overload]
              f"accounts as they closed, {yuan_text(int(outcome['pooled_fen']))} to the pooled fund; year closed")  # type: ignore[call-overload]
    for region in (REGION, OTHER_REGION):
        banks = ", ".join(f"{name} {yuan_text(amount)}" for name, amount in sorted(ledger.bank_balances(region).items()))
        print(f"  {region} deposits: {banks}")
    print(f"  clearing: {OTHER_REGION} is owed {yuan_text(ledger.clearing_owed_fen(OTHER_REGION, REGION))} by {REGION}")


def print_rules(ledger: Ledger, dalian: PolicyVersion, population: list[Person], notes: Notes) -> None:
    """The rules of the books, as the year applied them (docs/rules.md lists them all)."""
    derived = dalian.derived_figures()
    shares = ", ".join(f"{Decimal(b['rate_of_wage_base']) * 100:.2f}%" for b in derived["employer_to_personal_by_age"])
    print("\nThe books as the seeds keep them (docs/rules.md)")
    print(f"  Dalian's policy in the seed's terms, the fen figures it derives: ceiling 4 x {yuan_text(dalian.previous_year_average_annual_wage_fen)}"
          f" = {yuan_text(derived['annual_ceiling_fen'])}; yearly deductible 10% = {yuan_text(derived['yearly_deductible_fen'] or 0)}; "
          f"employer share to the accounts 25/30/35% of the employer's contribution = {shares} of the wage; "
          f"laid-off base {yuan_text(derived['laid_off_wage_base_fen'])} a month")
    print(f"  Dalian's retirees credited by the monthly run: {notes.dalian_retiree_credits[0]} credits, "
          f"{yuan_text(notes.dalian_retiree_credits[1])} from the pooled fund")
    print(f"  Serious outpatient conditions (门诊大病): {notes.serious[0]} bills, {yuan_text(notes.serious[1])} paid by the pooled fund")
    for line in notes.lines:
        print(f"  {line}")
    brought = next((p for p in population if p.months_elsewhere), None)
    if brought is not None:
        months = ledger.personal_account(REGION, brought.person_id).contribution_months
        print(f"  Contribution months of {brought.person_id}: {brought.months_elsewhere} brought from elsewhere + months paid here = "
              f"{months} ({months // 12} years {months % 12} months)")
    for refusal in notes.refusals:
        print(f"  {refusal}")
    if notes.shortfalls:
        print(f"  {notes.shortfalls} claims refused in Shenyang: the pooled fund could not cover them (pooled_fund_shortfall)")
    receivable = sum(ledger.pooled_fund(region).fiscal_receivable_fen for region in (REGION, OTHER_REGION))
    print(f"  Receivable from the fiscal budget at the end of the run: {yuan_text(receivable)}")
    claim = notes.heavy_claim
    if claim is not None:
        row = {**claim, "bands": json.dumps(claim["tiers"])}
        print()
        print(as_table(Report("claim", f"One claim's arithmetic: {claim['claim_id']} (fund-ledger report claim)", claim_sections(row))), end="")
