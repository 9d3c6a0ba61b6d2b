"""Event-sourced aggregates: the region's policy book, personal accounts, pooled funds, and the
records of remittances and claims that make business ids idempotent.

Every event that moves money carries ``postings`` (see ``ledger.accounts``) that sum to zero,
and the business ``on`` date it is booked on. An aggregate only ever posts to its own fund
account: a personal account to ``fund.personal`` (its own sub-ledger), the pooled fund to
``fund.pooled``. That is how the ledger keeps the two from paying each other's items.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as AggregateSnapshot

from ledger import accounts as acc
from ledger.errors import (
    AccountClosed,
    CeilingExceeded,
    InsufficientBalance,
    PeriodClosed,
    PolicyError,
    PooledFundShortfall,
    ScopeViolation,
    SnapshotUnusable,
)
from ledger.interest import DatedChanges
from ledger.policy import PolicyVersion, policy_from_stored

ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://fund-ledger.example/ids")


@lru_cache(maxsize=1 << 18)
def business_id(kind: str, region: str, *parts: str) -> UUID:
    """Deterministic aggregate id from business ids: the same inputs, the same id, always.
    (Cached: a remittance line's account id is asked for several times per message, and a
    uuid5 costs a SHA-1.)"""
    return uuid5(ID_NAMESPACE, "/".join((kind, region, *parts)))


Postings = list[dict[str, Any]]


def _check_scope(postings: Postings, own_fund: str, other_fund: str, who: dict[str, Any]) -> None:
    for posting in postings:
        if posting["account"] == other_fund:
            raise ScopeViolation(
                "postings", f"{own_fund} may not post to {other_fund} (不得互相挤占)", **who
            )


class PolicyBook(Aggregate):
    """A pooling region and the policy versions it adopted, by effective date."""

    class Opened(Aggregate.Created):
        region: str
        region_name: str
        opened_on: date | None

    def __init__(self, region: str, region_name: str, opened_on: date | None = None) -> None:
        self.region = region
        self.region_name = region_name
        self.opened_on = opened_on  # None (books opened before it was recorded): the first version's date
        self.versions: list[dict[str, Any]] = []
        self.last_closed_year = 0
        self.final_balances: dict[str, dict[str, int]] = {}

    @staticmethod
    def id_for(region: str) -> UUID:
        return business_id("policy-book", region)

    class PolicyAdopted(Aggregate.Event):
        """A version adopted: its parameters, and the fen figures it derives (``derived``, from
        ``PolicyVersion.derived_figures``; absent on events recorded before it existed)."""

        version: str
        effective_from: date
        parameters: dict[str, Any]
        derived: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            book = cast(PolicyBook, aggregate)
            book.versions.append({"version": self.version, "effective_from": self.effective_from, "parameters": self.parameters})
            book.versions.sort(key=lambda v: v["effective_from"])

    def adopt(self, version: PolicyVersion, parameters: dict[str, Any]) -> None:
        self.trigger_event(self.PolicyAdopted, version=version.version, effective_from=version.effective_from, parameters=parameters,
                           derived=version.derived_figures())

    class YearClosed(Aggregate.Event):
        """Year-end close: no posting dated in ``closed_year`` or before is accepted after it.
        ``region`` names the region whose current-year money becomes carried over (the
        projections fold it like any regional event; events recorded before it had a region
        carry none)."""

        region: str
        closed_year: int
        on: date
        final_balances_fen: dict[str, int]

        def apply(self, aggregate: Aggregate) -> None:
            book = cast(PolicyBook, aggregate)
            book.last_closed_year = self.closed_year
            book.final_balances[str(self.closed_year)] = self.final_balances_fen

    def close_year(self, year: int, on: date, final_balances_fen: dict[str, int]) -> None:
        if year != self.last_closed_year + 1 and self.last_closed_year:
            raise PeriodClosed("year", f"years close in order: the next to close is {self.last_closed_year + 1}", region=self.region, year=year)
        self.trigger_event(self.YearClosed, region=self.region, closed_year=year, on=on, final_balances_fen=final_balances_fen)

    def check_open(self, on: date, field: str = "on") -> None:
        """A closed year accepts no new postings (corrections are new events dated now)."""
        if on.year <= self.last_closed_year:
            raise PeriodClosed(field, f"{on} is in a closed year (closed through {self.last_closed_year})", region=self.region, on=on)

    @property
    def opening_date(self) -> date | None:
        """No business date of the region may be earlier (``ledger.bounds``)."""
        if self.opened_on is not None:
            return self.opened_on
        return self.versions[0]["effective_from"] if self.versions else None

    def version_for_checks(self, on: date) -> PolicyVersion:
        """The version whose limits and date rules judge a command dated ``on``: the one in force,
        or the first one for a date before any (the command is refused either way)."""
        if self.versions and on < self.versions[0]["effective_from"]:
            return self.in_force(self.versions[0]["effective_from"])
        return self.in_force(on)

    def has_version(self, version: str) -> bool:
        return any(v["version"] == version for v in self.versions)

    def in_force(self, on: date) -> PolicyVersion:
        """The version in force on ``on``: the latest whose effective date is not after it."""
        chosen = None
        for stored in self.versions:
            if stored["effective_from"] <= on:
                chosen = stored
        if chosen is None:
            raise PolicyError("on", f"no policy of region {self.region} is in force on {on}", region=self.region, on=on)
        parsed = self.__dict__.setdefault("_parsed", {})
        if chosen["version"] not in parsed:
            parsed[chosen["version"]] = policy_from_stored(chosen["parameters"])
        return cast(PolicyVersion, parsed[chosen["version"]])


class PersonalAccount(Aggregate):
    """An insured person and their personal account (个人账户). Never below zero."""

    # 2: ``interest_settled_to``, the day from which the account's interest is still unpaid.
    # 3: ``category_history``, the category in force from each date.
    class_version = 3
    interest_settled_to: date | None = None

    class Enrolled(Aggregate.Created):
        region: str
        person_id: str
        category: str
        birth_date: date
        employer_id: str
        enrolled_on: date
        pension_fen: int
        contribution_months_elsewhere: int = 0  # 0 on events recorded before it existed
        contribution_history_reference: str = ""

    def __init__(self, region: str, person_id: str, category: str, birth_date: date, employer_id: str, enrolled_on: date,
                 pension_fen: int, contribution_months_elsewhere: int = 0, contribution_history_reference: str = "") -> None:
        self.region = region
        self.person_id = person_id
        self.category = category
        self.birth_date = birth_date
        self.employer_id = employer_id
        self.enrolled_on = enrolled_on
        self.pension_fen = pension_fen
        # The employer of record (or re-employment service centre) from each date on.
        self.employer_history: list[tuple[date, str]] = [(enrolled_on, employer_id)]
        # The category from each date (``category_on``): a change is recorded ahead of its day (a
        # retirement announced) or after it, and each rule asks what held on its date. (The
        # pension, personal data sealed in snapshots, is kept as the latest only.)
        self.category_history: list[tuple[date, str]] = [(enrolled_on, category)]
        self.balance_fen = 0
        self.credited_by_origin_fen: dict[str, int] = {}
        self.admissions_by_year: dict[str, int] = {}
        self.pooled_paid_by_year_fen: dict[str, int] = {}
        # Deductible paid so far, per "year/scope" ("2024/inpatient", "2024/serious:<code>"): what
        # a yearly cumulative deductible has met.
        self.deductible_met_fen: dict[str, int] = {}
        self.movements = DatedChanges()  # (on, change_fen) in recording order: the basis of interest
        # Months recorded, a bit mask per year (bit 0: January): contributions paid (each period
        # once: they count as contribution months) and retiree credits (each period once).
        self.contributed_months_by_year: dict[str, int] = {}
        self.retiree_credited_months_by_year: dict[str, int] = {}
        self.months_brought = contribution_months_elsewhere  # contribution months earned elsewhere (enrolment, transfers in)
        self.months_taken_away = 0  # months that left with a transfer out
        # The year-end interest credited, per year: an account's credit for a year is what makes
        # a year's interest run pay it once however often the run is started (interest_posting).
        self.year_end_interest_fen: dict[str, int] = {}
        # Interest is paid for every day before this one (None: none paid yet): moved on by each
        # interest credit, to the end of its basis, and by a close (death, transfer out), which
        # settles the interest up to its day. A later credit starts here, so no day is paid twice.
        self.interest_settled_to: date | None = None
        self.is_closed = False
        self.closed_reason = ""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before ``interest_settled_to``: what it would hold cannot be told
        from the state (a close's settlement, a year-end credit), so the account is folded from
        its events instead, and the next snapshot holds it."""
        raise SnapshotUnusable("outdated", "taken before PersonalAccount kept the day its interest is paid to")

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A snapshot taken before ``category_history``: its changes' dates are not in the state,
        so the account is folded from its events instead."""
        raise SnapshotUnusable("outdated", "taken before PersonalAccount kept its categories by date")

    def category_on(self, day: date) -> str:
        """The category in force on ``day``: the latest change dated on or before it (before
        the first, as enrolled); of changes of the same date, the last recorded."""
        history = self.category_history
        in_force = history[0][1]
        if len(history) > 1:
            for on, category in sorted(history, key=lambda entry: entry[0]):
                if on > day:
                    break
                in_force = category
        return in_force

    def settle_interest_to(self, day: date) -> None:
        if self.interest_settled_to is None or day > self.interest_settled_to:
            self.interest_settled_to = day

    def interest_unpaid_from(self, day: date) -> date:
        """The first day on or after ``day`` whose interest is not paid yet."""
        settled_to = self.interest_settled_to
        return day if settled_to is None or settled_to <= day else settled_to

    @staticmethod
    def id_for(region: str, person_id: str) -> UUID:
        return business_id("personal-account", region, person_id)

    class Snapshot(AggregateSnapshot):
        """An account's state at a version (``ledger.unit_of_work`` takes them in bulk), so that a
        process which does not hold the account reads it and only the events after it. The
        employer history's entries, lists in the stored JSON, are tuples again (sorted with
        those appended later)."""

        def mutate(self, _: None) -> PersonalAccount:
            account = cast(PersonalAccount, super().mutate(None))
            account.employer_history = [(on, employer) for on, employer in account.employer_history]
            account.category_history = [(on, category) for on, category in account.category_history]
            return account

    @property
    def who(self) -> dict[str, Any]:
        return {"region": self.region, "person_id": self.person_id}

    @property
    def contribution_months(self) -> int:
        """Distinct periods contributed here, plus the months brought from elsewhere, less those
        that left with a transfer (Social Insurance Law art. 32: contribution years accumulate)."""
        here = sum(mask.bit_count() for mask in self.contributed_months_by_year.values())
        return here + self.months_brought - self.months_taken_away

    def has_contributed(self, period: str) -> bool:
        year, bit = _month_bit(period)
        return bool(self.contributed_months_by_year.get(year, 0) & bit)

    def employers_of_record(self, first_day: date, last_day: date) -> list[str]:
        """Who may pay for the days ``first_day`` to ``last_day``: the employer of record on the
        first day, and any employer recorded from a later day within them (in the month an
        employee changes employer, either may pay it, once)."""
        if len(self.employer_history) == 1:  # most people: one employer since enrolment
            return [self.employer_history[0][1]]
        history = sorted(self.employer_history)
        on_first_day = next((employer for on, employer in reversed(history) if on <= first_day), history[0][1])
        later = [employer for on, employer in history if first_day < on <= last_day]
        return list(dict.fromkeys([on_first_day, *later]))

    def has_retiree_credit(self, period: str) -> bool:
        year, bit = _month_bit(period)
        return bool(self.retiree_credited_months_by_year.get(year, 0) & bit)

    class MoneyEvent(Aggregate.Event):
        """An event that moves money in the person's account."""

        region: str
        on: date
        origin: str
        postings: Postings

        def apply(self, aggregate: Aggregate) -> None:
            account = cast(PersonalAccount, aggregate)
            delta_fen = acc.fund_balance_fen(self.postings, acc.FUND_PERSONAL)
            account.balance_fen += delta_fen
            if delta_fen:
                account.movements.append(self.on, delta_fen)
                if self.on.year >= cast(int, account.movements.first_year) + 2:
                    # Keep last year and this year as they were (interest for last year may
                    # still be posted); fold everything older into one carried-over movement.
                    account.movements = account.movements.compacted(date(self.on.year - 1, 1, 1))
            origins = account.credited_by_origin_fen
            for origin, amount_fen in self.credits_by_origin(delta_fen).items():
                origins[origin] = origins.get(origin, 0) + amount_fen
            self.apply_details(account)

        def credits_by_origin(self, delta_fen: int) -> dict[str, int]:
            """Where the money credited by this event came from: the ``origin`` of its credit
            postings to the person's account (for the balance by origin)."""
            origins: dict[str, int] = {}
            for posting in self.postings:
                if posting["account"] == acc.FUND_PERSONAL and posting["amount_fen"] < 0:
                    origin = posting.get("origin") or self.origin
                    origins[origin] = origins.get(origin, 0) - posting["amount_fen"]
            return origins

        def apply_details(self, account: PersonalAccount) -> None:
            pass

    class LineShares(MoneyEvent):
        """A remittance line's shares for a period (the base of the two events below)."""

        remittance_id: str
        period: str
        wage_base_fen: int
        employee_fen: int
        employer_to_personal_fen: int
        employer_to_pooled_fen: int

        def pays_contribution(self) -> bool:
            """A contribution paid, whatever reached the account: a tiny base's line may round to
            nothing for the account and a fen for the pooled fund, and the month is still paid
            (events recorded before corrections carry no pooled part). A retiree's line pays
            nothing and is credited instead."""
            return bool(self.employee_fen or self.employer_to_personal_fen or getattr(self, "employer_to_pooled_fen", 0))

    class ContributionCredited(LineShares):
        """A remittance line credited (events recorded before corrections existed carry neither
        ``wage_base_fen`` nor ``employer_to_pooled_fen``)."""

        retiree_credit_fen: int

        def apply_details(self, account: PersonalAccount) -> None:
            if self.pays_contribution():
                _mark_month(account.contributed_months_by_year, self.period)
            if self.retiree_credit_fen:
                _mark_month(account.retiree_credited_months_by_year, self.period)

    class RetireeCredited(MoneyEvent):
        """A retiree's monthly credit from the pooled fund, by the region's monthly run (not by a
        remittance line): each period once."""

        reference: str
        period: str
        retiree_credit_fen: int

        def apply_details(self, account: PersonalAccount) -> None:
            _mark_month(account.retiree_credited_months_by_year, self.period)

    class ContributionCorrected(LineShares):
        """A line of ``remittance_id`` corrected to ``wage_base_fen``: each share's difference
        (negative: taken back). The period still counts once."""

        correction_id: str

    class ClaimPaid(MoneyEvent):
        claim_id: str
        kind: str
        account_fen: int

    class InpatientClaimRecorded(MoneyEvent):
        claim_id: str
        year: int
        pooled_fen: int
        account_fen: int
        deductible_fen: int = 0  # 0 on events recorded before it was kept

        def apply_details(self, account: PersonalAccount) -> None:
            key = str(self.year)
            account.admissions_by_year[key] = account.admissions_by_year.get(key, 0) + 1
            account.count_benefit(self.year, "inpatient", self.pooled_fen, self.deductible_fen)

    class SeriousOutpatientClaimRecorded(MoneyEvent):
        """An outpatient bill for a serious or chronic condition the pooled fund pays: what the
        account paid; the pooled part counts towards the ceiling, the deductible towards the
        condition's yearly deductible."""

        claim_id: str
        year: int
        condition_code: str
        pooled_fen: int
        account_fen: int
        deductible_fen: int

        def apply_details(self, account: PersonalAccount) -> None:
            account.count_benefit(self.year, f"serious:{self.condition_code}", self.pooled_fen, self.deductible_fen)

    class ClaimReversed(MoneyEvent):
        """A correction, dated when it is made, of a claim paid earlier: what the account paid
        comes back, and an inpatient claim no longer counts towards the admissions and the
        ceiling of its year."""

        claim_id: str
        correction_id: str
        year: int
        pooled_fen: int
        account_fen: int
        was_inpatient: bool
        deductible_scope: str = ""  # "inpatient", "serious:<code>"; "" on events recorded before it was kept
        deductible_fen: int = 0

        def apply_details(self, account: PersonalAccount) -> None:
            key = str(self.year)
            if self.was_inpatient:
                account.admissions_by_year[key] = account.admissions_by_year.get(key, 0) - 1
            account.count_benefit(self.year, self.deductible_scope or "inpatient", -self.pooled_fen, -self.deductible_fen)

    class InterestCredited(MoneyEvent):
        """Interest credited by the three-rate rule: the year's, on 31 December, or what an account
        that closes earned up to the day it closes (销户结息)."""

        year: int
        interest_fen: int
        basis: list[dict[str, Any]]

        @property
        def is_year_end(self) -> bool:
            """The year's own credit: its basis runs to the year's end (a closing account's stops
            at the day it closes, at the latest 31 December)."""
            return bool(self.basis) and self.basis[-1]["to_exclusive"] == date(self.year + 1, 1, 1).isoformat()

        def apply_details(self, account: PersonalAccount) -> None:
            if self.is_year_end:
                account.year_end_interest_fen[str(self.year)] = self.interest_fen
            if self.basis:
                account.settle_interest_to(date.fromisoformat(self.basis[-1]["to_exclusive"]))

    class TransferredOut(MoneyEvent):
        """The whole balance leaves for another region; the account closes here."""

        transfer_id: str
        to_region: str
        amount_fen: int
        person_id: str = ""  # "" on events recorded before it was kept
        contribution_months_out: int = 0  # the months that leave with the person

        def apply_details(self, account: PersonalAccount) -> None:
            account.is_closed = True
            account.closed_reason = f"transferred to {self.to_region}"
            account.settle_interest_to(self.on)  # the close settled what it earned before this day
            account.months_taken_away += account.contribution_months  # they travel with the person

    class TransferredIn(MoneyEvent):
        transfer_id: str
        from_region: str
        amount_fen: int
        contribution_months: int
        person_id: str = ""  # "" on events recorded before it was kept

        def apply_details(self, account: PersonalAccount) -> None:
            account.months_brought += self.contribution_months

    class Inherited(MoneyEvent):
        """Death: the balance is paid to the heirs and the account closes."""

        died_on: date
        heirs_reference: str
        amount_fen: int

        def apply_details(self, account: PersonalAccount) -> None:
            account.is_closed = True
            account.closed_reason = f"deceased {self.died_on.isoformat()}"
            account.settle_interest_to(self.on)  # the close settled what it earned before this day

    class Reopened(Aggregate.Event):
        """A person who left by transfer comes back: the same account opens again."""

        on: date
        transfer_id: str

        def apply(self, aggregate: Aggregate) -> None:
            account = cast(PersonalAccount, aggregate)
            account.is_closed = False
            account.closed_reason = ""

    def reopen_on_return(self, on: date, transfer_id: str) -> None:
        if not self.closed_reason.startswith("transferred"):
            raise AccountClosed("person_id", f"the personal account is closed ({self.closed_reason})", **self.who)
        self.trigger_event(self.Reopened, on=on, transfer_id=transfer_id)

    class CategoryChanged(Aggregate.Event):
        on: date
        category: str
        employer_id: str
        pension_fen: int

        def apply(self, aggregate: Aggregate) -> None:
            account = cast(PersonalAccount, aggregate)
            account.category_history.append((self.on, self.category))
            account.category = account.category_on(date.max)  # the latest dated, whatever the order recorded
            account.pension_fen = self.pension_fen
            account.employer_id = self.employer_id
            account.employer_history.append((self.on, self.employer_id))

    def count_benefit(self, year: int, scope: str, pooled_fen: int, deductible_fen: int) -> None:
        """A benefit settled (or, negative, reversed): the pooled fund's payments count towards
        the year's ceiling, the deductible paid towards a yearly cumulative deductible."""
        key = str(year)
        self.pooled_paid_by_year_fen[key] = self.pooled_paid_by_year_fen.get(key, 0) + pooled_fen
        if deductible_fen:
            self.deductible_met_fen[f"{key}/{scope}"] = self.deductible_met_fen.get(f"{key}/{scope}", 0) + deductible_fen

    def deductible_met_in(self, year: int, scope: str) -> int:
        return self.deductible_met_fen.get(f"{year}/{scope}", 0)

    def admissions_in(self, year: int) -> int:
        return self.admissions_by_year.get(str(year), 0)

    def pooled_paid_in(self, year: int) -> int:
        return self.pooled_paid_by_year_fen.get(str(year), 0)

    def has_year_end_interest(self, year: int) -> bool:
        return str(year) in self.year_end_interest_fen

    def check_open(self) -> None:
        if self.is_closed:
            raise AccountClosed("person_id", f"the personal account is closed ({self.closed_reason})", **self.who)

    def record_money(self, event_class: type[MoneyEvent], postings: Postings, **kwargs: Any) -> None:
        """Trigger a money event after checking the invariants it must keep."""
        self.check_open()
        _check_scope(postings, acc.FUND_PERSONAL, acc.FUND_POOLED, self.who)
        delta_fen = acc.fund_balance_fen(postings, acc.FUND_PERSONAL)
        if self.balance_fen + delta_fen < 0:
            raise InsufficientBalance(
                "amount_fen", "the personal account may never go below zero",
                balance_fen=self.balance_fen, change_fen=delta_fen, **self.who,
            )
        for posting in postings:
            if posting["account"] == acc.FUND_PERSONAL and posting["person_id"] != self.person_id:
                raise ScopeViolation("postings", "posting to another person's account", **self.who)
        self.trigger_event(event_class, region=self.region, postings=postings, **kwargs)

    def change_category(self, on: date, category: str, employer_id: str, pension_fen: int) -> None:
        self.check_open()
        self.trigger_event(self.CategoryChanged, on=on, category=category, employer_id=employer_id, pension_fen=pension_fen)


