"""Interest by the product-sum method (积数计息) and the three-rate rule.

DOMAIN / Liao 1999 §II(5)6: money collected in the current year earns the demand deposit rate;
balances carried over from previous years earn the 3-month time deposit rate; money in the fiscal
special account earns the 3-year lump-sum savings rate. Interest is Σ daily balance × daily
rate, with the daily rate = annual rate ÷ ``interest_day_basis`` (360 in Chinese banking
practice; a policy parameter). A rate change inside the period splits the computation at the
change date. Each figure is rounded to the fen once, at the end (``ledger.money.round_fen``).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from ledger.money import round_fen
from ledger.rules import split_current_and_carried


@dataclass(frozen=True)
class Rates:
    """Announced annual rates in force from ``effective_from``."""

    effective_from: date
    demand_rate: Decimal
    three_month_rate: Decimal
    three_year_rate: Decimal


def rates_on(announced: Sequence[Rates], on: date) -> Rates | None:
    chosen = None
    for rates in sorted(announced, key=lambda r: r.effective_from):
        if rates.effective_from <= on:
            chosen = rates
    return chosen


def rate_segments(announced: Sequence[Rates], start: date, end_exclusive: date) -> list[tuple[date, date, Rates]]:
    """The period cut at every rate change: ``(from, to_exclusive, rates)``."""
    cuts = sorted({start, *(r.effective_from for r in announced if start < r.effective_from < end_exclusive)})
    segments = []
    for index, cut in enumerate(cuts):
        until = cuts[index + 1] if index + 1 < len(cuts) else end_exclusive
        rates = rates_on(announced, cut)
        if rates is None:
            raise ValueError(f"no interest rates announced for {cut}")
        segments.append((cut, until, rates))
    return segments


@dataclass(frozen=True)
class AccountInterest:
    """The interest of one personal account for a period, and its basis for an auditor."""

    interest_fen: int
    segments: list[dict[str, Any]]


Valued = TypeVar("Valued")


def value_dated(movements: Iterable[tuple[date, Valued]]) -> list[tuple[date, Valued]]:
    """Movements in the order they were recorded, each valued no earlier than the one before.

    A movement booked late (a claim settled after later contributions) takes value from its
    place in the account's history, so the balance the interest is computed on is the balance
    the ledger really held: never below zero, and never counted twice.
    """
    valued: list[tuple[date, Valued]] = []
    for on, change in movements:
        value_date = max(on, valued[-1][0]) if valued else on
        valued.append((value_date, change))
    return valued


def compact_movements(movements: list[tuple[date, int]], keep_from: date) -> list[tuple[date, int]]:
    """The same movements with everything valued before ``keep_from`` folded into one movement
    the day before it. Interest for any period from ``keep_from`` on is unchanged (that money is
    carried over either way), and an account's history in memory stays two years long however
    many years it lives."""
    valued = value_dated(movements)
    prefix = 0
    while prefix < len(valued) and valued[prefix][0] < keep_from:
        prefix += 1
    if prefix <= 1:
        return movements
    folded = (date.fromordinal(keep_from.toordinal() - 1), sum(change for _, change in valued[:prefix]))
    return [folded, *movements[prefix:]]


class DatedChanges:
    """A personal account's balance changes in the order they were recorded, each a business
    date and an amount in fen: the basis of its interest. Packed, a day number and an amount per
    change in one array (16 bytes a change, against some 120 for a tuple of a date and an int),
    since every account the consumer keeps at hand carries up to two years of them."""

    __slots__ = ("_packed",)

    def __init__(self, changes: Iterable[tuple[date, int]] = ()) -> None:
        self._packed = array("q")
        for on, change_fen in changes:
            self.append(on, change_fen)

    def append(self, on: date, change_fen: int) -> None:
        self._packed.append(on.toordinal())
        self._packed.append(change_fen)

    def __iter__(self) -> Iterator[tuple[date, int]]:
        packed = self._packed
        for index in range(0, len(packed), 2):
            yield date.fromordinal(packed[index]), packed[index + 1]

    def __len__(self) -> int:
        return len(self._packed) // 2

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DatedChanges):
            return self._packed == other._packed
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"DatedChanges({list(self)!r})"

    def packed(self) -> list[int]:
        """Day number and amount of each change, in turn (what a snapshot stores)."""
        return self._packed.tolist()

    @classmethod
    def from_packed(cls, values: Sequence[int]) -> DatedChanges:
        if len(values) % 2:
            raise ValueError("dated changes come in pairs: a day number and an amount in fen")
        changes = cls()
        changes._packed.extend(values)
        return changes

    @property
    def first_year(self) -> int | None:
        return date.fromordinal(self._packed[0]).year if self._packed else None

    def compacted(self, keep_from: date) -> DatedChanges:
        """``compact_movements`` of these changes."""
        return DatedChanges(compact_movements(list(self), keep_from))


def personal_account_interest(
    movements: Iterable[tuple[date, int]], announced: Sequence[Rates], start: date, end_exclusive: date, day_basis: int
) -> AccountInterest:
    """Three-rate product sum for a personal account over ``[start, end_exclusive)``.

    The balance at the start of the period is carried over; credits in the period are current
    year money; payments draw on carried-over money first (``rules.split_current_and_carried``).
    A movement valued ``d`` (see ``value_dated``) counts in the balance of day ``d``.
    """
    ordered = value_dated(movements)
    carried_fen = sum(change for on, change in ordered if on < start)
    current_fen = 0
    in_period = [(on, change) for on, change in ordered if start <= on < end_exclusive]
    segments = []
    exact_interest = Decimal(0)
    index = 0
    for seg_from, seg_to, rates in rate_segments(announced, start, end_exclusive):
        carried_days = current_days = 0
        day = seg_from
        while day < seg_to:
            while index < len(in_period) and in_period[index][0] <= day:
                carried_fen, current_fen = split_current_and_carried(carried_fen, current_fen, in_period[index][1])
                index += 1
            # The balance holds until the next movement (always after ``day``) or the segment end.
            until = min(in_period[index][0], seg_to) if index < len(in_period) else seg_to
            days = (until - day).days
            carried_days += carried_fen * days
            current_days += current_fen * days
            day = until
        seg_interest = (Decimal(current_days) * rates.demand_rate + Decimal(carried_days) * rates.three_month_rate) / day_basis
        exact_interest += seg_interest
        segments.append({
            "from": seg_from.isoformat(), "to_exclusive": seg_to.isoformat(), "days": (seg_to - seg_from).days,
            "current_year_balance_days_fen": current_days, "carried_over_balance_days_fen": carried_days,
            "demand_rate": str(rates.demand_rate), "three_month_rate": str(rates.three_month_rate),
            "day_basis": day_basis, "interest_exact_fen": str(seg_interest),
        })
    return AccountInterest(round_fen(exact_interest), segments)


BankEntry = tuple[date, Mapping[str, int]]  # (business date, change of each bank account in fen)


@dataclass
class _AgedBalances:
    """What the fund's bank accounts hold, each split into carried-over and this year's money."""

    carried_fen: dict[str, int]
    current_fen: dict[str, int]

    def apply(self, changes: Mapping[str, int]) -> None:
        """A movement between two of the fund's own accounts (one debit, one credit of the same
        amount) keeps the money's age: what leaves the one, carried-over money first, arrives in
        the other as old as it was. Any other movement's credits are this year's money; its
        debits draw on carried-over money first (``rules.split_current_and_carried``)."""
        debits = {account: -change for account, change in changes.items() if change < 0}
        credits = {account: change for account, change in changes.items() if change > 0}
        is_move = len(debits) == len(credits) == 1 and sum(debits.values()) == sum(credits.values())
        moved_carried_fen = 0
        for account, amount_fen in debits.items():
            carried_before_fen = self.carried_fen.get(account, 0)
            self._change(account, -amount_fen)
            moved_carried_fen += carried_before_fen - self.carried_fen[account]
        for account, amount_fen in credits.items():
            carried_in_fen = moved_carried_fen if is_move else 0
            self.carried_fen[account] = self.carried_fen.get(account, 0) + carried_in_fen
            self.current_fen[account] = self.current_fen.get(account, 0) + amount_fen - carried_in_fen

    def _change(self, account: str, change_fen: int) -> None:
        self.carried_fen[account], self.current_fen[account] = split_current_and_carried(
            self.carried_fen.get(account, 0), self.current_fen.get(account, 0), change_fen)


def deposit_interest(
    entries: Sequence[BankEntry], announced: Sequence[Rates], start: date, end_exclusive: date, day_basis: int,
    three_year_account: str,
) -> dict[str, AccountInterest]:
    """Product-sum interest of the fund's bank deposits over ``[start, end_exclusive)`` by the age of
    the money (Liao 1999 §II(5)6): in each account, the money carried over from earlier years
    earns the 3-month rate and this year's money the demand rate; every fen in
    ``three_year_account`` (the fiscal special account) earns the 3-year rate, whatever its age.

    ``entries`` are the fund's bank movements in the order they were recorded, each valued no
    earlier than the one before (``value_dated``). Money held at ``start`` is carried over; how
    later movements age it is ``_AgedBalances.apply``. Each account's interest is rounded once."""
    valued = value_dated(entries)
    held = _AgedBalances({}, {})
    for _, changes in (entry for entry in valued if entry[0] < start):
        for account, change_fen in changes.items():
            held.carried_fen[account] = held.carried_fen.get(account, 0) + change_fen
    in_period = [entry for entry in valued if start <= entry[0] < end_exclusive]
    accounts = sorted({account for _, changes in valued for account in changes})
    exact = {account: Decimal(0) for account in accounts}
    segments: dict[str, list[dict[str, Any]]] = {account: [] for account in accounts}
    index = 0
    for seg_from, seg_to, rates in rate_segments(announced, start, end_exclusive):
        carried_days = dict.fromkeys(accounts, 0)
        current_days = dict.fromkeys(accounts, 0)
        day = seg_from
        while day < seg_to:
            while index < len(in_period) and in_period[index][0] <= day:
                held.apply(in_period[index][1])
                index += 1
            until = min(in_period[index][0], seg_to) if index < len(in_period) else seg_to
            for account in accounts:
                carried_days[account] += held.carried_fen.get(account, 0) * (until - day).days
                current_days[account] += held.current_fen.get(account, 0) * (until - day).days
            day = until
        for account in accounts:
            current_rate, carried_rate = ((rates.three_year_rate, rates.three_year_rate) if account == three_year_account
                                          else (rates.demand_rate, rates.three_month_rate))
            seg_interest = (Decimal(current_days[account]) * current_rate + Decimal(carried_days[account]) * carried_rate) / day_basis
            exact[account] += seg_interest
            segments[account].append({
                "from": seg_from.isoformat(), "to_exclusive": seg_to.isoformat(), "days": (seg_to - seg_from).days,
                "current_year_balance_days_fen": current_days[account], "carried_over_balance_days_fen": carried_days[account],
                "current_year_rate": str(current_rate), "carried_over_rate": str(carried_rate), "day_basis": day_basis,
                "interest_exact_fen": str(seg_interest),
            })
    return {account: AccountInterest(round_fen(exact[account]), segments[account]) for account in accounts}
