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
from ledger.application import Ledger
from ledger.commands import Enrol, PayOutpatient, PostRemittance, RemittanceLine, SettleInpatient
from ledger.money import apply_rate, yuan_text
from ledger.policy import DEFAULT_POLICY_FILE, PolicyVersion, load_policy_file
from ledger.rules import age_on, contribution_split, laid_off_wage_base_fen
from ledger.settings import ledger_env, store_description

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


def remittances_for_month(policy: PolicyVersion, population: list[Person], month: int) -> list[PostRemittance]:
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
        commands.append(PostRemittance("210100", f"{payer_id}-{period}", payer_kind, payer_id, period,
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
    policy = ledger.policy_in_force("210100", date(YEAR, 1, 1))
    population = simulate_population(rng, args.people, args.employers)
    with ledger.batch() as unit:
        for person in population:
            ledger.enrol(Enrol("210100", person.person_id, person.category, person.birth_date, person.employer_id,
                               date(YEAR - 1, 12, 1)), unit)
    counts = {"remittances": 0, "lines": 0, "claims": 0, "refused": 0}
    for month in range(1, args.months + 1):
        with ledger.batch() as unit:
            for remittance in remittances_for_month(policy, population, month):
                ledger.post_remittance(remittance, unit)
                counts["remittances"] += 1
                counts["lines"] += len(remittance.lines)
        with ledger.batch() as unit:
            for claim in claims_for_month(rng, population, month):
                if isinstance(claim, PayOutpatient):
                    ledger.pay_outpatient(claim, unit)
                else:
                    ledger.settle_inpatient(claim, unit)
                counts["claims"] += 1
    heavy = population[0]
    with ledger.batch() as unit:  # one person's bad year: repeat admissions up to the ceiling
        for admission, cost_fen in enumerate((800_000, 1_800_000, 3_500_000), start=1):
            ledger.settle_inpatient(SettleInpatient("210100", f"IP-HEAVY-{admission}", heavy.person_id, 3,
                                                    date(YEAR, 12, admission * 3), date(YEAR, 12, admission * 3 + 2),
                                                    cost_fen), unit)
    elapsed_s = time.perf_counter() - started
    print_books(ledger, heavy.person_id, counts, elapsed_s, store_description(env))
    return 0


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
    for (account, item), amount_fen in acc.income_and_expenditure(postings).items():
        print(f"  {account:<14} {item:<42} {yuan_text(amount_fen):>16}")
    print(f"\nStatement of personal account {person_id}")
    for line in ledger.statement("210100", person_id):
        print(f"  {line['on']}  {line['event']:<24} {str(line['reference']):<22} {yuan_text(line['change_fen']):>12} {yuan_text(line['balance_fen']):>12}")
    if total_fen != 0:
        raise SystemExit("trial balance is not zero")
