"""``fund-ledger import-keys [--to PATH] [--yes]``: move a key file's keys into a key database.

For the ledger's administrator, with the ledger's other processes stopped. A ledger made before
the key database keeps its key file (``adapters.keys``: the default store is the file where one
exists); this copies every key and every destroyed id of the file the settings name into a key
database (``--to``, default the file's name with ``.sqlite``), in one transaction, and once it is
committed removes the file, leaving a marker that refuses any store on it, so that the default
store beside the ledger becomes the database and each process reads keys by id instead of the
whole file (with ``FUND_LEDGER_KEYS`` naming the file, set it to ``sqlite:<the database>`` after).
Without ``--yes`` it only says what it would do.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from adapters.keys import KEYS_SETTING, FileKeyStore, SQLiteKeyStore, import_key_file, key_store_from_env
from ledger.settings import SettingsError, ledger_env

DEFAULT_LOG_LEVEL = "warning"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", type=Path, help="the key database to write (default: the key file's path + .sqlite)")
    parser.add_argument("--yes", action="store_true", help="do it and remove the key file; without it, a dry run")


def run(args: argparse.Namespace) -> int:
    source = key_store_from_env(ledger_env())
    if not isinstance(source, FileKeyStore):
        raise SettingsError("the key store the settings name is not a key file (FUND_LEDGER_KEYS, or a .keys file beside the "
                            "store): nothing to import")
    if not source.path.exists():
        raise SettingsError(f"{source.path} does not exist: nothing to import")
    target = args.to or source.path.with_name(source.path.name + ".sqlite")
    if not args.yes:
        print(json.dumps({"from": str(source.path), "to": str(target), "keys": source.count(),
                          "dry_run": True, "note": "nothing was imported: run again with --yes, the ledger's other processes stopped"},
                         indent=2))
        return 0
    summary = import_key_file(source, SQLiteKeyStore(target), remove=True)
    if os.environ.get(KEYS_SETTING, "").strip():
        summary["next"] = f"set {KEYS_SETTING}=sqlite:{target} (the key file it named is gone; a store on it is refused)"
    print(json.dumps(summary, indent=2))
    return 0
