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
from projections.projector import Projector
from projections.reports import AS_OF_FROM_TABLES, POINT_IN_TIME, REPORTS, Filters, as_of_report, run_report
from projections.runtime import ledger_and_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(REPORTS), help="which report")
    parser.add_argument("--region", help="pooling region code, e.g. 210100")
    parser.add_argument("--year", type=int, help="the year (balances: as at 31 December of it)")
    parser.add_argument("--as-of", dest="as_of", help="business date YYYY-MM-DD: the books as they stood at the end of that day")
    parser.add_argument("--person", help="person id (personal, statement, contributions, memo-persons)")
    parser.add_argument("--claim", help="claim id (claim: one claim's arithmetic)")
    parser.add_argument("--period", choices=["month", "quarter", "year"], default="month", help="income, expenditure, transfers")
    parser.add_argument("--format", choices=["table", "json", "csv"], default="table")
    parser.add_argument("--no-catch-up", dest="catch_up", action="store_false",
                        help="read the live tables as they are, without applying new events first")


def _as_of(args: argparse.Namespace) -> date | None:
    if args.as_of:
        try:
            return date.fromisoformat(args.as_of)
        except ValueError:
            raise InvalidInput("as_of", f"must be a date YYYY-MM-DD, got {args.as_of!r}", value=args.as_of) from None
    if args.year is not None and args.name in POINT_IN_TIME:
        return date(args.year, 12, 31)
    return None


def run(args: argparse.Namespace) -> int:
    if args.name == "statement" and not args.person:
        raise InvalidInput("person", "the statement report needs --person")
    if args.name == "claim" and not args.claim:
        raise InvalidInput("claim", "the claim report needs --claim")
    if args.year is not None and not 1900 <= args.year <= 9999:
        raise InvalidInput("year", "must be a four-digit year", value=args.year)
    as_of = _as_of(args)
    filters = Filters(region=args.region, year=None if args.name in POINT_IN_TIME else args.year,
                      person=args.person, period=args.period, claim=args.claim)
    with ledger_and_store() as (ledger, store, _):
        projector = Projector(ledger, store)
        if as_of is not None and args.name not in AS_OF_FROM_TABLES:
            report, _ = as_of_report(ledger, store, args.name, as_of, filters)
            heading = f" as of {as_of.isoformat()} (from the events)"
        else:
            if args.catch_up:
                projector.catch_up()
            if as_of is not None:
                report, _ = as_of_report(ledger, store, args.name, as_of, filters)
                heading = f" as of {as_of.isoformat()} (projections at position {projector.position})"
            else:
                report = run_report(args.name, store, filters)
                heading = f" (projections at position {projector.position})"
    meta = {"region": args.region, "year": args.year, "as_of": as_of.isoformat() if as_of else None}
    if args.format == "json":
        sys.stdout.write(render.as_json(report, meta))
    elif args.format == "csv":
        sys.stdout.write(render.as_csv(report))
    else:
        sys.stdout.write(render.as_table(report, heading))
    return 0
