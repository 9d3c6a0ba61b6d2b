"""Trace: from a figure to its sources.

A figure of a report is a sum of postings. ``trace`` finds the events whose postings make it
(the same selection the projections fold: account, item, person, business date), and for each
event the Kafka message that caused it and the policy version in force:

- the message: every message applied by the consumers is recorded, in the transaction of the
  events it caused, as a ``BusinessRecord`` of kind ``message`` whose outcome keeps its
  provenance (topic, partition, offset, key, message id, producer) and the list of events it
  caused (``Ledger.record_message``, ``consumers.handlers``); an event no message caused (a
  use case called directly, the demo) has none;
- the policy version: the region's ``PolicyAdopted`` events recorded before the event, the
  latest whose effective date is not after the event's business date (``PolicyBook.in_force``).

And the other way, ``trace_message`` lists every event a message caused. Everything is read
from the event log (not the projections), up to ``known_at`` if given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.utils import get_topic

from ledger.aggregates import BusinessRecord, PolicyBook
from ledger.errors import InvalidInput, UnknownRegion
from projections.fold import event_date, event_reference
from projections.known_at import read_log

PERSONAL_FUND = "fund.personal"


@dataclass(frozen=True)
class Selector:
    """Which postings make a figure."""

    description: str
    region: str
    account: str | None = None  # exact account
    item: str | None = None
    person_id: str | None = None
    first_day: date | None = None
    last_day: date | None = None

    def matches(self, event_region: str, on: date | None, posting: dict[str, Any]) -> bool:
        if event_region != self.region:
            return False
        if self.account is not None and posting["account"] != self.account:
            return False
        if self.item is not None and (posting.get("item") or "") != self.item:
            return False
        if self.person_id is not None and (posting.get("person_id") or "") != self.person_id:
            return False
        if on is None:
            return self.first_day is None  # an undated posting counts towards balances, never towards a period
        return (self.first_day is None or on >= self.first_day) and (self.last_day is None or on <= self.last_day)


def period_bounds(period: str) -> tuple[date, date]:
    """``YYYY-MM``, ``YYYY-Qn`` or ``YYYY`` as its first and last day."""
    if match := re.fullmatch(r"(\d{4})-(\d{2})", period):
        year, month = int(match[1]), int(match[2])
        if 1 <= month <= 12:
            end = date(year + (month == 12), month % 12 + 1, 1)
            return date(year, month, 1), date.fromordinal(end.toordinal() - 1)
    elif match := re.fullmatch(r"(\d{4})-Q([1-4])", period):
        year, quarter = int(match[1]), int(match[2])
        first = date(year, 3 * quarter - 2, 1)
        return first, period_bounds(f"{year}-{3 * quarter:02d}")[1]
    elif re.fullmatch(r"\d{4}", period):
        return date(int(period), 1, 1), date(int(period), 12, 31)
    raise InvalidInput("period", f"must be YYYY-MM, YYYY-Qn or YYYY, got {period!r}", value=period)


def report_line(region: str, fund: str, item: str, period: str) -> Selector:
    """A line of the income, expenditure or transfers report: one fund, one item, one period."""
    first, last = period_bounds(period)
    return Selector(f"{item} of fund {fund}, region {region}, {period}", region, f"fund.{fund}", item, None, first, last)


def personal_balance(region: str, person_id: str, as_of: date | None) -> Selector:
    when = f" at the end of {as_of.isoformat()}" if as_of else ""
    return Selector(f"personal account of {person_id}, region {region}{when}", region, PERSONAL_FUND, None, person_id, None, as_of)


def account_balance(region: str, account: str, as_of: date | None) -> Selector:
    when = f" at the end of {as_of.isoformat()}" if as_of else ""
    return Selector(f"account {account}, region {region}{when}", region, account, None, None, None, as_of)


@dataclass
class TracedEvent:
    position: int
    event_type: str
    originator_id: str
    originator_version: int
    business_date: str | None
    reference: str | None
    recorded_at: str | None
    amount_fen: int  # the matching postings, debit + / credit -
    postings: list[dict[str, Any]]
    message: dict[str, Any] | None
    policy_version: str | None


@dataclass
class Trace:
    description: str
    known_at: int
    events: list[TracedEvent] = field(default_factory=list)

    @property
    def debit_fen(self) -> int:
        return sum(p["amount_fen"] for e in self.events for p in e.postings if p["amount_fen"] > 0)

    @property
    def credit_fen(self) -> int:
        return -sum(p["amount_fen"] for e in self.events for p in e.postings if p["amount_fen"] < 0)

    @property
    def net_fen(self) -> int:
        """Debits minus credits (a fund's balance, an income, is a credit: its negative)."""
        return self.debit_fen - self.credit_fen

    def as_dict(self) -> dict[str, Any]:
        return {"figure": self.description, "known_at_position": self.known_at, "units": "fen",
                "debit_fen": self.debit_fen, "credit_fen": self.credit_fen, "net_fen": self.net_fen,
                "events": [vars(e) for e in self.events]}


# ---------------------------------------------------------------------------- reading the log
def message_index(ledger: Any, stop: int) -> dict[tuple[str, int], dict[str, Any]]:
    """(aggregate id, version) of each event a message caused -> that message's record."""
    caused_by: dict[tuple[str, int], dict[str, Any]] = {}
    for message in message_records(ledger, stop):
        for aggregate_id, version in message["caused"]:
            caused_by[(str(aggregate_id), int(version))] = message
    return caused_by


def message_records(ledger: Any, stop: int) -> Iterator[dict[str, Any]]:
    """Every applied message's record: its provenance and the events it caused."""
    for notification in read_log(ledger, stop, topics=(get_topic(BusinessRecord.Recorded),)):
        record = ledger.mapper.to_domain_event(notification)
        if record.kind != "message" or "provenance" not in record.outcome:
            continue
        yield {**record.outcome["provenance"], "recorded_at_position": notification.id,
               "caused": [tuple(c) for c in record.outcome.get("caused", [])]}


class PolicyHistory:
    """The policy versions each region adopted, with the position they were recorded at."""

    def __init__(self, ledger: Any, stop: int) -> None:
        self.adopted: dict[str, list[tuple[int, date, str]]] = {}
        books: dict[str, str] = {}
        topics = (get_topic(PolicyBook.Opened), get_topic(PolicyBook.PolicyAdopted))
        for notification in read_log(ledger, stop, topics=topics):
            event = ledger.mapper.to_domain_event(notification)
            if isinstance(event, PolicyBook.Opened):
                books[str(event.originator_id)] = event.region
            else:
                region = books.get(str(event.originator_id), "")
                self.adopted.setdefault(region, []).append((notification.id, event.effective_from, event.version))

    def in_force(self, region: str, on: date | None, position: int) -> str | None:
        if on is None:
            return None
        chosen = None
        for recorded_at, effective_from, version in sorted(self.adopted.get(region, []), key=lambda a: (a[1], a[0])):
            if recorded_at < position and effective_from <= on:
                chosen = version
        return chosen


def _head(ledger: Any, known_at: int | None) -> int:
    head = ledger.recorder.max_notification_id() or 0
    if known_at is None:
        return head
    if known_at < 0:
        raise InvalidInput("known_at", "must be a log position >= 0", value=known_at)
    return min(known_at, head)


def _traced(position: int, event: Any, postings: list[dict[str, Any]], messages: dict[tuple[str, int], dict[str, Any]],
            policies: PolicyHistory) -> TracedEvent:
    on = event_date(event)
    region = getattr(event, "region", "") or ""
    message = messages.get((str(event.originator_id), event.originator_version))
    timestamp = getattr(event, "timestamp", None)
    return TracedEvent(position, type(event).__qualname__, str(event.originator_id), event.originator_version,
                       on.isoformat() if on else None, event_reference(event), timestamp.isoformat() if timestamp else None,
                       sum(p["amount_fen"] for p in postings), postings,
                       None if message is None else {k: v for k, v in message.items() if k != "caused"},
                       policies.in_force(region, on, position))


def trace(ledger: Any, selector: Selector, known_at: int | None = None) -> Trace:
    """The events whose postings make the figure ``selector`` names, with their sources."""
    stop = _head(ledger, known_at)
    messages, policies = message_index(ledger, stop), PolicyHistory(ledger, stop)
    if selector.region not in policies.adopted:
        raise UnknownRegion("region", f"region {selector.region!r} has not been opened", region=selector.region)
    found = Trace(selector.description, stop)
    for notification in read_log(ledger, stop):
        event = ledger.mapper.to_domain_event(notification)
        postings = getattr(event, "postings", None)
        if not postings:
            continue
        on, region = event_date(event), getattr(event, "region", "") or ""
        matching = [dict(p) for p in postings if selector.matches(region, on, p)]
        if matching:
            found.events.append(_traced(notification.id, event, matching, messages, policies))
    return found


def trace_message(ledger: Any, message_id: str, producer: str | None = None, known_at: int | None = None) -> Trace:
    """Every event the message ``message_id`` (of ``producer``, if several sent that id) caused."""
    stop = _head(ledger, known_at)
    chosen = [m for m in message_records(ledger, stop) if m.get("message_id") == message_id
              and (producer is None or m.get("producer") == producer)]
    if not chosen:
        raise InvalidInput("message_id", f"no applied message {message_id!r}" + (f" from {producer!r}" if producer else ""),
                           message_id=message_id)
    if len(chosen) > 1:
        raise InvalidInput("producer", f"{len(chosen)} producers sent message id {message_id!r}: name one with --producer",
                           producers=",".join(sorted(str(m.get("producer")) for m in chosen)))
    message = chosen[0]
    caused = {(str(a), int(v)) for a, v in message["caused"]}
    policies = PolicyHistory(ledger, stop)
    found = Trace(f"message {message_id} from {message.get('producer')} ({message.get('topic')}:{message.get('partition')}"
                  f"@{message.get('offset')})", stop)
    index = {key: message for key in caused}
    for notification in read_log(ledger, stop):
        if (str(notification.originator_id), notification.originator_version) in caused:
            event = ledger.mapper.to_domain_event(notification)
            found.events.append(_traced(notification.id, event, [dict(p) for p in getattr(event, "postings", None) or ()],
                                        index, policies))
    return found

