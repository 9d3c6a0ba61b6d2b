"""The smaller aggregates: memo funds, the announced interest rates, the year-end interest runs,
transfers between regions, clearing positions between regions and budgets (``ledger.aggregates``
holds the policy book, the personal accounts, the pooled fund and the business records).

They lived in ``ledger.aggregates`` before; events recorded then name them by that module, which
resolves them here (``ledger.aggregates.__getattr__``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger import accounts as acc
from ledger.aggregates import Postings, business_id
from ledger.errors import InsufficientBalance, ScopeViolation


class MemoFund(Aggregate):
    """A memo fund (retired cadres and old Red Army soldiers, disabled servicemen of class B and
    above, civil servants' medical subsidy, enterprise supplementary insurance, large-amount
    supplementary insurance): on the same ledger, its own accounts, never mixed with the basic fund
    (Liao 1999 §II(6)). It keeps the people registered with it and the claims referred to it."""

    class Opened(Aggregate.Created):
        region: str
        name: str

    def __init__(self, region: str, name: str) -> None:
        self.region = region
        self.name = name
        self.balance_fen = 0
        self.beneficiaries: dict[str, dict[str, Any]] = {}  # person id: since (date), reference
        self.referrals: dict[str, dict[str, Any]] = {}  # claim id: person_id, referred_fen, paid_fen

    @staticmethod
    def id_for(region: str, name: str) -> UUID:
        return business_id("memo-fund", region, name)

    class MoneyEvent(Aggregate.Event):
        region: str
        on: date
        postings: Postings
        reference: str
        item: str
        amount_fen: int
        person_id: str | None = None  # whom a benefit was paid to (None on events recorded before)
        claim_id: str | None = None  # the referred claim a benefit pays

        def apply(self, aggregate: Aggregate) -> None:
            fund = cast(MemoFund, aggregate)
            change_fen = acc.fund_balance_fen(self.postings, acc.memo_fund_account(fund.name))
            fund.balance_fen += change_fen
            referral = fund.referrals.get(self.claim_id or "")
            if referral is not None:
                referral["paid_fen"] -= change_fen

    class BeneficiaryRegistered(Aggregate.Event):
        """A person the special group's fund pays, from ``on``."""

        region: str
        on: date
        person_id: str
        reference: str

        def apply(self, aggregate: Aggregate) -> None:
            cast(MemoFund, aggregate).beneficiaries[self.person_id] = {"since": self.on, "reference": self.reference}

    class ReferralRecorded(Aggregate.Event):
        """A claim's part above the ceiling, referred to this (supplementary) fund."""

        region: str
        on: date
        fund: str
        claim_id: str
        person_id: str
        referred_fen: int

        def apply(self, aggregate: Aggregate) -> None:
            cast(MemoFund, aggregate).referrals[self.claim_id] = {"person_id": self.person_id, "referred_fen": self.referred_fen,
                                                                  "paid_fen": 0}

    class ReferralCancelled(Aggregate.Event):
        """The referred claim was reversed before the fund paid anything on it (``referred_fen``
        is the change: minus what had been referred)."""

        region: str
        on: date
        fund: str
        claim_id: str
        person_id: str
        correction_id: str
        referred_fen: int

        def apply(self, aggregate: Aggregate) -> None:
            cast(MemoFund, aggregate).referrals.pop(self.claim_id, None)

    def referral_left_fen(self, claim_id: str) -> int:
        referral = self.referrals.get(claim_id)
        return 0 if referral is None else referral["referred_fen"] - referral["paid_fen"]

    class IncomeRecorded(MoneyEvent):
        pass

    class ExpenditureRecorded(MoneyEvent):
        pass

    def record_money(self, event_class: type[MoneyEvent], postings: Postings, **kwargs: Any) -> None:
        own = {acc.memo_fund_account(self.name), acc.memo_bank_account(self.name)}
        for posting in postings:
            if posting["account"] not in own:
                raise ScopeViolation("fund", f"memo fund {self.name} may only post to its own accounts, not {posting['account']}", region=self.region)
        change_fen = acc.fund_balance_fen(postings, acc.memo_fund_account(self.name))
        if self.balance_fen + change_fen < 0:
            raise InsufficientBalance("amount_fen", f"memo fund {self.name} holds {self.balance_fen} fen", region=self.region, fund=self.name)
        self.trigger_event(event_class, region=self.region, postings=postings, **kwargs)


class InterestRateBook(Aggregate):
    """The announced deposit rates (national), by effective date."""

    class Opened(Aggregate.Created):
        pass

    def __init__(self) -> None:
        self.announcements: list[dict[str, Any]] = []

    @staticmethod
    def id_for() -> UUID:
        return business_id("interest-rates", "national")

    class RatesAnnounced(Aggregate.Event):
        announcement_id: str
        effective_from: date
        demand_rate: Decimal
        three_month_rate: Decimal
        three_year_rate: Decimal

        def apply(self, aggregate: Aggregate) -> None:
            cast(InterestRateBook, aggregate).announcements.append({
                "announcement_id": self.announcement_id, "effective_from": self.effective_from,
                "demand_rate": self.demand_rate, "three_month_rate": self.three_month_rate,
                "three_year_rate": self.three_year_rate,
            })


