"""The consumer-lag metric's first half: the position the consumer stored with its events, per
topic and partition, read from the ledger's tracking table (the broker's end offsets are the
other half)."""

from __future__ import annotations

from ledger.application import Ledger
from ledger.settings import ledger_env
from tests.api.service import RunningService
from tests.conftest import as_role, connect


def test_the_consumers_stored_positions_are_read_per_topic_and_partition(service: RunningService) -> None:
    settings = {key: value for key, value in service.env.items() if key.startswith(("POSTGRES_", "PERSISTENCE_"))}
    with connect(settings, "superuser") as connection:
        connection.execute("INSERT INTO fundledger_tracking (application_name, notification_id) VALUES "
                           "('ledger.claims:0', 42), ('ledger.persons:2', 7), ('not-a-partition', 99)")
    from api.metrics import stored_kafka_positions

    ledger = Ledger(env=ledger_env({**as_role(settings, "finance"), "CREATE_TABLE": "n"}))
    try:
        assert stored_kafka_positions(ledger) == {("ledger.claims", 0): 42, ("ledger.persons", 2): 7}
    finally:
        ledger.close()
