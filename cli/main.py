"""``fund-ledger``: the command line. Errors are rendered here, in one place.

Subcommands live in their own modules (``cli/<name>.py``), each with ``add_arguments(parser)``
and ``run(args) -> int``; they are imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from cli.logs import configure_logging
from ledger.errors import LedgerError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("cli.demo", "simulate one region for a year through the real use cases and print the books"),
    "verify": ("cli.verify", "recompute the trial balance and every invariant over the whole history"),
    "replay": ("cli.replay", "rebuild every projection from position 0 into fresh tables and compare with the live ones"),
    "project": ("cli.project", "bring the projections up to date with the event log"),
    "report": ("cli.report", "print a report from the projections (balances, income, expenditure, ...)"),
    "ingest": ("cli.ingest", "apply a JSON-lines file of messages through the consumers' handlers, without Kafka"),
    "publish": ("cli.publish", "publish a JSON-lines file of messages to Kafka"),
    "consume": ("cli.consume", "run the Kafka consumer (exactly-once in effect) until stopped"),
    "dead-letters": ("cli.dead_letters", "list dead-lettered messages, or re-publish one"),
    "trace": ("cli.trace", "from a report figure to its events, their Kafka messages and policy versions; or a message to its events"),
    "attest": ("cli.attest", "sign a report with its log position, chain head and verify result (Ed25519)"),
    "check-attestation": ("cli.check_attestation", "check an attestation's signature and that the log still yields its report"),
    "anchor": ("cli.anchor", "write the hash chain's head to a file and/or a Kafka topic, outside the database"),
    "migrate": ("cli.migrate", "create and secure the ledger's tables (PostgreSQL: as the database's owner)"),
}


def build_parser(names: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fund-ledger", description="Event-sourced medical insurance fund ledger")
    parser.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    parser.add_argument("--log-level", default=None, help="default: the command's own (info for consume, else warning)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in names:
        module_name, help_text = COMMANDS[name]
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            command_parser.set_defaults(unavailable=True)
            continue
        module.add_arguments(command_parser)
        command_parser.set_defaults(module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = [arg for arg in argv if arg in COMMANDS][:1]
    parser = build_parser(chosen or list(COMMANDS))
    args = parser.parse_args(argv)
    default_level = getattr(getattr(args, "module", None), "DEFAULT_LOG_LEVEL", "warning")
    configure_logging(args.log_format, args.log_level or default_level)
    if getattr(args, "unavailable", False):
        print(f"fund-ledger {args.command}: not available in this build", file=sys.stderr)
        return 2
    try:
        return int(args.module.run(args) or 0)
    except LedgerError as error:
        print(f"error: {error.field}: {error.reason}", file=sys.stderr)
        print(json.dumps(error.as_dict(), ensure_ascii=False), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
