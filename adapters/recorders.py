"""The ledger's process recorder for its store: on PostgreSQL and SQLite, a recorder that chains
every stored event (``adapters.chain``); in memory (tests), the library's own. And the recorder
of its snapshots.

``PROCESS_RECORDER_TOPIC``, if set, still picks another recorder class (the library's way).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import AggregateRecorder, ProcessRecorder


def process_recorder(factory: Any, env: Any) -> ProcessRecorder:
    kind = type(factory).__name__
    if env.get("PROCESS_RECORDER_TOPIC"):
        return factory.process_recorder()  # type: ignore[no-any-return]
    if kind == "PostgresFactory":
        from adapters.postgres_recorder import process_recorder as postgres

        return postgres(factory)
    if kind == "SQLiteFactory":
        from adapters.sqlite_recorder import process_recorder as sqlite

        return sqlite(factory)
    return factory.process_recorder()  # type: ignore[no-any-return]


def snapshot_recorder(factory: Any) -> AggregateRecorder:
    """The snapshots' recorder: on PostgreSQL, one that writes a save's snapshots in one statement
    (``adapters.postgres_recorder.BulkPostgresAggregateRecorder``); elsewhere the library's."""
    if type(factory).__name__ == "PostgresFactory":
        from adapters.postgres_recorder import snapshot_recorder as postgres

        return postgres(factory)
    return factory.aggregate_recorder(purpose="snapshots")  # type: ignore[no-any-return]
