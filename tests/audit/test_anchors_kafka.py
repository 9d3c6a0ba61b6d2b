"""Anchors published to a Kafka topic (the real broker, deploy/kafka/start.sh) and read back by
``verify --anchors-topic``: the broker keeps a copy of the chain's head outside the database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from consumers.kafka_io import anchors_topic
from ledger.application import Ledger
from ledger.policy import load_policy_file
from projections.anchors import publish_anchor, read_anchor_topic, take_anchor
from projections.verify import Verifier
from tests.conftest import REPO
from tests.integration.test_stores import run_scenario
from tests.kafka.kafka_helpers import grant_prefix, role_settings

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def bootstrap() -> str:
    started = subprocess.run([str(REPO / "deploy/kafka/start.sh")], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        pytest.fail(f"deploy/kafka/start.sh failed:\n{started.stdout}\n{started.stderr}")
    return f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"


def test_anchors_on_a_topic_check_the_chain_and_catch_a_shortened_log(bootstrap: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    grant_prefix(bootstrap, prefix)  # the topic and its ACLs, as the operator makes them
    topic = anchors_topic(prefix)
    for name, value in role_settings("ledger").items():  # the ledger writes anchors; auditors read them
        monkeypatch.setenv(name, value)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
    ledger = Ledger(env=env)
    try:
        ledger.open_region(load_policy_file())
        opened = ledger.recorder.max_notification_id()
        publish_anchor(bootstrap, topic, take_anchor(ledger))  # the opening's last position
        run_scenario(ledger)  # opening again adds nothing; then the scenario's events
        last = ledger.recorder.max_notification_id()
        publish_anchor(bootstrap, topic, take_anchor(ledger))
        for name, value in role_settings("auditor").items():
            monkeypatch.setenv(name, value)
        anchors = read_anchor_topic(bootstrap, topic)
        assert [a.position for a in anchors] == [opened, last] and last > opened
        assert Verifier(ledger).run(anchors=anchors).passed
    finally:
        ledger.close()
    copy = tmp_path / "copy.sqlite"  # the file as someone with it might shorten it: the last event gone
    copy.write_bytes((tmp_path / "ledger.sqlite").read_bytes())
    import sqlite3
    with sqlite3.connect(copy) as connection:
        connection.execute("DROP TRIGGER stored_events_no_delete")
        connection.execute("DELETE FROM stored_events WHERE rowid = ?", (last,))
    environ = {**os.environ, **role_settings("auditor"), "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy), "PYTHONPATH": str(REPO),
               "FUND_LEDGER_PROJECTIONS_SQLITE": str(tmp_path / "p.sqlite")}
    done = subprocess.run([sys.executable, "-m", "cli.main", "verify", "--no-projection", "--anchors-topic", topic,
                           "--bootstrap-servers", bootstrap], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"the log now ends at {last - 1}: events were removed" in done.stdout
