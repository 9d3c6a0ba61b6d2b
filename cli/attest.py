"""``fund-ledger attest REPORT``: write a report, signed (Ed25519), with the log position it was
computed at, the chain head there, the ``verify`` result and the software version
(``projections.attest``). ``fund-ledger attest --generate-key KEY`` makes a key pair (the private
key mode 0600, the public key in ``KEY.pub``); ``fund-ledger check-attestation FILE`` checks one.

    fund-ledger attest --generate-key audit-2024.key
    fund-ledger attest final-accounts --region 210100 --year 2024 --key audit-2024.key --out fa-2024.attestation.json
    fund-ledger check-attestation fa-2024.attestation.json --public-key audit-2024.key.pub
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from ledger.errors import InvalidInput
from projections.attest import attest, generate_key, load_private_key
from projections.reports import POINT_IN_TIME, REPORTS, Filters
from projections.runtime import ledger_and_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", choices=sorted(REPORTS), help="which report")
    parser.add_argument("--generate-key", type=Path, help="create an Ed25519 key pair here (and KEY.pub) and stop")
    parser.add_argument("--key", type=Path, help="the Ed25519 private key (PEM) to sign with")
    parser.add_argument("--out", type=Path, help="where to write the attestation (default: stdout)")
    parser.add_argument("--region")
    parser.add_argument("--year", type=int)
    parser.add_argument("--person")
    parser.add_argument("--period", choices=["month", "quarter", "year"], default="month")
    parser.add_argument("--as-of", dest="as_of", help="business date YYYY-MM-DD")
    parser.add_argument("--known-at", dest="known_at", type=int, help="the log position (default: the head)")


def run(args: argparse.Namespace) -> int:
    if args.generate_key is not None:
        public = generate_key(args.generate_key)
        print(f"private key {args.generate_key} (mode 0600; keep it off the database's machine), public key {public}")
        return 0
    if args.name is None or args.key is None:
        raise InvalidInput("name", "give a report name and --key (or --generate-key)")
    as_of = None
    if args.as_of:
        try:
            as_of = date.fromisoformat(args.as_of)
        except ValueError:
            raise InvalidInput("as_of", f"must be a date YYYY-MM-DD, got {args.as_of!r}", value=args.as_of) from None
    elif args.year is not None and args.name in POINT_IN_TIME:
        as_of = date(args.year, 12, 31)
    filters = Filters(region=args.region, year=None if args.name in POINT_IN_TIME else args.year, person=args.person, period=args.period)
    key = load_private_key(args.key)
    with ledger_and_store() as (ledger, _, _description):
        document = attest(ledger, args.name, filters, key, args.known_at, as_of)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"attested {args.name} at log position {document['log_position']} (chain head {document['chain_head']}), "
              f"verify {'PASS' if document['verify']['passed'] else 'FAIL'}: {args.out}")
    return 0 if document["verify"]["passed"] else 1
