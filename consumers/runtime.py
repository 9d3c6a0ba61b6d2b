"""Opening the ledger for ingestion: the store from the environment, the configured regions open."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import structlog
from eventsourcing.persistence import IntegrityError

from ledger.application import Ledger
from ledger.policy import DEFAULT_POLICY_FILE, load_policy_file
from ledger.settings import SettingsError, ledger_env, store_description

logger = structlog.get_logger()

OPEN_REGION_ATTEMPTS = 5


def open_ledger(policy_files: Sequence[Path] = (DEFAULT_POLICY_FILE,)) -> Ledger:
    """The ledger, with the region of every policy file opened and its versions adopted.

    Opening is idempotent; two consumers starting at once may race to open the same region: the
    loser's save conflicts on the aggregates' primary key, and it tries again (now a no-op).
    """
    env = ledger_env()
    ledger = Ledger(env=env)
    for path in policy_files:
        policy_file = load_policy_file(Path(path))
        for attempt in range(1, OPEN_REGION_ATTEMPTS + 1):
            try:
                ledger.open_region(policy_file)
                break
            except IntegrityError:
                if attempt == OPEN_REGION_ATTEMPTS:
                    raise
                time.sleep(0.1 * attempt)
        logger.info("region.opened", region=policy_file.region, versions=len(policy_file.versions))
    logger.info("ledger.opened", store=store_description(env))
    return ledger


def open_ledger_for_reading() -> Ledger:
    """The ledger as it is, for commands that only read it: no region opened, no policy adopted,
    and no embedded store created where there is none."""
    env = ledger_env()
    if env["PERSISTENCE_MODULE"].endswith("sqlite"):
        path = Path(env["SQLITE_DBNAME"])
        if not path.is_file():
            raise SettingsError(f"there is no ledger at {path}: nothing has been recorded there (FUND_LEDGER_SQLITE names another file)")
    return Ledger(env=env)
