"""``fund-ledger erase-person REGION PERSON --yes``: destroy a person's personal data for good.

For the ledger's administrator (it needs the key store, ``FUND_LEDGER_KEYS``). The ledger records
the erasure (``ledger.erasure``: only a closed account, once the region's retention period has run
out since it closed), then destroys the person's key and the keys of the refused messages that name
them (``consumers.erasure``). Their birth date, employer, pension and the heirs' reference can never
be read again; every amount, every report's total and the hash chain stay as they were. Without
``--yes`` it only says whether it may and what it would destroy.
"""

from __future__ import annotations

import argparse
import json
import re

from consumers.erasure import erase
from consumers.runtime import open_ledger_for_reading
from consumers.schemas import ID_PATTERN, REGION_PATTERN
from ledger.errors import InvalidInput

DEFAULT_LOG_LEVEL = "info"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("region", help="pooling region code, e.g. 210100")
    parser.add_argument("person", help="the person's id in that region")
    parser.add_argument("--yes", action="store_true", help="do it (it cannot be undone); without it, a dry run")


def run(args: argparse.Namespace) -> int:
    if not re.match(REGION_PATTERN, args.region):
        raise InvalidInput("region", "must be a 6-digit region code", value=args.region)
    if not re.match(ID_PATTERN, args.person) or len(args.person) > 64:
        raise InvalidInput("person", "must be a person id: ASCII letters, digits and . _ : - only", value=args.person)
    ledger = open_ledger_for_reading()
    try:
        erasure = erase(ledger, args.region, args.person, dry_run=not args.yes)
    finally:
        ledger.close()
    summary = erasure.as_dict()
    if not args.yes:
        summary = {**summary, "dry_run": True, "person_key": "would be destroyed",
                   "note": "nothing was erased: run again with --yes to erase (it cannot be undone)"}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0
