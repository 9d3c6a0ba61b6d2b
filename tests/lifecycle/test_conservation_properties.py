"""Conservation and non-negativity across the whole lifecycle, as properties: whatever sequence
of remittances, claims, bank movements, income, expenditure, transfers, deaths, cross-region
bills, clearing, interest and year-end closes arrives (refused commands ignored: a refusal
records nothing), the ledger always keeps, after every command:

- double entry: every event's postings sum to zero, so each region's and the whole trial balance is zero;
- ``clearing.personal_accounts`` back to zero in every region;
- no person's sub-ledger of the personal accounts below zero, and each equal to the account's balance;
- no bank account (basic or memo fund) below zero.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import accounts as acc
from ledger.application import Ledger
from ledger.commands import (
    AnnounceInterestRates,
    CloseYear,
    Enrol,
    MoveBetweenBankAccounts,
    PayOutpatient,
    PostInterest,
    PostRemittance,
    RecordDeath,
    RecordExpenditure,
    RecordIncome,
    RemittanceLine,
    SettleClearing,
    SettleCrossRegion,
    SettleInpatient,
    TransferIn,
    TransferOut,
)
from ledger.errors import LedgerError
from ledger.policy import load_policy_file

from .scenario import BIRTH, DALIAN, SHENYANG

REGIONS = (SHENYANG, DALIAN)
EVERYONE = ("A", "B", "C")  # enrolled in both regions, so that money can move both ways

region = st.sampled_from(REGIONS)
person = st.sampled_from(EVERYONE)
month = st.integers(1, 24)  # January 2024 .. December 2025
amount = st.integers(1, 150_000)
# Movements, expenditure and clearing draw a share (in ‰) of what the paying account holds;
# above 1,000 ‰ the command must be refused.
share = st.integers(1, 1_100)
remit = st.tuples(st.just("remit"), region, person, month, st.sampled_from([600_000, 1_000_000, 2_500_000]))

operation = st.one_of(
    remit, remit, remit,
    st.tuples(st.just("outpatient"), region, person, month, st.integers(1, 60_000)),
    st.tuples(st.just("inpatient"), region, person, month, st.integers(10_000, 3_500_000)),
    st.tuples(st.just("move"), region, st.sampled_from(["income_to_fiscal_special", "fiscal_special_to_expenditure",
                                                        "expenditure_to_fiscal_special", "pay_hospitals"]), month, share),
    st.tuples(st.just("move"), region, st.sampled_from(["income_to_fiscal_special", "fiscal_special_to_expenditure"]), month, share),
    st.tuples(st.just("fund"), region, st.just(""), month, st.integers(300, 1_000)),
    st.tuples(st.just("fund"), region, st.just(""), month, st.integers(300, 1_000)),
    st.tuples(st.just("income"), region, st.sampled_from(["pooled:fiscal_subsidy", "pooled:late_fees", "personal:fiscal_subsidy",
                                                          "enterprise_supplementary:fiscal_subsidy"]), month, amount),
    st.tuples(st.just("expenditure"), region, st.sampled_from(["pooled:subsidy_to_lower_levels", "pooled:other",
                                                               "pooled:agency_running_costs", "enterprise_supplementary:benefit"]), month, share),
    st.tuples(st.just("transfer_out"), region, person, month, st.just(0)),
    st.tuples(st.just("transfer_in"), region, st.integers(0, 3), month, st.just(0)),
    st.tuples(st.just("transfer_in"), region, st.integers(0, 3), month, st.just(0)),
    st.tuples(st.just("death"), region, person, month, st.just(0)),
    st.tuples(st.just("cross"), region, person, month, st.integers(10_000, 1_500_000)),
    st.tuples(st.just("clearing"), region, st.just(""), month, share),
    st.tuples(st.just("interest"), region, st.just(""), st.sampled_from([12, 24]), st.just(0)),
    st.tuples(st.just("close"), region, st.just(""), st.sampled_from([12, 24]), st.just(0)),
)


def day(month_index: int, day_of_month: int = 15) -> date:
    return date(2024 + (month_index - 1) // 12, (month_index - 1) % 12 + 1, day_of_month)


def other(region_code: str) -> str:
    return DALIAN if region_code == SHENYANG else SHENYANG


def new_ledger() -> Ledger:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    policy = load_policy_file()
    ledger.open_region(policy)
    ledger.open_region(policy.model_copy(update={"region": DALIAN, "region_name": "Dalian"}))
    ledger.announce_interest_rates(AnnounceInterestRates("rates-2024", date(2024, 1, 1), "0.0035", "0.0110", "0.0195"))
    ledger.announce_interest_rates(AnnounceInterestRates("rates-2025-05", date(2025, 5, 1), "0.0020", "0.0090", "0.0150"))
    for region_code in REGIONS:
        for person_id in EVERYONE:
            ledger.enrol(Enrol(region_code, person_id, "employee", BIRTH, "E1", date(2024, 1, 1)))
    return ledger


MOVE_SOURCE = {"income_to_fiscal_special": acc.BANK_INCOME, "fiscal_special_to_expenditure": acc.BANK_FISCAL_SPECIAL,
               "expenditure_to_fiscal_special": acc.BANK_EXPENDITURE, "pay_hospitals": acc.BANK_EXPENDITURE}


def part(held_fen: int, per_mille: int) -> int:
    return max(1, held_fen * per_mille // 1_000)


def command_for(ledger: Ledger, op: tuple[Any, ...], index: int, in_transit: list[dict[str, Any]]) -> Any:
    kind, region_code, what, month_index, number = op
    on = day(month_index)
    ref = f"{kind}-{index}"
    if kind == "remit":
        # Employee under 35: 2 % + 6 % of the wage base is what the employer owes.
        return "post_remittance", PostRemittance(region_code, ref, "employer", "E1", f"{on.year}-{on.month:02d}", on,
                                                 number * 8 // 100, (RemittanceLine(what, number),))
    if kind == "outpatient":
        return "pay_outpatient", PayOutpatient(region_code, ref, what, "pharmacy", on, number)
    if kind == "inpatient":
        return "settle_inpatient", SettleInpatient(region_code, ref, what, 2, day(month_index, 10), on, number)
    if kind == "fund":  # income account -> fiscal special -> expenditure account, a share of the income account
        moved_fen = part(ledger.bank_balances(region_code).get(acc.BANK_INCOME, 0), number)
        return [("move_money", MoveBetweenBankAccounts(region_code, f"{ref}-a", "income_to_fiscal_special", moved_fen, on)),
                ("move_money", MoveBetweenBankAccounts(region_code, f"{ref}-b", "fiscal_special_to_expenditure", moved_fen, on))]
    if kind == "move":
        held_fen = ledger.bank_balances(region_code).get(MOVE_SOURCE[what], 0)
        return "move_money", MoveBetweenBankAccounts(region_code, ref, what, part(held_fen, number), on)
    if kind in ("income", "expenditure"):
        fund, item = what.split(":")
        if kind == "income":
            return "record_income", RecordIncome(region_code, ref, fund, item, number, on)
        paying = acc.BANK_EXPENDITURE if fund == "pooled" else acc.memo_bank_account(fund)
        held_fen = ledger.balances_through(region_code, date(2099, 12, 31)).get(paying, 0)
        return "record_expenditure", RecordExpenditure(region_code, ref, fund, item, part(held_fen, number), on)
    if kind == "transfer_out":
        return "transfer_out", TransferOut(region_code, ref, what, other(region_code), on)
    if kind == "transfer_in":
        if not in_transit:
            return None
        moved = in_transit[what % len(in_transit)]
        return "transfer_in", TransferIn(moved["to_region"], moved["transfer_id"], moved["person_id"], moved["from_region"],
                                         on, moved["amount_fen"], moved["contribution_months"])
    if kind == "death":
        return "record_death", RecordDeath(region_code, what, on, f"heirs-{index}")
    if kind == "cross":
        return "settle_cross_region", SettleCrossRegion(other(region_code), region_code, ref, what, 3, day(month_index, 10), on, number)
    if kind == "clearing":
        owed_fen = ledger.clearing_owed_fen(other(region_code), region_code)
        return "settle_clearing", SettleClearing(ref, region_code, other(region_code), part(owed_fen, number), on)
    if kind == "interest":
        return "post_interest", PostInterest(region_code, on.year)
    return "close_year", CloseYear(region_code, on.year)


class Books:
    """Running totals of everything recorded, read event by event as the ledger stores them."""

    def __init__(self) -> None:
        self.position = 1
        self.by_region: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.by_person: dict[tuple[str, str], int] = defaultdict(int)
        self.total_fen = 0

    def read(self, ledger: Ledger) -> None:
        for notification_id, event in ledger.stored_events(start=self.position):
            self.position = notification_id + 1
            postings = getattr(event, "postings", None)
            if not postings:
                continue
            assert sum(p["amount_fen"] for p in postings) == 0, (type(event).__name__, postings)
            for posting in postings:
                self.by_region[event.region][posting["account"]] += posting["amount_fen"]
                self.total_fen += posting["amount_fen"]
                if posting["account"] == acc.FUND_PERSONAL:
                    self.by_person[(event.region, posting["person_id"])] -= posting["amount_fen"]

    def check(self, ledger: Ledger, after: str) -> None:
        assert self.total_fen == 0, after
        for region_code, totals in self.by_region.items():
            assert sum(totals.values()) == 0, (after, region_code, dict(totals))
            assert totals.get(acc.CLEARING_PERSONAL_ACCOUNTS, 0) == 0, (after, region_code)
            overdrawn = {name: held for name, held in totals.items() if name.startswith("bank.") and held < 0}
            assert not overdrawn, (after, region_code, overdrawn)
        for (region_code, person_id), held_fen in self.by_person.items():
            assert held_fen >= 0, (after, region_code, person_id, held_fen)
            assert ledger.personal_account(region_code, person_id).balance_fen == held_fen, (after, person_id)


def run(ledger: Ledger, use_case: str, command: Any, in_transit: list[dict[str, Any]]) -> None:
    try:
        outcome = getattr(ledger, use_case)(command)
    except LedgerError:
        return  # a refusal records nothing; the invariants must hold all the same
    if use_case == "transfer_out":
        in_transit.append(outcome)
    elif use_case == "transfer_in":
        in_transit.remove(next(m for m in in_transit if m["transfer_id"] == command.transfer_id))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=15, max_size=40))
def test_any_sequence_of_lifecycle_commands_conserves_money_and_overdraws_nothing(ops: list[tuple[Any, ...]]) -> None:
    # Mostly in date order, as a year's business arrives, with the year-end interest and close
    # last in their month; out-of-order messages are covered by the example-based tests.
    ops = sorted(ops, key=lambda op: (op[3], ("interest", "close").index(op[0]) + 1 if op[0] in ("interest", "close") else 0))
    ledger = new_ledger()
    books = Books()
    in_transit: list[dict[str, Any]] = []
    try:
        for index, op in enumerate(ops):
            found = command_for(ledger, op, index, in_transit)
            for use_case, command in found if isinstance(found, list) else [found] if found else []:
                run(ledger, use_case, command, in_transit)
                books.read(ledger)
                books.check(ledger, f"{use_case} #{index}: {command}")
        assert sum(ledger.trial_balance().values()) == 0
    finally:
        ledger.close()
