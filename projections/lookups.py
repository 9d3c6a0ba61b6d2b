"""What a report's filters name must exist: an unknown region, person or year is refused, naming
the filter, never answered with an empty report (which reads as "nothing happened there").

For every entry point of the report layer (the command line, and any API over it): a region is
known when it was opened on the ledger; a person when they have a personal account in the
region named (or, with no region, in any); a year when the projections hold a posting or a
budget of that year (in the region named); a claim when the projections hold its outcome (in
the region named).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ledger.aggregates import PersonalAccount, PolicyBook
from ledger.errors import InvalidInput, UnknownClaim, UnknownPerson, UnknownRegion
from projections import schema
from projections.reports import Filters, Queryable

ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def parse_iso_date(field: str, text: str) -> date:
    """A calendar date written ``YYYY-MM-DD``, and nothing else (Python also reads ``20240101``
    and ``2024-W01-1``, which no finance officer means)."""
    try:
        if ISO_DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidInput(field, f"must be a date YYYY-MM-DD, got {text!r}", value=text)


def check_filters(ledger: Any, store: Queryable, filters: Filters, prefix: str = schema.LIVE_PREFIX) -> None:
    """Raise ``UnknownRegion``, ``UnknownPerson``, ``UnknownClaim`` or ``InvalidInput`` (field
    ``year``) when a filter names something the ledger does not have."""
    if filters.region is not None:
        _check_region(ledger, filters.region)
    if filters.person is not None:
        _check_person(ledger, store, filters, prefix)
    if filters.year is not None:
        _check_year(store, filters, prefix)
    if filters.claim is not None:
        _check_claim(store, filters, prefix)


def _exists(ledger: Any, aggregate_id: Any) -> bool:
    return bool(ledger.recorder.select_events(aggregate_id, limit=1))


def _check_region(ledger: Any, region: str) -> None:
    if not re.fullmatch(r"[0-9]{6}", region) or not _exists(ledger, PolicyBook.id_for(region)):
        raise UnknownRegion("region", f"region {region!r} has not been opened on this ledger", region=region)


def _check_person(ledger: Any, store: Queryable, filters: Filters, prefix: str) -> None:
    person = filters.person or ""
    if filters.region is not None:
        known = _exists(ledger, PersonalAccount.id_for(filters.region, person))
    else:
        known = bool(store.query(f"SELECT 1 AS known FROM {prefix}{schema.PERSONAL_BALANCES.name} WHERE person_id = ? LIMIT 1", (person,)))
    if not known:
        where = f"region {filters.region}" if filters.region else "any region"
        raise UnknownPerson("person", f"person {person!r} has no personal account in {where}", person_id=person, region=filters.region)


def _check_year(store: Queryable, filters: Filters, prefix: str) -> None:
    region_clause, params = ("AND region = ?", [filters.region]) if filters.region else ("", [])
    years = sorted({int(row["year"]) for table in (schema.ACCOUNT_FLOWS.name, schema.BUDGETS.name)
                    for row in store.query(f"SELECT DISTINCT year FROM {prefix}{table} WHERE year > 0 {region_clause}", params)})
    if filters.year not in years:
        known = ", ".join(str(year) for year in years) or "none yet"
        raise InvalidInput("year", f"nothing is recorded in {filters.year}" + (f" in region {filters.region}" if filters.region else "")
                           + f" (years with postings or a budget: {known})", year=filters.year)


def _check_claim(store: Queryable, filters: Filters, prefix: str) -> None:
    region_clause, params = ("AND region = ?", [filters.region]) if filters.region else ("", [])
    if not store.query(f"SELECT 1 AS known FROM {prefix}{schema.CLAIMS.name} WHERE claim_id = ? {region_clause} LIMIT 1",
                       [filters.claim, *params]):
        where = f"region {filters.region}" if filters.region else "any region"
        raise UnknownClaim("claim", f"claim {filters.claim!r} is not recorded in {where}", claim_id=filters.claim, region=filters.region)
