"""Erasing a person: what the ledger records when a person's personal data is destroyed.

A person's personal fields are encrypted with a key of their own (``adapters.crypto``); erasing
them is destroying that key, which the command line does (``fund-ledger erase-person``) once the
ledger has recorded, here, that it may: the account is closed (the person died, or left by a
transfer out) and the region's retention period (``policy.Retention``) has run out since. The
event ``PersonalDataErased`` is the record of it in the tamper-evident log: who, when, on what
basis. It holds no personal data, moves no money, and leaves every total as it was.

After it the account stays closed for good (``reopen_on_return`` refuses it: a person coming back
is enrolled anew elsewhere), and its dates bound nothing (``ledger.bounds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from eventsourcing.domain import Aggregate

from ledger.aggregates import PersonalAccount, PolicyBook
from ledger.errors import InvalidInput, LedgerError, UnknownPerson, UnknownRegion
from ledger.unit_of_work import UnitOfWork


class RetentionNotOver(LedgerError):
    """The retention period of the person's data has not run out: they may not be erased yet."""

    code = "retention_not_over"


class PersonalDataErased(Aggregate.Event):
    """The person's personal data was destroyed (their key): closed ``closed_on`` (``closed_by``
    death or transfer out), erasable from ``erasable_from`` under policy ``policy_version``."""

    on: date
    closed_on: date
    closed_by: str
    erasable_from: date
    retention_years: int
    policy_version: str

    def apply(self, aggregate: Aggregate) -> None:
        account = cast(PersonalAccount, aggregate)
        account.is_erased = True  # type: ignore[attr-defined]
        account.is_closed = True
        account.closed_reason = f"personal data erased on {self.on.isoformat()}"


@dataclass(frozen=True)
class ErasePerson:
    region: str
    person_id: str
    on: date  # today, by the ledger's clock: when the erasure is recorded


def is_erased(account: object) -> bool:
    return bool(getattr(account, "is_erased", False))


def closure(events: list[Any]) -> tuple[date, str] | None:
    """When and how the account closed for the last time (``None``: it is open), from its events:
    a death (``died_on``) or a transfer out (``to_region``), undone by a return (``Reopened``)."""
    closed: tuple[date, str] | None = None
    for event in events:
        if isinstance(event, PersonalAccount.Inherited):
            closed = (event.died_on, "death")
        elif isinstance(event, PersonalAccount.TransferredOut):
            closed = (event.on, "transfer out")
        elif isinstance(event, PersonalAccount.Reopened):
            closed = None
    return closed


def add_years(day: date, years: int) -> date:
    """``day`` ``years`` later (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def erase_person(ledger: Any, command: ErasePerson, *, dry_run: bool = False) -> dict[str, Any]:
    """Record that ``command``'s person is erased, if the retention period allows it (policy in
    force on ``command.on``, ``retention.personal_data_years_after_closure`` whole years after the
    account closed); with ``dry_run``, check only. Idempotent: a person already erased is reported
    as such, nothing recorded. Raises ``UnknownPerson``, ``InvalidInput`` (an open account) or
    ``RetentionNotOver``."""
    unit = UnitOfWork(ledger)
    with unit.command():
        book = unit.find(PolicyBook.id_for(command.region), PolicyBook)
        if book is None:
            raise UnknownRegion("region", f"region {command.region!r} has not been opened", region=command.region)
        account = unit.find(PersonalAccount.id_for(command.region, command.person_id), PersonalAccount)
        if account is None:
            raise UnknownPerson("person_id", f"person {command.person_id!r} is not enrolled in region {command.region}",
                                region=command.region, person_id=command.person_id)
        who = {"region": command.region, "person_id": command.person_id}
        if is_erased(account):
            return {**who, "erased": True, "already": True}
        closed = closure(list(ledger.events.get(account.id)))
        if closed is None:
            raise InvalidInput("person_id", "the personal account is open: only a closed account's personal data may be erased "
                               "(after a death or a transfer out, and the retention period)", **who)
        closed_on, closed_by = closed
        policy = book.in_force(command.on)
        years = policy.retention.personal_data_years_after_closure
        erasable_from = add_years(closed_on, years)
        if command.on < erasable_from:
            raise RetentionNotOver("person_id", f"closed by {closed_by} on {closed_on}, kept {years} years (retention, policy "
                                   f"{policy.version}): erasable from {erasable_from}", closed_on=closed_on,
                                   erasable_from=erasable_from, **who)
        if not dry_run:
            account.trigger_event(PersonalDataErased, on=command.on, closed_on=closed_on, closed_by=closed_by,
                                  erasable_from=erasable_from, retention_years=years, policy_version=policy.version)
    if not dry_run:
        unit.commit()
    return {**who, "erased": not dry_run, "already": False, "closed_on": closed_on.isoformat(), "closed_by": closed_by,
            "erasable_from": erasable_from.isoformat()}
