"""``fund-ledger check-attestation FILE``: verify an attestation's signature, that the log still
holds the attested history up to its position (chain head, ``verify``) and still yields the same
report there (``projections.attest.check``). Exit code 0 on PASS, 1 on FAIL."""

from __future__ import annotations

import argparse
from pathlib import Path

from projections.attest import check, load_attestation, load_public_key
from projections.runtime import ledger_and_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an attestation written by fund-ledger attest")
    parser.add_argument("--public-key", type=Path, help="the signer's public key (PEM) you trust")


def run(args: argparse.Namespace) -> int:
    document = load_attestation(args.file)
    trusted = load_public_key(args.public_key) if args.public_key is not None else None
    with ledger_and_store() as (ledger, _, description):
        problems, notes = check(ledger, document, trusted)
    print(f"attestation {args.file}: report {document['report']['name']} at log position {document.get('log_position')}, "
          f"chain head {document.get('chain_head')}, against {description}")
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"FAILED: {problem}")
    print("PASS: the signature holds and the log yields the same report at that position" if not problems else "FAIL")
    return 0 if not problems else 1