def _month_bit(period: str) -> tuple[str, int]:
    """A period ``YYYY-MM`` as (year, its month's bit in the year's mask)."""
    return period[:4], 1 << (int(period[5:7]) - 1)


def _mark_month(months_by_year: dict[str, int], period: str) -> None:
    year, bit = _month_bit(period)
    months_by_year[year] = months_by_year.get(year, 0) | bit


class PooledFund(Aggregate):
    """A region's pooled fund (统筹基金). One event per remittance, not per line."""

    # 2: the bank movements are kept per event (``bank_entries``), so that money moved between
    # two of the fund's accounts keeps its age for interest (``interest.deposit_interest``); what
    # the fiscal budget owes for deficits it covers (``fiscal_receivable_fen``).
    # 3: the interest advanced to closing accounts, per year (``interest_advanced_fen``).
    class_version = 3

    class Opened(Aggregate.Created):
        region: str

    def __init__(self, region: str) -> None:
        self.region = region
        self.balance_fen = 0
        # The region's bank deposits (income, fiscal special, expenditure): every bank posting
        # of the basic fund is on a pooled-fund event, so the fund knows what the banks hold.
        self.bank_balances_fen: dict[str, int] = {}
        self.bank_entries: list[tuple[date, dict[str, int]]] = []  # (on, change per bank account), per event
        self.fiscal_receivable_fen = 0  # deficits the fiscal budget will cover, not yet received
        # Interest paid to accounts as they closed, per year it was paid in: the pooled fund
        # advanced it, and that year's deposit interest pays it back (``interest_posting``).
        self.interest_advanced_fen: dict[str, int] = {}

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before ``bank_entries``: its per-account movements, one entry each,
        in date order (which of them were moves between the fund's accounts is not known); and
        before deficits could be receivable from the fiscal budget (none)."""
        state.setdefault("fiscal_receivable_fen", 0)
        movements = state.pop("bank_movements", {})
        state["bank_entries"] = sorted(((on, {account: change_fen}) for account, listed in movements.items()
                                        for on, change_fen in listed), key=lambda entry: entry[0])

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A snapshot taken before ``interest_advanced_fen``: the advances before it are not in
        the state, so the fund is folded from its events instead, and the next snapshot holds them."""
        raise SnapshotUnusable("outdated", "taken before PooledFund kept the interest it advanced to closing accounts")

    def interest_advanced_in(self, year: int) -> int:
        return self.interest_advanced_fen.get(str(year), 0)

    @staticmethod
    def id_for(region: str) -> UUID:
        return business_id("pooled-fund", region)

    class MoneyEvent(Aggregate.Event):
        region: str
        on: date
        postings: Postings

        def apply(self, aggregate: Aggregate) -> None:
            fund = cast(PooledFund, aggregate)
            fund.balance_fen += acc.fund_balance_fen(self.postings, acc.FUND_POOLED)
            fund.fiscal_receivable_fen -= acc.fund_balance_fen(self.postings, acc.RECEIVABLE_FISCAL_BUDGET)
            changes = bank_changes(self.postings)
            for account, change_fen in changes.items():
                fund.bank_balances_fen[account] = fund.bank_balances_fen.get(account, 0) + change_fen
            if changes:
                fund.bank_entries.append((self.on, changes))

    class ContributionsReceived(MoneyEvent):
        remittance_id: str
        period: str
        pooled_fen: int
        retiree_credit_fen: int

    class RetireesCredited(MoneyEvent):
        """The pooled fund's side of a monthly retiree credit run."""

        period: str
        retirees: int
        retiree_credit_fen: int

    class LateContributionsReceived(ContributionsReceived):
        """A late payment (补缴): its contributions, and its late fee as other income."""

        late_fee_fen: int
        days_late: int

    class ContributionsCorrected(MoneyEvent):
        """The region's side of a correction: the difference paid in (or refunded), the pooled
        part's difference, and a late fee on an underpayment found late."""

        correction_id: str
        remittance_id: str
        period: str
        difference_fen: int
        pooled_fen: int
        late_fee_fen: int

    class InpatientBenefitPaid(MoneyEvent):
        claim_id: str
        person_id: str
        pooled_fen: int

    class InpatientBenefitReversed(MoneyEvent):
        claim_id: str
        correction_id: str
        pooled_fen: int

    class SeriousOutpatientBenefitPaid(MoneyEvent):
        claim_id: str
        person_id: str
        condition_code: str
        pooled_fen: int

    class SeriousOutpatientBenefitReversed(MoneyEvent):
        claim_id: str
        correction_id: str
        pooled_fen: int

    class InterestPosted(MoneyEvent):
        year: int
        bank_interest_fen: int
        personal_accounts_fen: int
        pooled_fen: int
        basis: dict[str, Any]
        advanced_at_closes_fen: int = 0  # paid back to the pooled fund (0 on events before it was kept)

    class IncomeRecorded(MoneyEvent):
        income_id: str
        item: str
        amount_fen: int

    class ExpenditureRecorded(MoneyEvent):
        expenditure_id: str
        item: str
        amount_fen: int

    class MoneyMoved(MoneyEvent):
        movement_id: str
        kind: str
        amount_fen: int

    class PersonalAccountsSettled(MoneyEvent):
        """The bank side of a personal-account movement (transfer, inheritance), or the interest
        the pooled fund advances to a closing account (kind ``accrued_interest``, with the year
        it was earned in; 0 on events recorded before it was kept). An advance is paid back by
        the interest posting of the year it was paid in (``on``), so that each year's transfers
        net to nothing: last year's interest paid at a close in January, by this year's."""

        reference: str
        kind: str
        amount_fen: int
        year: int = 0

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)
            if self.kind == "accrued_interest":
                fund = cast(PooledFund, aggregate)
                paid_in = str(self.on.year)
                fund.interest_advanced_fen[paid_in] = fund.interest_advanced_fen.get(paid_in, 0) + self.amount_fen

    class CrossRegionBenefitPaid(MoneyEvent):
        claim_id: str
        person_id: str
        treating_region: str
        pooled_fen: int

    class ClearingSettled(MoneyEvent):
        clearing_id: str
        counterparty_region: str
        amount_fen: int

    class DeficitCovered(MoneyEvent):
        """A payment the pooled fund could not cover, where the region's policy allows a deficit:
        the shortfall is booked against a receivable from the fiscal budget (应收财政补贴)."""

        reference: str
        shortfall_fen: int

    def shortfall_fen(self, postings: Postings) -> int:
        """How much more than it holds the pooled fund would pay with ``postings`` (0: none)."""
        change_fen = acc.fund_balance_fen(postings, acc.FUND_POOLED)
        return max(0, -(self.balance_fen + change_fen)) if change_fen < 0 else 0

    def record_money(self, event_class: type[MoneyEvent], postings: Postings, **kwargs: Any) -> None:
        _check_scope(postings, acc.FUND_POOLED, acc.FUND_PERSONAL, {"region": self.region})
        shortfall_fen = self.shortfall_fen(postings)
        if shortfall_fen:
            payment_fen = -acc.fund_balance_fen(postings, acc.FUND_POOLED)
            raise PooledFundShortfall(
                "pooled_fen", f"the pooled fund holds {self.balance_fen} fen and cannot pay {payment_fen} fen: short by {shortfall_fen} fen "
                "(it may not pay with the personal accounts' money, 不得互相挤占)",
                region=self.region, shortfall_fen=shortfall_fen, balance_fen=self.balance_fen, payment_fen=payment_fen,
            )
        for account, change_fen in bank_changes(postings).items():
            held_fen = self.bank_balances_fen.get(account, 0)
            if held_fen + change_fen < 0:
                raise InsufficientBalance(
                    "amount_fen", f"{account} holds {held_fen} fen, cannot pay {-change_fen} fen",
                    region=self.region, account=account, balance_fen=held_fen,
                )
        self.trigger_event(event_class, region=self.region, postings=postings, **kwargs)


