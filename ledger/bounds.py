"""Bounds every command keeps before a use case computes anything: its dates lie in the window
the region's policy defines, and its amounts are below the policy's plausibility limits.

Both are judged by the region's policy (``ledger.policy.DateRules`` and ``Limits``), in one
place for every command, so a new command is covered by declaring its dates as ``date`` and its
amounts in ``AMOUNT_LIMITS``:

- no business date before the region's opening (``PolicyFile.opened_on``), nor, for a command
  about a person, before their enrolment or birth;
- when the order carries the instant it was issued (a message's ``occurred_at``, set on the unit
  of work by the consumer), no business date later than that day plus
  ``date_rules.future_tolerance_days``, no year after it (a budget: the year after), and the
  instant itself no more than ``date_rules.clock_skew_s`` ahead of the ledger's clock;
- no amount above its bound in ``limits``; no stay in hospital longer than
  ``limits.max_inpatient_stay_days``; nobody enrolled older than ``date_rules.max_age_years``.

Orders given directly (the demo, tests, tools) carry no issue instant: only the lower bounds and
the limits apply to them.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from ledger import commands as cmd
from ledger.errors import DateOutOfWindow, ImplausibleAmount, InvalidInput
from ledger.policy import DateRules, Limits

# Amount fields and the limit that bounds each; lines are checked by ``_line_amounts``.
AMOUNT_LIMITS: dict[type, tuple[tuple[str, str], ...]] = {
    cmd.PayOutpatient: (("amount_fen", "max_outpatient_bill_fen"),),
    cmd.SettleInpatient: (("total_cost_fen", "max_inpatient_bill_fen"),),
    cmd.SettleCrossRegion: (("total_cost_fen", "max_inpatient_bill_fen"),),
    cmd.SettleSeriousOutpatient: (("total_cost_fen", "max_inpatient_bill_fen"),),
    cmd.Enrol: (("pension_fen", "max_pension_fen"),),
    cmd.ChangeCategory: (("pension_fen", "max_pension_fen"),),
    cmd.TransferIn: (("amount_fen", "max_transfer_fen"),),
    cmd.RecordIncome: (("amount_fen", "max_income_fen"),),
    cmd.RecordExpenditure: (("amount_fen", "max_expenditure_fen"),),
    cmd.MoveBetweenBankAccounts: (("amount_fen", "max_bank_movement_fen"),),
    cmd.SettleClearing: (("amount_fen", "max_clearing_fen"),),
}
# Dates that are not business dates of the region (a birth date is checked against the age bound).
NOT_BUSINESS_DATES = frozenset({"birth_date"})
# Commands whose person may not be enrolled here yet (they enrol them), or left and comes back.
ENROLLING = (cmd.Enrol, cmd.TransferIn)


@dataclass(frozen=True)
class Subject:
    """What a command is judged against: its region's opening, the policy's rules and limits,
    the accounts of the people it names (those enrolled), and when the order was issued."""

    opening_date: date | None
    rules: DateRules
    limits: Limits
    accounts: Mapping[str, Any]  # person id -> PersonalAccount (enrolled_on, birth_date)
    reported_at: datetime | None = None


def is_command(value: object) -> bool:
    """Commands are the dataclasses of ``ledger.commands`` (opening a region takes a policy file)."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def region_of(command: object) -> str | None:
    for name in ("region", "home_region", "payer_region"):
        value = getattr(command, name, None)
        if isinstance(value, str):
            return value
    return None


def person_ids_of(command: object) -> list[str]:
    """The people a command is about: its ``person_id``, or each line's (a remittance)."""
    if isinstance(command, ENROLLING):
        return []
    lines = _person_lines(command)
    if lines:
        return [line.person_id for line in lines]
    person_id = getattr(command, "person_id", None)
    return [person_id] if isinstance(person_id, str) else []


def _person_lines(command: object) -> list[Any]:
    return [line for line in getattr(command, "lines", ()) if isinstance(getattr(line, "person_id", None), str)]


def _period(command: object) -> tuple[date, date] | None:
    """The first and last day of a command's ``period`` (YYYY-MM), if it has a valid one."""
    period = getattr(command, "period", None)
    if not isinstance(period, str):
        return None
    try:
        year, month = cmd.check_period(period)
    except InvalidInput:
        return None  # the command's own check refuses it
    return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def business_dates(command: object) -> list[tuple[str, date]]:
    """(field, date) of every business date a command carries, a period as its first day."""
    kind: Any = type(command)
    dated = [(name, value) for name in _date_fields(kind) if isinstance(value := getattr(command, name), date)]
    period = _period(command)
    if period is not None:
        dated.append(("period", period[0]))
    return [(name, day) for name, day in dated if name not in NOT_BUSINESS_DATES]


