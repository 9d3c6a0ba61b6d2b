"""A snapshot row whose seal is not one the ledger wrote (bad base64, a nonce too short, a
ciphertext its key does not open, no data at all) is refused and the aggregate folded from its
events (docs/audit.md, "Limits"), by the unit of work's prefetch and by the library's repository
alike. It used to stop the ledger: the seal's errors (``SettingsError``, ``binascii.Error``,
``ValueError``) escaped, and every message for that aggregate was dead-lettered as an internal
error."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.crypto import SNAPSHOT_FIELD
from tests.integration.test_account_snapshots import INTERVAL, REGION, _cold, _folded, _loaded, _run, _sqlite_env, _state, _steps

FORGED_DATA: dict[str, Any] = {"bad base64": "A", "nonce too short": "AAAA", "wrong ciphertext": "A" * 64, "not text": 12, "absent": None}


@pytest.mark.parametrize("data", FORGED_DATA.values(), ids=FORGED_DATA.keys())
def test_a_snapshot_whose_seal_is_forged_is_refused_and_the_account_folded(tmp_path: Path, data: Any) -> None:
    env = _sqlite_env(tmp_path, "ledger")
    _run(env, _steps()[:-1])  # P1 at version 11, snapshots at 3, 6 and 9
    with sqlite3.connect(env["SQLITE_DBNAME"]) as connection:
        (state,) = connection.execute("SELECT state FROM stored_snapshots WHERE originator_version = 9").fetchone()
        snapshot = json.loads(state)
        seal = snapshot["state"][SNAPSHOT_FIELD]
        if data is None:
            del seal["data"]
        else:
            seal["data"] = data
        connection.execute("UPDATE stored_snapshots SET state = ? WHERE originator_version = 9", (json.dumps(snapshot).encode(),))
    with capture_logs() as logs:
        account = _loaded(env, INTERVAL)
        for ledger in _cold(env, INTERVAL):
            held = ledger.personal_account(REGION, "P1")  # the library's repository
    assert account.balance_fen == held.balance_fen == 8 * 28_000 - 5_000
    assert _state(account) == _state(_folded(env))
    refusals = {(log["log_level"], log["reason"]) for log in logs if log["event"] == "snapshot_refused"}
    assert refusals == {("error", "altered")}
