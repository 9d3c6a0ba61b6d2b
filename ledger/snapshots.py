"""Which aggregates the ledger loads from snapshots, and what a snapshot must be to be loaded.

A snapshot is derived, never chained (docs/audit.md): only a shortcut past an aggregate's events.
The ledger loads one only if it is a snapshot (its stored topic is a snapshot class's), of a kind
the ledger snapshots, stands under the id its own content names (a region's pooled fund under that
region's id, a person's account under that person's), holds every attribute a new aggregate of its
kind has (a snapshot taken before an attribute existed is outdated), and, sealed with it under a
key of the key store, carries the digest of what it keeps in clear (``adapters.crypto``). Anything
else is refused, and the aggregate folded from its events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import Snapshot as AggregateSnapshot
from eventsourcing.utils import get_topic

from ledger.aggregates import PersonalAccount, PolicyBook, PooledFund
from ledger.records import InterestRateBook

# The stored topics of snapshots: the library's class, and a personal account's own.
SNAPSHOT_CLASS_TOPICS = frozenset({get_topic(AggregateSnapshot), get_topic(PersonalAccount.Snapshot)})

_ID_OF_CONTENT: dict[str, Callable[[Mapping[str, Any]], UUID]] = {
    get_topic(PersonalAccount): lambda state: PersonalAccount.id_for(state["region"], state["person_id"]),
    get_topic(PooledFund): lambda state: PooledFund.id_for(state["region"]),
    get_topic(PolicyBook): lambda state: PolicyBook.id_for(state["region"]),
    get_topic(InterestRateBook): lambda state: InterestRateBook.id_for(),
}

_NEW: dict[type[Aggregate], Callable[[], Aggregate]] = {
    PersonalAccount: lambda: PersonalAccount(region="", person_id="", category="employee", birth_date=date.min, employer_id="",
                                             enrolled_on=date.min, pension_fen=0),
    PooledFund: lambda: PooledFund(region=""),
    PolicyBook: lambda: PolicyBook(region="", region_name=""),
    InterestRateBook: InterestRateBook,
}
_ATTRIBUTES: dict[type[Aggregate], frozenset[str]] = {}


def why_not_loaded(aggregate_topic: str, originator_id: object, state: Mapping[str, Any]) -> str | None:
    """None if a snapshot of ``aggregate_topic`` under ``originator_id`` with ``state`` may be
    loaded; else why not."""
    id_of = _ID_OF_CONTENT.get(aggregate_topic)
    if id_of is None:
        return f"the ledger takes no snapshot of {aggregate_topic!r}"
    try:
        named = id_of(state)
    except (KeyError, TypeError, ValueError):
        return "its content names no aggregate"
    if str(named) != str(originator_id):
        return "it stands under another aggregate's id than the one its content names"
    return None


def why_not_restored(aggregate: object, originator_id: object, version: int) -> str | None:
    """None if ``aggregate``, built from a snapshot of ``originator_id`` at ``version``, may be
    used; else why not (its kind, id or version is not the snapshot's, or an attribute is missing)."""
    kind = type(aggregate)
    if kind not in _NEW or not isinstance(aggregate, Aggregate):
        return f"it built a {kind.__name__}"
    if str(aggregate.id) != str(originator_id) or aggregate.version != version:
        return "it built another aggregate, or another version, than the snapshot's"
    expected = _ATTRIBUTES.get(kind)
    if expected is None:
        expected = _ATTRIBUTES[kind] = frozenset(vars(_NEW[kind]()))
    missing = expected - set(vars(aggregate))
    if missing:
        return f"outdated: it has no {', '.join(sorted(missing))} (taken before {kind.__name__} had them)"
    return None