def bank_changes(postings: Postings) -> dict[str, int]:
    changes: dict[str, int] = {}
    for posting in postings:
        if posting["account"].startswith("bank."):
            changes[posting["account"]] = changes.get(posting["account"], 0) + posting["amount_fen"]
    return changes


class BusinessRecord(Aggregate):
    """The first outcome of a business id (remittance, claim, ...), kept so that the same id
    sent again returns it, and the same id with another payload is refused."""

    class Recorded(Aggregate.Created):
        region: str
        kind: str
        business_key: str
        fingerprint: str
        on: date
        outcome: dict[str, Any]
        postings: Postings

    def __init__(self, region: str, kind: str, business_key: str, fingerprint: str,
                 on: date, outcome: dict[str, Any], postings: Postings) -> None:
        self.region = region
        self.kind = kind
        self.business_key = business_key
        self.fingerprint = fingerprint
        self.on = on
        self.outcome = outcome

    @staticmethod
    def id_for(kind: str, region: str, business_key: str) -> UUID:
        return business_id(kind, region, business_key)


def check_ceiling(account: PersonalAccount, year: int, pooled_fen: int, ceiling_fen: int) -> None:
    """The pooled fund never pays one person more than the annual ceiling."""
    if account.pooled_paid_in(year) + pooled_fen > ceiling_fen:
        raise CeilingExceeded(
            "pooled_fen", "the pooled fund would pay above the annual ceiling",
            year=year, ceiling_fen=ceiling_fen, already_paid_fen=account.pooled_paid_in(year), **account.who,
        )


_MOVED_TO_RECORDS = ("MemoFund", "InterestRateBook", "Transfer", "ClearingPosition", "Budget")


def __getattr__(name: str) -> Any:
    """The aggregates that moved to ``ledger.records``: events and snapshots recorded when they
    lived here name them by their old topic (``ledger.aggregates:MemoFund.IncomeRecorded``), which
    the library resolves through this module."""
    if name in _MOVED_TO_RECORDS:
        from ledger import records

        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
