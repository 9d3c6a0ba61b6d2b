"""Opening the ledger and its projection store from the environment, for the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.application import Ledger
from ledger.settings import ledger_env, store_description
from projections.store import ProjectionStore, open_store


@contextmanager
def ledger_and_store(follow: bool = False) -> Iterator[tuple[Any, ProjectionStore, str]]:
    """The ledger and its projection store; ``follow``: for a long-lived process, whose pooled
    connections are checked before use so that a database restart is survived."""
    env = ledger_env()
    if follow:
        env.setdefault("POSTGRES_PRE_PING", "y")
    ledger = Ledger(env=env)
    store = open_store(ledger)
    try:
        yield ledger, store, store_description(env)
    finally:
        store.close()
        ledger.close()
