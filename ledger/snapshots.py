"""Which aggregates the ledger loads from snapshots, and the id each snapshot must bear.

A snapshot is derived, not chained (docs/audit.md): the ledger reads one only if it is of a kind
it snapshots and stands under the id its own content names (a region's pooled fund under that
region's id, a person's account under that person's), so that no snapshot, whatever its content,
becomes another aggregate than its own. A personal account's snapshot is also sealed with a digest
of its content (``adapters.crypto``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.aggregates import PersonalAccount, PolicyBook, PooledFund
from ledger.records import InterestRateBook

_ID_OF_CONTENT: dict[str, Callable[[Mapping[str, Any]], UUID]] = {
    get_topic(PersonalAccount): lambda state: PersonalAccount.id_for(state["region"], state["person_id"]),
    get_topic(PooledFund): lambda state: PooledFund.id_for(state["region"]),
    get_topic(PolicyBook): lambda state: PolicyBook.id_for(state["region"]),
    get_topic(InterestRateBook): lambda state: InterestRateBook.id_for(),
}


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
