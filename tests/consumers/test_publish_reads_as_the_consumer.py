"""``fund-ledger publish`` and ``dead-letters --republish`` check what they send as the consumer
reads it (``consumers.handlers.read_message``): a line the consumer would refuse at once is refused
before anything is sent. They checked with pydantic alone, which keeps the last of two equal keys
and has no size limit: such lines passed the check-everything-first step and were sent."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from cli import publish
from consumers import contract
from consumers import dead_letters as dead_letters_module
from consumers.handlers import Delivery, apply_batch
from consumers.refusals import MessageRefused
from ledger.application import Ledger

CLAIM = json.dumps(contract.MESSAGE_TYPES["claim.outpatient"].example)
AMOUNT = '"amount_fen": ' + str(contract.MESSAGE_TYPES["claim.outpatient"].example["payload"]["amount_fen"])
DUPLICATE_KEY = CLAIM.replace(AMOUNT, AMOUNT + ', "amount_fen": 99999999').encode()
TOO_LARGE = CLAIM.encode()[:-1] + b" " * 1_100_000 + b"}"  # valid JSON, over the 1,000,000-byte limit
LONG_NUMBER = CLAIM.replace(AMOUNT, '"amount_fen": 1' + "0" * 5000).encode()
CASES = [(DUPLICATE_KEY, "duplicate_key", "amount_fen"), (TOO_LARGE, "too_large", ""),
         (LONG_NUMBER, "invalid_schema", "payload.amount_fen")]


def _nothing_is_sent(*_: Any, **__: Any) -> Any:
    raise AssertionError("nothing may be sent, nor the broker reached, when a line is refused")


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("bootstrap_servers", "ensure_topics", "producer", "send_all"):
        monkeypatch.setattr(publish, name, _nothing_is_sent)
    monkeypatch.setattr(dead_letters_module, "producer", _nothing_is_sent)


@pytest.mark.parametrize(("bad", "code", "field"), CASES)
def test_publish_refuses_what_the_consumer_would_refuse_before_sending_anything(
        bad: bytes, code: str, field: str, tmp_path: Path, no_broker: None, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_bytes(CLAIM.encode() + b"\n" + bad + b"\n")
    args = argparse.Namespace(file=path, bootstrap_servers="127.0.0.1:1", topic_prefix="", partitions=3, raw=False, fallback_topic=None)
    assert publish.run(args) == 1
    printed = json.loads(capsys.readouterr().out)
    assert (printed["sent"], printed["refused_count"]) == (0, 1)
    (refused,) = printed["refused"]
    assert (refused["line"], refused["code"], refused["field"]) == (2, code, field)


@pytest.mark.parametrize(("bad", "code", "field"), CASES)
def test_a_fixed_message_is_read_as_the_consumer_reads_it_before_it_is_republished(
        bad: bytes, code: str, field: str, store: Ledger, no_broker: None) -> None:
    (dead,) = apply_batch(store, [Delivery(value=b"not json", topic="stream", partition=0, offset=0)]).dead_letters
    with pytest.raises(MessageRefused) as refused:
        dead_letters_module.republish(store, dead["dead_letter_id"], "127.0.0.1:1", fixed=bad)
    assert (refused.value.code, refused.value.field) == (code, field)
