"""``fund-ledger trace``: from a figure to the events that make it, each with the Kafka message
that caused it (topic, partition, offset, message id, producer) and the policy version in force;
or from a message id to every event it caused (``projections.trace``).

    fund-ledger trace income --region 210100 --fund pooled --item income.contribution --period 2024-03
    fund-ledger trace expenditure --region 210100 --fund pooled --item expenditure.benefit.inpatient --period 2024
    fund-ledger trace personal --region 210100 --person P1 --as-of 2024-06-30
    fund-ledger trace account --region 210100 --account bank.income --as-of 2024-06-30
    fund-ledger trace message MESSAGE_ID [--producer PRODUCER]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from ledger.errors import InvalidInput
from ledger.money import yuan_text
from projections.runtime import ledger_and_store
from projections.trace import Trace, account_balance, personal_balance, report_line, trace, trace_message

FIGURES = ("income", "expenditure", "transfers", "personal", "account", "message")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("figure", choices=FIGURES, help="a report line (income, expenditure, transfers), a balance "
                                                        "(personal, account), or a message")
    parser.add_argument("message_id", nargs="?", help="with 'message': the message id")
    parser.add_argument("--region", help="pooling region code")
    parser.add_argument("--fund", default="pooled", help="report lines: pooled, personal or memo.<name> (default pooled)")
    parser.add_argument("--item", help="report lines: the item code, e.g. income.contribution")
    parser.add_argument("--period", help="report lines: YYYY-MM, YYYY-Qn or YYYY")
    parser.add_argument("--person", help="personal: the person id")
    parser.add_argument("--account", help="account: the account, e.g. bank.income")
    parser.add_argument("--as-of", dest="as_of", help="balances: business date YYYY-MM-DD (default: all)")
    parser.add_argument("--producer", help="message: the producer, if several sent the same message id")
    parser.add_argument("--known-at", dest="known_at", type=int, help="read the log only up to this position")
    parser.add_argument("--format", choices=["table", "json"], default="table")


def _required(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if not getattr(args, name):
            raise InvalidInput(name, f"trace {args.figure} needs --{name.replace('_', '-')}")


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("as_of", f"must be a date YYYY-MM-DD, got {text!r}", value=text) from None


def run(args: argparse.Namespace) -> int:
    with ledger_and_store() as (ledger, _, _description):
        if args.figure == "message":
            _required(args, "message_id")
            found = trace_message(ledger, args.message_id, args.producer, args.known_at)
        elif args.figure in ("income", "expenditure", "transfers"):
            _required(args, "region", "item", "period")
            found = trace(ledger, report_line(args.region, args.fund, args.item, args.period), args.known_at)
        elif args.figure == "personal":
            _required(args, "region", "person")
            found = trace(ledger, personal_balance(args.region, args.person, _date(args.as_of)), args.known_at)
        else:
            _required(args, "region", "account")
            found = trace(ledger, account_balance(args.region, args.account, _date(args.as_of)), args.known_at)
    sys.stdout.write(json.dumps(found.as_dict(), ensure_ascii=False, indent=2) + "\n" if args.format == "json" else as_table(found))
    return 0


def as_table(found: Trace) -> str:
    out = [f"Trace of {found.description} (log read up to position {found.known_at})", ""]
    header = f"{'position':>8}  {'date':<10}  {'event':<40} {'reference':<16} {'amount (yuan)':>16}  {'policy':<10}  message"
    out += [header, "-" * len(header)]
    for event in found.events:
        message = event.message
        source = "(not from a message)" if message is None else \
            f"{message.get('topic')}:{message.get('partition')}@{message.get('offset')} id {message.get('message_id')} from {message.get('producer')}"
        out.append(f"{event.position:>8}  {event.business_date or '':<10}  {event.event_type:<40} {event.reference or '':<16} "
                   f"{yuan_text(event.amount_fen):>16}  {event.policy_version or '':<10}  {source}")
    out.append("")
    out.append(f"{len(found.events)} events; debits {yuan_text(found.debit_fen)}, credits {yuan_text(found.credit_fen)}, "
               f"net (debit - credit) {yuan_text(found.net_fen)} yuan")
    return "\n".join(out) + "\n"
