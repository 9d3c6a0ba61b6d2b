"""``fund-ledger ingest FILE.jsonl``: apply a file of messages without Kafka, through the same
handlers as the consumer, in batches; dead letters are recorded and reported."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from consumers.ingest import DEFAULT_DEAD_LETTER_FILE, ingest_file
from consumers.runtime import open_ledger
from ledger.errors import InvalidInput
from ledger.policy import DEFAULT_POLICY_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="JSON lines: one message (docs/messages.md) per line; - for standard input")
    parser.add_argument("--batch-size", type=int, default=500, help="messages per transaction (default 500, at most 10000)")
    parser.add_argument("--policy", type=Path, action="append", help=f"policy file of a region to open first (repeatable; default {DEFAULT_POLICY_FILE.name})")
    parser.add_argument("--dead-letter-file", type=Path, default=DEFAULT_DEAD_LETTER_FILE,
                        help=f"where refused lines are appended, besides the ledger's store (default {DEFAULT_DEAD_LETTER_FILE})")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.batch_size <= 10_000:
        raise InvalidInput("batch_size", "must be between 1 and 10000", value=args.batch_size)
    path = None if args.file == "-" else Path(args.file)
    if path is not None and not path.is_file():
        raise InvalidInput("file", f"{args.file}: no such file (- reads standard input)", value=args.file)
    ledger = open_ledger(args.policy or [DEFAULT_POLICY_FILE])
    try:
        report = ingest_file(ledger, path, batch_size=args.batch_size, dead_letter_file=args.dead_letter_file,
                             source=sys.stdin.buffer if path is None else None)
    finally:
        ledger.close()
    summary = report.as_dict()
    if report.dead_letters:
        summary["dead_letter_file"] = str(args.dead_letter_file)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    # Exit 1 when some lines were refused, so that a script notices; nothing was lost.
    return 1 if report.dead_letters else 0
