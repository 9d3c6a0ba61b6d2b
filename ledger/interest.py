"""Interest by the product-sum method (积数计息) and the three-rate rule.

DOMAIN / Liao 1999 §II(5)6: money collected in the current year earns the demand deposit rate;
balances carried over from previous years earn the 3-month time deposit rate; money in the fiscal
special account earns the 3-year lump-sum savings rate. Interest is Σ daily balance × daily
rate, with the daily rate = annual rate ÷ ``interest_day_basis`` (360 in Chinese banking
practice; a policy parameter). A rate change inside the period splits the computation at the
change date. Each figure is rounded to the fen once, at the end (``ledger.money.round_fen``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

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


def value_dated(movements: Iterable[tuple[date, int]]) -> list[tuple[date, int]]:
    """Movements in the order they were recorded, each valued no earlier than the one before.

    A movement booked late (a claim settled after later contributions) takes value from its
    place in the account's history, so the balance the interest is computed on is the balance
    the ledger really held: never below zero, and never counted twice.
    """
    valued: list[tuple[date, int]] = []
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


def balance_days(movements: Iterable[tuple[date, int]], start: date, end_exclusive: date) -> int:
    """Σ daily balance over ``[start, end_exclusive)`` (balance-days in fen·days), movements
    valued by ``value_dated``."""
    ordered = value_dated(movements)
    balance_fen = sum(change for on, change in ordered if on < start)
    total = 0
    day = start
    for on, change in ordered:
        if on < start:
            continue
        if on >= end_exclusive:
            break
        total += balance_fen * (on - day).days
        balance_fen += change
        day = on
    total += balance_fen * (end_exclusive - day).days
    return total


def deposit_interest(
    movements: Iterable[tuple[date, int]], announced: Sequence[Rates], start: date, end_exclusive: date,
    day_basis: int, rate_name: str,
) -> AccountInterest:
    """Product-sum interest of a bank deposit at one of the announced rates (``rate_name``)."""
    listed = list(movements)
    exact = Decimal(0)
    segments = []
    for seg_from, seg_to, rates in rate_segments(announced, start, end_exclusive):
        days_fen = balance_days(listed, seg_from, seg_to)
        rate = getattr(rates, rate_name)
        seg_interest = Decimal(days_fen) * rate / day_basis
        exact += seg_interest
        segments.append({
            "from": seg_from.isoformat(), "to_exclusive": seg_to.isoformat(), "days": (seg_to - seg_from).days,
            "balance_days_fen": days_fen, rate_name: str(rate), "day_basis": day_basis,
            "interest_exact_fen": str(seg_interest),
        })
    return AccountInterest(round_fen(exact), segments)
