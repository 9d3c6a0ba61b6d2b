"""Which store the ledger uses, from the environment.

- Nothing configured: the embedded default, a SQLite file (``FUND_LEDGER_SQLITE``, default
  ``.run/fund-ledger.sqlite`` under the working directory).
- ``PERSISTENCE_MODULE=eventsourcing.postgres`` with the ``POSTGRES_*`` variables
  (``POSTGRES_DBNAME``, ``POSTGRES_HOST``, ``POSTGRES_PORT``, ``POSTGRES_USER``,
  ``POSTGRES_PASSWORD``; ``POSTGRES_LOCK_TIMEOUT`` defaults to 5 s here, never "wait forever"):
  PostgreSQL, the production store. ``deploy/postgres/env.sh --eventsourcing`` prints them for the
  local server that ``deploy/postgres/start.sh`` runs.
- ``PERSISTENCE_MODULE=eventsourcing.popo``: in memory (unit tests).

This module only builds an environment mapping for the ``eventsourcing`` library; the domain
never sees which store it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_SQLITE_PATH = Path(".run") / "fund-ledger.sqlite"
DEFAULTS = {
    "POSTGRES_LOCK_TIMEOUT": "5",
    # The library's default (5 s) ends a transaction that waits on the client that long; a save of
    # tens of thousands of events (a year's interest) spends longer than that being serialised.
    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
    "POSTGRES_POOL_SIZE": "4",
    # Seconds to get a connection (the library's default is 30): a database that is down is
    # reported, and waited for, sooner.
    "POSTGRES_CONNECT_TIMEOUT": "10",
    "POSTGRES_MAX_OVERFLOW": "4",
}


POSTGRES_REQUIRED = ("POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD")
KNOWN_MODULES = ("eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo")


class SettingsError(Exception):
    """The environment does not say how to reach the ledger's store: the message says what to set."""


def whole_number_setting(name: str, setting: str | None, default: int, most: int) -> int:
    """A count from the setting ``name`` (``default`` if unset), refused unless 1 to ``most``."""
    if setting is None or setting == "":
        return default
    try:
        count = int(setting)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {setting!r}") from None
    if not 1 <= count <= most:
        raise SettingsError(f"{name} must be between 1 and {most:,}, got {count}")
    return count


def ledger_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``eventsourcing`` settings for the ledger, defaulting to the embedded SQLite file.
    Raises ``SettingsError`` when a store is chosen but not fully described."""
    source = dict(os.environ if environ is None else environ)
    env = {**DEFAULTS, **source}
    module = env.get("PERSISTENCE_MODULE")
    if module and module not in KNOWN_MODULES:
        raise SettingsError(f"PERSISTENCE_MODULE={module!r} is not a store the ledger knows: one of {', '.join(KNOWN_MODULES)}, or unset")
    if module == "eventsourcing.postgres":
        missing = [name for name in POSTGRES_REQUIRED if not env.get(name)]
        if missing:
            raise SettingsError(f"PERSISTENCE_MODULE is PostgreSQL but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
                                "(for the local server: eval \"$(deploy/postgres/env.sh --eventsourcing)\")")
    if not env.get("PERSISTENCE_MODULE"):
        path = Path(env.get("FUND_LEDGER_SQLITE") or DEFAULT_SQLITE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        env["SQLITE_DBNAME"] = str(path)
    elif env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite" and not env.get("SQLITE_DBNAME"):
        env["SQLITE_DBNAME"] = str(Path(env.get("FUND_LEDGER_SQLITE") or DEFAULT_SQLITE_PATH))
    return env


def store_description(env: Mapping[str, str]) -> str:
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("sqlite"):
        return f"SQLite file {env.get('SQLITE_DBNAME')}"
    if module.endswith("postgres"):
        return f"PostgreSQL {env.get('POSTGRES_HOST')}:{env.get('POSTGRES_PORT')}/{env.get('POSTGRES_DBNAME')}"
    return "in memory"