class InterestRun(Aggregate):
    """One part of a region's year-end interest run, credited chunk by chunk
    (``ledger.interest_posting``): the accounts whose id falls in part ``part`` of ``parts``
    (``ledger.interest_workers``), how far the part has gone in the order of enrolment (the log
    position of the last enrolment a chunk covered) and what its chunks credited. Each chunk's
    event is saved in the same transaction as the chunk's credits, so a run stopped at any point
    (``kill -9`` included) starts again after the last chunk saved, with that chunk's totals,
    and no account is paid twice or left out. A run's parts, rates and day basis are fixed when it
    first starts."""

    class Started(Aggregate.Created):
        """The run's figures as it first started: its parts, and the rates and day basis every
        account and the deposits are computed with, however late the run finishes."""

        region: str
        year: int
        part: int
        parts: int
        announced: list[dict[str, Any]]  # effective_from, demand_rate, three_month_rate, three_year_rate
        day_basis: int

    def __init__(self, region: str, year: int, part: int, parts: int, announced: list[dict[str, Any]], day_basis: int) -> None:
        self.region = region
        self.year = year
        self.part = part
        self.parts = parts
        self.announced = announced
        self.day_basis = day_basis
        self.through_position = 0
        self.chunks = 0
        self.accounts_credited = 0
        self.interest_fen = 0

    @staticmethod
    def id_for(region: str, year: int, part: int) -> UUID:
        return business_id("interest-run", region, str(year), str(part))

    class ChunkCredited(Aggregate.Event):
        """The accounts enrolled up to log position ``through_position`` are done: ``accounts_credited``
        of them credited with ``interest_fen`` in all (the others closed, already credited or
        earning nothing)."""

        through_position: int
        accounts_seen: int
        accounts_credited: int
        interest_fen: int

        def apply(self, aggregate: Aggregate) -> None:
            run = cast(InterestRun, aggregate)
            run.through_position = self.through_position
            run.chunks += 1
            run.accounts_credited += self.accounts_credited
            run.interest_fen += self.interest_fen


class Transfer(Aggregate):
    """A personal account moving between regions (Social Insurance Law art. 32): out in the old
    region, in transit, then in the new one. Contribution months travel with it."""

    class Started(Aggregate.Created):
        transfer_id: str
        person_id: str
        from_region: str
        to_region: str
        amount_fen: int
        contribution_months: int
        birth_date: date
        category: str
        on: date

    def __init__(self, transfer_id: str, person_id: str, from_region: str, to_region: str, amount_fen: int,
                 contribution_months: int, birth_date: date, category: str, on: date) -> None:
        self.transfer_id = transfer_id
        self.person_id = person_id
        self.from_region = from_region
        self.to_region = to_region
        self.amount_fen = amount_fen
        self.contribution_months = contribution_months
        self.birth_date = birth_date
        self.category = category
        self.started_on = on
        self.landed_on: date | None = None

    @staticmethod
    def id_for(transfer_id: str) -> UUID:
        return business_id("transfer", "any", transfer_id)

    class Landed(Aggregate.Event):
        on: date

        def apply(self, aggregate: Aggregate) -> None:
            cast(Transfer, aggregate).landed_on = self.on


class ClearingPosition(Aggregate):
    """What ``debtor_region`` owes ``creditor_region`` for cross-region direct settlement."""

    class Opened(Aggregate.Created):
        creditor_region: str
        debtor_region: str

    def __init__(self, creditor_region: str, debtor_region: str) -> None:
        self.creditor_region = creditor_region
        self.debtor_region = debtor_region
        self.owed_fen = 0

    @staticmethod
    def id_for(creditor_region: str, debtor_region: str) -> UUID:
        return business_id("clearing", creditor_region, debtor_region)

    class ClaimAdvanced(Aggregate.Event):
        """The creditor region paid (owes its hospital) a bill of the debtor region's insured."""

        region: str
        on: date
        claim_id: str
        amount_fen: int
        postings: Postings

        def apply(self, aggregate: Aggregate) -> None:
            cast(ClearingPosition, aggregate).owed_fen += self.amount_fen

    class Settled(Aggregate.Event):
        on: date
        clearing_id: str
        amount_fen: int

        def apply(self, aggregate: Aggregate) -> None:
            cast(ClearingPosition, aggregate).owed_fen -= self.amount_fen


class Budget(Aggregate):
    """A region's budget for one fund and year (预算): approved, then adjusted, per item."""

    class Opened(Aggregate.Created):
        region: str
        fund: str
        year: int

    def __init__(self, region: str, fund: str, year: int) -> None:
        self.region = region
        self.fund = fund
        self.year = year
        self.lines_fen: dict[str, int] = {}
        self.is_approved = False

    @staticmethod
    def id_for(region: str, fund: str, year: int) -> UUID:
        return business_id("budget", region, fund, str(year))

    class BudgetSet(Aggregate.Event):
        region: str
        year: int
        fund: str
        on: date
        budget_id: str
        budget_kind: str
        budget_lines: list[dict[str, Any]]

        def apply(self, aggregate: Aggregate) -> None:
            budget = cast(Budget, aggregate)
            budget.is_approved = True
            for line in self.budget_lines:
                budget.lines_fen[line["item"]] = line["amount_fen"]
