"""``fund-ledger report <name>``: a report from the projections, as a table or CSV (yuan, two
decimals) or JSON (fen). ``--as-of`` answers as the books stood at the end of that business
date: from the projection tables (caught up first) for the reports in
``projections.reports.AS_OF_FROM_TABLES``, else from the events; ``--year`` selects a year (for
balances: as at the end of that year)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from ledger.errors import InvalidInput
from projections import render
from projections.lookups import parse_iso_date
from projections.projector import Projector, open_for_reading
from projections.query import ReportRequest, answer
from projections.reports import MAX_PAGE, REPORTS, Filters
from projections.runtime import ledger_and_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(REPORTS), help="which report")
    parser.add_argument("--region", help="pooling region code, e.g. 210100")
    parser.add_argument("--year", type=int, help="the year (balances: as at 31 December of it)")
    parser.add_argument("--as-of", dest="as_of", help="business date YYYY-MM-DD: the books as they stood at the end of that day")
    parser.add_argument("--person", help="person id (personal, statement, contributions, memo-persons)")
    parser.add_argument("--claim", help="claim id (claim: one claim's arithmetic)")
    parser.add_argument("--period", choices=["month", "quarter", "year"], default="month", help="income, expenditure, transfers")
    parser.add_argument("--limit", type=int, help=f"personal, contributions, memo-persons: a page of this many rows (at most "
                                                  f"{MAX_PAGE:,}; without it, every row)")
    parser.add_argument("--offset", type=int, default=0, help="with --limit: the rows before the page, in the report's order")
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table")
    parser.add_argument("--no-catch-up", dest="catch_up", action="store_false",
                        help="read the live tables as they are, without applying new events first")
    parser.add_argument("--known-at", dest="known_at", type=int,
                        help="as the ledger knew it at this log position (events recorded later are left out)")
    parser.add_argument("--known-at-time", dest="known_at_time",
                        help="as the ledger knew it at this recording time, ISO 8601 with a time zone")
    parser.add_argument("--restated", action="store_true",
                        help="final-accounts of a closed year: as reported at the close and restated with later corrections")


def run(args: argparse.Namespace) -> int:
    request = ReportRequest(args.name, region=args.region, year=args.year, person=args.person, period=args.period,
                            as_of=parse_iso_date("as_of", args.as_of) if args.as_of else None, claim=args.claim,
                            limit=args.limit, offset=args.offset)
    request.check()
    as_of = request.effective_as_of
    if args.restated:
        return _restated(args)
    if args.known_at is not None or args.known_at_time:
        return _known_at(args, as_of, request.filters)
    with ledger_and_store() as (ledger, store, _):
        if args.catch_up:  # a writer: makes the tables and views if need be, applies what is new
            projector = Projector(ledger, store)
            projector.catch_up()
            position = projector.position
        else:  # a reader (perhaps the finance role): makes nothing
            position = open_for_reading(ledger, store)
        answered = answer(ledger, store, request, position)
    if args.format == "json":
        sys.stdout.write(render.as_json(answered.report, answered.meta))
    elif args.format == "csv":  # a page says so in the file too (its last line)
        page = answered.meta.get("page")
        following = f"--offset {page['next_offset']}" if page is not None and page["next_offset"] is not None else None
        sys.stdout.write(render.as_csv(answered.report, render.partial_notes(answered.report, page, following)))
    else:
        sys.stdout.write(render.as_table(answered.report, answered.heading))
    page = answered.meta.get("page")
    if page is not None and args.format != "json":  # (JSON carries it as "page")
        shown = ", ".join(f"{name} {total:,}" for name, total in page["total_rows"].items())
        following = f"; next page: --offset {page['next_offset']}" if page["next_offset"] is not None else "; the last page"
        sys.stderr.write(f"rows {page['offset'] + 1:,} to {page['offset'] + page['limit']:,} of {shown}{following}\n")
    return 0


def _known_at(args: argparse.Namespace, as_of: date | None, filters: Filters) -> int:
    """The report as the ledger knew it at a log position or recording time (``projections.known_at``)."""
    from datetime import datetime

    from projections.known_at import known_at_report, position_at_time

    with ledger_and_store() as (ledger, _, _description):
        if args.known_at_time:
            try:
                instant = datetime.fromisoformat(args.known_at_time)
            except ValueError:
                raise InvalidInput("known_at_time", f"must be an ISO 8601 time, got {args.known_at_time!r}",
                                   value=args.known_at_time) from None
            position = position_at_time(ledger, instant)
        else:
            position = args.known_at
        report = known_at_report(ledger, args.name, filters, position, as_of)
    meta = {"region": args.region, "year": args.year, "as_of": as_of.isoformat() if as_of else None, "known_at_position": position}
    heading = (f" as of {as_of.isoformat()}" if as_of else "") + f" as known at log position {position}"
    sys.stdout.write(render.as_json(report, meta) if args.format == "json" else
                     render.as_csv(report) if args.format == "csv" else render.as_table(report, heading))
    return 0


def _restated(args: argparse.Namespace) -> int:
    """A closed year's final accounts as reported and restated (``projections.restatement``)."""
    from projections.restatement import restate

    if args.name != "final-accounts" or not args.region or args.year is None:
        raise InvalidInput("restated", "--restated is for final-accounts, with --region and --year (a closed year)")
    with ledger_and_store() as (ledger, _, _description):
        restatement = restate(ledger, args.region, args.year, args.known_at)
    report = restatement.report()
    meta = {"region": args.region, "year": args.year, "close_position": restatement.close_position, "known_at_position": restatement.known_at}
    sys.stdout.write(render.as_json(report, meta) if args.format == "json" else
                     render.as_csv(report) if args.format == "csv" else render.as_table(report))
    return 0