@cache
def _date_fields(kind: type) -> tuple[str, ...]:
    if not dataclasses.is_dataclass(kind):
        return ()
    hints = typing.get_type_hints(kind)
    return tuple(f.name for f in dataclasses.fields(kind) if date in (hints[f.name], *typing.get_args(hints[f.name])))


def check(command: object, subject: Subject, now: datetime) -> None:
    """Refuse ``command`` (``DateOutOfWindow``, ``ImplausibleAmount``) if it leaves its bounds."""
    if subject.reported_at is not None:
        check_reported_at(subject.reported_at, now, subject.rules)
    for field, day in business_dates(command):
        _check_calendar(field, day.year)
        _check_lower(field, day, subject)
        _check_upper(field, day, subject)
    _check_years(command, subject)
    _check_year_over(command, subject, now)
    _check_person_dates(command, subject)
    for kind in type(command).__mro__:  # a command derived from another keeps its bounds
        for field, limit in AMOUNT_LIMITS.get(kind, ()):
            check_amount(field, getattr(command, field), limit, subject.limits)
        extra = EXTRA_CHECKS.get(kind)
        if extra is not None:
            extra(command, subject)
            break


def check_reported_at(reported_at: datetime, now: datetime, rules: DateRules) -> None:
    latest = now + timedelta(seconds=rules.clock_skew_s)
    if reported_at > latest:
        raise DateOutOfWindow("occurred_at", f"{reported_at.isoformat()} is in the future: more than {rules.clock_skew_s} s "
                              f"ahead of the ledger's clock ({now.isoformat(timespec='seconds')}; date_rules.clock_skew_s)",
                              occurred_at=reported_at, bound="date_rules.clock_skew_s")


def check_amount(field: str, amount_fen: Any, limit: str, limits: Limits) -> None:
    """Above its bound: implausible. (What is not a possible amount at all, a fraction of a fen,
    a negative, more than ``commands.MAX_AMOUNT_FEN``, is the command's own check to refuse.)"""
    bound_fen = getattr(limits, limit)
    if type(amount_fen) is int and bound_fen < amount_fen <= cmd.MAX_AMOUNT_FEN:
        raise ImplausibleAmount(field, f"{amount_fen} fen is above the policy's limits.{limit} of {bound_fen} fen",
                                amount_fen=amount_fen, bound=f"limits.{limit}", bound_fen=bound_fen)


def _check_lower(field: str, day: date, subject: Subject) -> None:
    if subject.opening_date is not None and day < subject.opening_date:
        raise DateOutOfWindow(field, f"{day} is before the region's opening on {subject.opening_date}",
                              date=day, bound="region opening", opening_date=subject.opening_date)


def _check_upper(field: str, day: date, subject: Subject) -> None:
    if subject.reported_at is None:
        return
    tolerance_days = subject.rules.future_tolerance_days
    latest = subject.reported_at.date() + timedelta(days=tolerance_days)
    if day > latest:
        raise DateOutOfWindow(field, f"{day} is later than the message's occurred_at ({subject.reported_at.date()}) plus "
                              f"{tolerance_days} days (date_rules.future_tolerance_days)",
                              date=day, bound="date_rules.future_tolerance_days", latest=latest)


def _check_calendar(field: str, year: int) -> None:
    if not cmd.FIRST_BUSINESS_YEAR <= year <= cmd.LAST_BUSINESS_YEAR:
        raise DateOutOfWindow(field, f"the year {year} is outside the ledger's calendar "
                              f"({cmd.FIRST_BUSINESS_YEAR}-{cmd.LAST_BUSINESS_YEAR})", year=year, bound="calendar")


# Commands about a whole year that only its end makes possible, and the day from which each may
# be given: the year's interest is credited on its last day; a year closes once it is over.
YEAR_OVER_FROM: dict[type, Callable[[int], date]] = {
    cmd.PostInterest: lambda year: date(year, 12, 31),
    cmd.CloseYear: lambda year: date(year + 1, 1, 1),
}


