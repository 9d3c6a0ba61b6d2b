"""``fund-ledger dead-letters``: list refused messages, or re-publish one (fixed or as it was)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from consumers.dead_letters import find_dead_letter, list_dead_letters, republish
from consumers.kafka_io import bootstrap_servers
from consumers.refusals import MessageRefused, refusal
from consumers.runtime import open_ledger_for_reading


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per line, original bytes included")
    parser.add_argument("--all", action="store_true", help="also list resolved dead letters")
    parser.add_argument("--code", help="only this refusal code (e.g. unknown_person)")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--show", metavar="ID", help="one dead letter in full, original bytes included (JSON)")
    parser.add_argument("--republish", metavar="ID", help="send this dead letter's message again")
    parser.add_argument("--file", type=Path, help="with --republish: send this fixed message (one JSON object) instead")
    parser.add_argument("--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:19092")
    parser.add_argument("--topic-prefix", default="")


def run(args: argparse.Namespace) -> int:
    ledger = open_ledger_for_reading()  # reading dead letters writes nothing
    try:
        if args.republish:
            return _republish(ledger, args)
        if args.show:
            print(json.dumps(find_dead_letter(ledger, args.show), ensure_ascii=False, indent=2, sort_keys=True))
            return 0
        return _list(ledger, args)
    finally:
        ledger.close()


def _republish(ledger: object, args: argparse.Namespace) -> int:
    fixed = args.file.read_bytes() if args.file else None
    try:
        sent = republish(ledger, args.republish, bootstrap_servers(args.bootstrap_servers),  # type: ignore[arg-type]
                         fixed=fixed, topic_prefix=args.topic_prefix)
    except (MessageRefused, ValidationError) as error:
        print(json.dumps({"republished": False, **refusal(error)}, ensure_ascii=False, indent=2), file=sys.stderr)
        return 1
    print(json.dumps({"republished": args.republish, "topic": sent.topic, "partition": sent.partition,
                      "offset": sent.offset, "key": sent.key}, ensure_ascii=False, indent=2))
    return 0


def _list(ledger: object, args: argparse.Namespace) -> int:
    rows = [d for d in list_dead_letters(ledger)  # type: ignore[arg-type]
            if (args.all or d["status"] != "resolved") and (args.code is None or d["code"] == args.code)]
    for dead in rows[: args.limit]:
        if args.json:
            print(json.dumps(dead, ensure_ascii=False, sort_keys=True))
            continue
        provenance = dead.get("provenance", {})
        print(f"{dead['dead_letter_id']}  {dead['status']:<8} {dead['code']:<24} {dead['field'] or '-':<28} "
              f"{provenance.get('type') or '-':<24} {provenance.get('message_id') or '-':<20} {dead['reason'][:100]}")
    if not args.json:
        print(f"{len(rows)} dead letter(s)" + (f", first {args.limit} shown" if len(rows) > args.limit else ""))
    return 0
