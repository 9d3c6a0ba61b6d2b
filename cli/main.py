"""``fund-ledger``: the command line. Errors are rendered here, in one place.

Subcommands live in their own modules (``cli/<name>.py``), each with ``add_arguments(parser)``
and ``run(args) -> int``; they are imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

import structlog

from cli.logs import configure_logging
from cli.terminal import SafeStream, escape_controls
from ledger.errors import LedgerError

logger = structlog.get_logger()

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
    "serve": ("cli.serve", "run the HTTP service: the read-only API, the finance pages, health, readiness and metrics"),
    "token": ("cli.token", "create, list and revoke the service's bearer tokens; list its access log"),
    "migrate": ("cli.migrate", "create and secure the ledger's tables (PostgreSQL: as the database's owner)"),
    "erase-person": ("cli.erase_person", "destroy a person's personal data (their keys) once the retention period allows it"),
    "import-keys": ("cli.import_keys", "move a key file's keys into a key database (read by id), the ledger stopped"),
}


def _add_global_options(parser: argparse.ArgumentParser, *, on_subcommand: bool) -> None:
    """The options every command takes, before or after the command's name (``fund-ledger consume
    --log-format json`` as well as ``fund-ledger --log-format json consume``)."""
    kwargs = {"default": argparse.SUPPRESS} if on_subcommand else {}
    parser.add_argument("--log-format", choices=["auto", "json", "console"], **({"default": "auto"} | kwargs))  # type: ignore[arg-type]
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], type=str.lower,
                        help="default: the command's own (info for consume, else warning)", **({"default": None} | kwargs))  # type: ignore[arg-type]


def build_parser(names: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fund-ledger", description="Event-sourced medical insurance fund ledger")
    _add_global_options(parser, on_subcommand=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in names:
        module_name, help_text = COMMANDS[name]
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        _add_global_options(command_parser, on_subcommand=True)
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
    # Every file the ledger writes (stores, keys, dead letters, logs, anchors) is its user's only:
    # 0600 files, 0700 directories (docs/security.md).
    os.umask(0o077)
    # Whatever a command prints, nothing in it may act on the terminal (cli.terminal).
    sys.stdout = SafeStream(sys.stdout)  # type: ignore[assignment]
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
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say to it
        sys.stderr.close()
        return 141
    except Exception as error:  # noqa: BLE001 - every failure is rendered here, in one line
        text, code = failure_message(error, args)
        print(escape_controls(text), file=sys.stderr)
        return code


def failure_message(error: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """One line for a person (and an exit code) for whatever stopped a command: what went wrong
    and what to check. Never a stack trace (``--log-level debug`` logs it)."""
    from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
    from kafka.errors import AuthorizationError, KafkaError

    from consumers.consumer import ConsumerFailed
    from consumers.kafka_io import TopicsMissing, bootstrap_servers
    from consumers.refusals import MessageRefused
    from ledger.settings import SettingsError

    first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    if isinstance(error, LedgerError):
        return f"error: {error.field}: {error.reason}\n{json.dumps(error.as_dict(), ensure_ascii=False)}", 2
    if isinstance(error, MessageRefused):
        return f"error: {error.field or error.code}: {error.reason}", 2
    if isinstance(error, SettingsError):
        return f"error: {error}", 2
    if isinstance(error, (OperationalError, InterfaceError)):
        return (f"error: cannot reach the ledger's database ({_store()}): {first_line}. Check the POSTGRES_* settings and "
                "that the server runs (deploy/postgres/start.sh)"), 3
    if isinstance(error, PersistenceError):
        return f"error: the ledger's database refused the operation ({_store()}): {first_line}", 3
    if isinstance(error, AuthorizationError):
        return (f"error: the Kafka broker refuses principal {os.environ.get('KAFKA_SASL_USERNAME') or '(none)'} this "
                f"({type(error).__name__}: {first_line}): its ACLs allow each principal its own topics only (docs/security.md)"), 3
    if isinstance(error, TopicsMissing):
        return f"error: {error}", 3
    if isinstance(error, KafkaError):
        bootstrap = bootstrap_servers(getattr(args, "bootstrap_servers", None))
        return (f"error: cannot reach the Kafka broker at {bootstrap} ({type(error).__name__}): check --bootstrap-servers or "
                "KAFKA_BOOTSTRAP_SERVERS, the credentials (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE) and "
                "that the broker runs (deploy/kafka/start.sh)"), 3
    if isinstance(error, ConsumerFailed):
        return f"error: the consumer stopped: {error}", 1
    if isinstance(error, OSError):
        return f"error: {error.strerror or first_line}" + (f": {error.filename}" if error.filename else ""), 2
    logger.debug("command.failed", exc_info=True)
    return (f"error: internal error ({type(error).__name__}: {first_line}); run with --log-level debug for the details, "
            "and report it"), 70


def _store() -> str:
    from ledger.settings import ledger_env, store_description

    try:
        return store_description(ledger_env())
    except Exception:  # noqa: BLE001 - only a description for an error message
        return "as configured"


if __name__ == "__main__":
    sys.exit(main())
