"""``fund-ledger demo``: one region, one year, through the real use cases.

A deterministic simulation (``--seed``): insured people of every category, a hundred employers,
twelve monthly remittances each, a re-employment service centre for laid-off workers,
outpatient and pharmacy claims, and inpatient claims that hit the deductible, every co-pay tier,
repeat admissions and the annual ceiling. Each month's remittances are saved in one transaction,
as are each month's claims. Then it prints the books.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from ledger import accounts as acc
from ledger.aggregates import PooledFund
from ledger.application import Ledger
from ledger.commands import (
    AnnounceInterestRates,
    BudgetLine,
    CloseYear,
    Enrol,
    MoveBetweenBankAccounts,
    PayOutpatient,
    PostInterest,
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
    TransferIn,
    TransferOut,
)
from ledger.money import apply_rate, yuan_text
from ledger.policy import DEFAULT_POLICY_FILE, PolicyVersion, load_policy_file
from ledger.rules import age_on, contribution_split, laid_off_wage_base_fen
from ledger.settings import ledger_env, store_description
from ledger.unit_of_work import UnitOfWork

YEAR = 2024


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
        population.append(Person(f"P{index:06d}", category, birth, employer, wage_fen))
    return population


def remittances_for_month(policy: PolicyVersion, population: list[Person], month: int, region: str) -> list[PostRemittance]:
    period = f"{YEAR}-{month:02d}"
    by_payer: dict[str, list[Person]] = {}
    for person in population:
        by_payer.setdefault(person.employer_id, []).append(person)
    commands = []
    for payer_id, members in sorted(by_payer.items()):
        lines, total_fen = [], 0
        for person in members:
            base_fen = laid_off_wage_base_fen(policy) if person.category == "laid_off" else person.wage_base_fen
            split = contribution_split(policy, person.category, age_on(person.birth_date, date(YEAR, month, 1)), base_fen)
            total_fen += split.payable_fen
            lines.append(RemittanceLine(person.person_id, None if person.category == "laid_off" else base_fen))
        payer_kind = "reemployment_centre" if payer_id.startswith("RC") else "employer"
        commands.append(PostRemittance(region, f"{payer_id}-{period}", payer_kind, payer_id, period,
                                       date(YEAR, month, 15), total_fen, tuple(lines)))
    return commands


def claims_for_month(rng: random.Random, population: list[Person], month: int) -> list[PayOutpatient | SettleInpatient]:
    claims: list[PayOutpatient | SettleInpatient] = []
    for person in population:
        if rng.random() < 0.25:
            kind = "pharmacy" if rng.random() < 0.5 else "outpatient"
            claims.append(PayOutpatient("210100", f"OP-{person.person_id}-{month:02d}", person.person_id, kind,
                                        date(YEAR, month, rng.randint(16, 28)), rng.randrange(2_000, 60_000)))
        admission_rate = 0.008 if person.category == "retiree" else 0.003
        if rng.random() < admission_rate:
            cost_fen = int(rng.lognormvariate(8.6, 0.9)) * 100  # median ~5,400 yuan
            level = rng.choice((1, 2, 3, 3))
            admitted = date(YEAR, month, rng.randint(1, 10))
            claims.append(SettleInpatient("210100", f"IP-{person.person_id}-{month:02d}", person.person_id, level,
                                          admitted, date(YEAR, month, rng.randint(11, 28)), cost_fen,
                                          excluded_fen=apply_rate(cost_fen, Decimal(rng.choice(("0", "0", "0.05"))))))
    return claims


REGION, OTHER_REGION = "210100", "210200"


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    env = ledger_env()
    if env["PERSISTENCE_MODULE"].endswith("sqlite") and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(env["SQLITE_DBNAME"] + suffix).unlink(missing_ok=True)
    ledger = Ledger(env=env)
    rng = random.Random(args.seed)
    policy_file = load_policy_file(args.policy)
    ledger.open_region(policy_file)
    ledger.open_region(policy_file.model_copy(update={"region": OTHER_REGION, "region_name": "Dalian (example)"}))
    policy = ledger.policy_in_force(REGION, date(YEAR, 1, 1))
    population = simulate_population(rng, args.people, args.employers)
    neighbours = [Person(f"D{i:05d}", "employee", date(1975 + i % 20, 1 + i % 12, 1 + i % 28), "D-E01", 150_000 + 1_000 * (i % 50))
                  for i in range(max(10, args.people // 20))]
    with ledger.batch() as unit:
        for region, people in ((REGION, population), (OTHER_REGION, neighbours)):
            for person in people:
                ledger.enrol(Enrol(region, person.person_id, person.category, person.birth_date, person.employer_id,
                                   date(YEAR - 1, 12, 1)), unit)
        lifecycle_opening(ledger, unit)
    counts = {"remittances": 0, "lines": 0, "claims": 0}
    for month in range(1, args.months + 1):
        with ledger.batch() as unit:
            for region, people in ((REGION, population), (OTHER_REGION, neighbours)):
                for remittance in remittances_for_month(policy, people, month, region):
                    ledger.post_remittance(remittance, unit)
                    counts["remittances"] += 1
                    counts["lines"] += len(remittance.lines)
        with ledger.batch() as unit:
            owed_fen = 0
            for claim in claims_for_month(rng, population, month):
                outcome = ledger.pay_outpatient(claim, unit) if isinstance(claim, PayOutpatient) else ledger.settle_inpatient(claim, unit)
                owed_fen += outcome["account_fen"] + outcome["pooled_fen"]
                counts["claims"] += 1
            lifecycle_month(ledger, unit, month, population, neighbours)
            pay_the_month(ledger, unit, REGION, month, owed_fen)
    heavy = population[0]
    with ledger.batch() as unit:  # one person's bad year: repeat admissions up to the ceiling
        for admission, cost_fen in enumerate((800_000, 1_800_000, 3_500_000), start=1):
            ledger.settle_inpatient(SettleInpatient(REGION, f"IP-HEAVY-{admission}", heavy.person_id, 3,
                                                    date(YEAR, 12, 14 + admission * 3), date(YEAR, 12, 16 + admission * 3),
                                                    cost_fen), unit)
    year_end = {}
    if args.months == 12:
        for region in (REGION, OTHER_REGION):
            year_end[region] = ledger.post_interest(PostInterest(region, YEAR))
            ledger.close_year(CloseYear(region, YEAR))
    elapsed_s = time.perf_counter() - started
    print_books(ledger, heavy.person_id, counts, elapsed_s, store_description(env))
    print_lifecycle(ledger, year_end)
    return 0


def lifecycle_opening(ledger: Ledger, unit: UnitOfWork) -> None:
    """Rates in force for the year and the approved budget (illustrative figures)."""
    ledger.announce_interest_rates(AnnounceInterestRates("PBOC-2023-09", date(YEAR - 1, 9, 1), "0.0035", "0.0125", "0.0220"), unit)
    ledger.announce_interest_rates(AnnounceInterestRates("PBOC-2024-07", date(YEAR, 7, 25), "0.0015", "0.0110", "0.0195"), unit)
    lines = (BudgetLine(acc.INCOME_CONTRIBUTION, 190_000_000), BudgetLine(acc.INCOME_FISCAL_SUBSIDY, 5_000_000),
             BudgetLine(acc.EXPENDITURE_INPATIENT, 120_000_000))
    ledger.set_budget(SetBudget(REGION, f"BUDGET-{YEAR}-POOLED", "pooled", YEAR, "approved", lines, date(YEAR, 1, 5)), unit)


def lifecycle_month(ledger: Ledger, unit: UnitOfWork, month: int, population: list[Person], neighbours: list[Person]) -> None:
    """The year's other events: a subsidy, a budget adjustment, a cross-region claim, a transfer, a death."""
    if month == 6:
        ledger.record_income(RecordIncome(REGION, f"FISCAL-{YEAR}-06", "pooled", "fiscal_subsidy", 5_000_000, date(YEAR, 6, 20)), unit)
        civil_servant = next(p for p in population if p.category == "employee")
        ledger.register_memo_beneficiary(RegisterMemoBeneficiary(REGION, "civil_servant_subsidy", civil_servant.person_id, date(YEAR, 1, 1),
                                                                 "HR bureau list 2024"), unit)
        ledger.record_income(RecordIncome(REGION, f"CS-{YEAR}-06", "civil_servant_subsidy", "fiscal_subsidy", 2_000_000, date(YEAR, 6, 20)), unit)
        ledger.record_expenditure(RecordExpenditure(REGION, f"CS-PAY-{YEAR}-06", "civil_servant_subsidy", "benefit", 800_000, date(YEAR, 6, 28),
                                                    civil_servant.person_id), unit)
    if month == 7:
        ledger.set_budget(SetBudget(REGION, f"BUDGET-{YEAR}-POOLED-ADJ", "pooled", YEAR, "adjusted",
                                    (BudgetLine(acc.EXPENDITURE_INPATIENT, 140_000_000),), date(YEAR, 7, 10)), unit)
    if month == 8:
        patient = next(p for p in population if p.category == "employee")
        ledger.settle_cross_region(SettleCrossRegion(OTHER_REGION, REGION, f"XR-{patient.person_id}-08", patient.person_id, 3,
                                                     date(YEAR, 8, 2), date(YEAR, 8, 9), 1_200_000), unit)
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
                                      out["amount_fen"], out["contribution_months"], employer_id="D-E01"), unit)
        population.remove(mover)
    if month == 11:
        deceased = next(p for p in population if p.category == "retiree")
        ledger.record_death(RecordDeath(REGION, deceased.person_id, date(YEAR, 11, 12), f"HEIRS-{deceased.person_id}"), unit)
        population.remove(deceased)


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
    print(f"fund-ledger demo: region 210100, year {YEAR}, store: {store}")
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
        print(f"  {account:<32} {item:<42} {side:<4} {yuan_text(amount_fen):>16}")
    print(f"\nStatement of personal account {person_id}")
    for line in ledger.statement("210100", person_id):
        print(f"  {line['on']}  {line['event']:<24} {str(line['reference']):<22} {yuan_text(line['change_fen']):>12} {yuan_text(line['balance_fen']):>12}")
    if total_fen != 0:
        raise SystemExit("trial balance is not zero")


def print_lifecycle(ledger: Ledger, year_end: dict[str, dict[str, object]]) -> None:
    print("\nYear end")
    for region, outcome in year_end.items():
        print(f"  {region}: interest {yuan_text(int(outcome['bank_interest_fen']))} earned by the deposits; "  # type: ignore[call-overload]
              f"{yuan_text(int(outcome['personal_accounts_fen']))} credited to {outcome['accounts_credited']} personal accounts, "  # type: ignore[call-overload]
              f"{yuan_text(int(outcome['pooled_fen']))} to the pooled fund; year closed")  # type: ignore[call-overload]
    for region in (REGION, OTHER_REGION):
        banks = ", ".join(f"{name} {yuan_text(amount)}" for name, amount in sorted(ledger.bank_balances(region).items()))
        print(f"  {region} deposits: {banks}")
    print(f"  clearing: {OTHER_REGION} is owed {yuan_text(ledger.clearing_owed_fen(OTHER_REGION, REGION))} by {REGION}")
