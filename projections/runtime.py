"""Opening the ledger and its projection store from the environment, for the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.application import Ledger
from ledger.settings import ledger_env, store_description
from projections.store import ProjectionStore, open_store


@contextmanager
def ledger_and_store() -> Iterator[tuple[Any, ProjectionStore, str]]:
    env = ledger_env()
    ledger = Ledger(env=env)
    store = open_store(ledger)
    try:
        yield ledger, store, store_description(env)
    finally:
        store.close()
        ledger.close()
