"""One way to ask for a report, for every entry point (the command line, the HTTP API and the
web page): check the request, check that its filters name what the ledger has
(``projections.lookups``), run the report on the live tables or as of a date
(``projections.reports``), and fill in what needs the ledger (a statement's recording times).

Nothing here writes: bringing the projections up to date is the caller's choice (the command
line catches up first; the service reads tables kept live by ``fund-ledger project --follow``
and says how far behind the log they are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.errors import InvalidInput
from projections.erasures import mark_erased
from projections.lookups import check_filters
from projections.reports import (
    MAX_OFFSET,
    MAX_PAGE,
    PAGED,
    POINT_IN_TIME,
    REPORTS,
    Filters,
    Report,
    add_recording_times,
    as_of_report,
    page_of,
    run_report,
)
from projections.store import ProjectionStore

PERIODS = ("month", "quarter", "year")
FIRST_YEAR, LAST_YEAR = 1900, 9999


@dataclass(frozen=True)
class ReportRequest:
    """What a user asks for: a report by name and the same filters as ``fund-ledger report``."""

    name: str
    region: str | None = None
    year: int | None = None
    person: str | None = None
    period: str = "month"
    as_of: date | None = None
    claim: str | None = None
    limit: int | None = None  # a page of a report with a row per person (``reports.PAGED``): its rows
    offset: int = 0  # and the rows before it

    def check(self) -> None:
        """Refuse a request that can never be answered, naming the field."""
        if self.name not in REPORTS:
            raise InvalidInput("name", f"no report {self.name!r}; the reports are {', '.join(sorted(REPORTS))}", value=self.name)
        if self.name == "statement" and not self.person:
            raise InvalidInput("person", "the statement report needs a person")
        if self.name == "claim" and not self.claim:
            raise InvalidInput("claim", "the claim report needs a claim id")
        if self.year is not None and not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise InvalidInput("year", "must be a four-digit year", value=self.year)
        if self.period not in PERIODS:
            raise InvalidInput("period", f"must be one of {', '.join(PERIODS)}", value=self.period)
        if self.limit is not None and not 1 <= self.limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be from 1 to {MAX_PAGE:,} rows", value=self.limit)
        if not 0 <= self.offset <= MAX_OFFSET:
            raise InvalidInput("offset", f"must be from 0 to {MAX_OFFSET:,}", value=self.offset)
        if (self.limit is not None or self.offset) and self.name not in PAGED:
            raise InvalidInput("limit" if self.limit is not None else "offset",
                               f"only the reports with a row per person come in pages ({', '.join(sorted(PAGED))}), "
                               f"not {self.name}", value=self.limit if self.limit is not None else self.offset)

    @property
    def effective_as_of(self) -> date | None:
        """The business date the report stands at: ``as_of``, or for a point-in-time report
        with a year, the end of that year."""
        if self.as_of is not None:
            return self.as_of
        if self.year is not None and self.name in POINT_IN_TIME:
            return date(self.year, 12, 31)
        return None

    @property
    def filters(self) -> Filters:
        return Filters(region=self.region, year=None if self.name in POINT_IN_TIME else self.year,
                       person=self.person, period=self.period, claim=self.claim, limit=self.limit, offset=self.offset)


@dataclass
class ReportAnswer:
    report: Report
    request: ReportRequest
    position: int  # the projections' log position
    source: str  # "tables" (live or summed as of a date) or "events" (folded as of a date)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def as_of(self) -> date | None:
        return self.request.effective_as_of

    @property
    def heading(self) -> str:
        """What the figures stand for, for a title line."""
        if self.as_of is None:
            return f" (projections at position {self.position})"
        source = "from the events" if self.source == "events" else f"projections at position {self.position}"
        return f" as of {self.as_of.isoformat()} ({source})"


def answer(ledger: Any, store: ProjectionStore, request: ReportRequest, position: int) -> ReportAnswer:
    """The report ``request`` asks for, from the projection tables at ``position``."""
    request.check()
    check_filters(ledger, store, Filters(region=request.region, year=request.year, person=request.person, claim=request.claim))
    as_of = request.effective_as_of
    if as_of is not None:
        report, source = as_of_report(ledger, store, request.name, as_of, request.filters)
    else:
        report, source = run_report(request.name, store, request.filters), "tables"
    add_recording_times(ledger, report)
    report = mark_erased(ledger, report)  # whose personal data is gone (ledger.erasure)
    meta: dict[str, Any] = {"region": request.region, "year": request.year, "as_of": as_of.isoformat() if as_of else None}
    page = page_of(report, request.filters)
    if page is not None:
        meta["page"] = page
    return ReportAnswer(report, request, position, source, meta)