def _check_year_over(command: object, subject: Subject, now: datetime) -> None:
    """A year's interest run or close given before the year is over (a 2025 typed for 2024 in
    January 2025) is refused: judged by the order's issue instant, or the ledger's clock."""
    from_day = YEAR_OVER_FROM.get(type(command))
    year = getattr(command, "year", None)
    if from_day is None or not isinstance(year, int) or isinstance(year, bool):
        return
    today = (subject.reported_at or now).date()
    if today < from_day(year):
        raise DateOutOfWindow("year", f"{year} is not over: {type(command).__name__} for it may be given from "
                              f"{from_day(year)}, and the order is of {today}", year=year, bound="year end", earliest=from_day(year))


def _check_years(command: object, subject: Subject) -> None:
    year = getattr(command, "year", None)
    if not isinstance(year, int):
        return
    _check_calendar("year", year)
    if subject.opening_date is not None and year < subject.opening_date.year:
        raise DateOutOfWindow("year", f"{year} is before the region's opening on {subject.opening_date}",
                              year=year, bound="region opening")
    if subject.reported_at is not None:
        latest = subject.reported_at.year + (1 if isinstance(command, cmd.SetBudget) else 0)
        if year > latest:
            raise DateOutOfWindow("year", f"{year} is after the message's occurred_at ({subject.reported_at.date()})"
                                  + (": a budget may be for next year at the latest" if isinstance(command, cmd.SetBudget) else ""),
                                  year=year, bound="occurred_at", latest_year=latest)


def _check_person_dates(command: object, subject: Subject) -> None:
    """A command about an enrolled person is not dated before their enrolment (a remittance: no
    period ending before it) or birth."""
    dated = business_dates(command)
    lines, period = _person_lines(command), _period(command)
    if lines and period is not None:
        for index, line in enumerate(lines):
            account = subject.accounts.get(line.person_id)
            if account is not None and period[1] < account.enrolled_on:
                raise DateOutOfWindow(f"lines[{index}].person_id", f"the period {getattr(command, 'period', '')} ends before "
                                      f"{line.person_id}'s enrolment on {account.enrolled_on}", person_id=line.person_id,
                                      bound="enrolment", enrolled_on=account.enrolled_on)
        return
    for person_id in person_ids_of(command):
        account = subject.accounts.get(person_id)
        if account is None or getattr(account, "is_erased", False):  # no dates left to bound by (ledger.erasure)
            continue
        for field, day in dated:
            for bound, earliest in (("enrolment", account.enrolled_on), ("birth", account.birth_date)):
                if day < earliest:
                    raise DateOutOfWindow(field, f"{day} is before the person's {bound} on {earliest}", date=day,
                                          person_id=person_id, bound=bound, earliest=earliest)


def _line_amounts(command: object, subject: Subject) -> None:
    """Each line's wage base (a remittance, a correction) or amount (a budget) below its limit."""
    for index, line in enumerate(getattr(command, "lines", ())):
        if hasattr(line, "wage_base_fen"):
            check_amount(f"lines[{index}].wage_base_fen", line.wage_base_fen, "max_wage_base_fen", subject.limits)
        elif hasattr(line, "amount_fen"):
            check_amount(f"lines[{index}].amount_fen", line.amount_fen, "max_budget_line_fen", subject.limits)


def _inpatient_stay(command: Any, subject: Subject) -> None:
    stay_days = (command.discharged_on - command.admitted_on).days
    if stay_days > subject.limits.max_inpatient_stay_days:
        raise ImplausibleAmount("discharged_on", f"a stay of {stay_days} days is longer than the policy's "
                                f"limits.max_inpatient_stay_days of {subject.limits.max_inpatient_stay_days}",
                                stay_days=stay_days, bound="limits.max_inpatient_stay_days")


def _enrolment_age(command: Any, subject: Subject) -> None:
    birth_date: date | None = command.birth_date
    on: date = command.enrolled_on if isinstance(command, cmd.Enrol) else command.on
    if birth_date is None:
        return
    max_years = subject.rules.max_age_years
    if birth_date.year < on.year - max_years:
        raise DateOutOfWindow("birth_date", f"{birth_date} makes the person older than {max_years} on {on} "
                              "(date_rules.max_age_years)", birth_date=birth_date, bound="date_rules.max_age_years")


EXTRA_CHECKS: dict[type, Callable[[Any, Subject], None]] = {
    cmd.PostRemittance: _line_amounts,
    cmd.CorrectContributions: _line_amounts,
    cmd.SetBudget: _line_amounts,
    cmd.SettleInpatient: _inpatient_stay,
    cmd.SettleCrossRegion: _inpatient_stay,
    cmd.Enrol: _enrolment_age,
    cmd.TransferIn: _enrolment_age,
}
