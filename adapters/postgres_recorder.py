"""A PostgreSQL process recorder that writes a save without pipeline mode.

``eventsourcing`` writes each save in psycopg's pipeline mode: the table lock, the notify, the
INSERT of every event (one array parameter) and the tracking row are sent together and synced.
With a large save (measured here: 10,000 events of 500 bytes, 5 MB) the connection hangs, the
server waiting in ``ClientRead`` for the rest of a statement the client never finishes sending,
the failure reported upstream as psycopg/psycopg#685. The ledger's saves are large by design (a
batch of remittances, a year's interest), so this recorder sends the same statements in the
same single transaction one after the other: three or four round trips per save instead of one,
which a save of thousands of events does not notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder


class UnpipelinedPostgresProcessRecorder(PostgresProcessRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        # Build the INSERT's parameter before the transaction opens: for a large save that takes
        # seconds, and a transaction idle that long is ended by the server
        # (POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT, 5 s by default).
        rows = [self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events]
        with self.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)  # the tracking row, if any
            if not stored_events:
                return []
            self._lock_table(cursor)
            self._notify_channel(cursor)
            cursor.execute(query=self.insert_events_statement, params=(rows,))
            return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)


def process_recorder(factory: Any) -> UnpipelinedPostgresProcessRecorder:
    """What ``PostgresFactory.process_recorder()`` builds, with this recorder class."""
    name = factory.env.name.lower()
    recorder = UnpipelinedPostgresProcessRecorder(
        datastore=factory.datastore,
        events_table_name=(name or "stored") + "_events",
        tracking_table_name=(name or "notification") + "_tracking",
    )
    if factory.env_create_table():
        recorder.create_table()
    return recorder
