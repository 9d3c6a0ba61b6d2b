"""``fund-ledger migrate``: create and secure the ledger's tables, as the database's owner.

On PostgreSQL run it with the owner's credentials (``eval "$(deploy/postgres/env.sh --owner)"``):
it creates the library's tables, the hash chain's column, the append-only trigger, the lock
function and the grants to the application and finance roles (``adapters.postgres_schema``).
Idempotent. On the embedded SQLite store the tables are created when the ledger opens."""

from __future__ import annotations

import argparse

from ledger.application import Ledger
from ledger.settings import ledger_env, store_description


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    env = ledger_env()
    ledger = Ledger(env=env)  # opening the store migrates it when the role owns the database
    try:
        done = ["tables and chain ready"]
        if env["PERSISTENCE_MODULE"].endswith("postgres"):
            from adapters.postgres_schema import migrate

            done = migrate(ledger.recorder, env)
    finally:
        ledger.close()
    if not args.quiet:
        print(f"migrated {store_description(env)}:")
        for line in done:
            print(f"  {line}")
    return 0
