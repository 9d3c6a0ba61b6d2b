"""A fuzz target over the whole path a message travels: bytes -> strict read -> schema -> command
-> bounds -> use case -> dead letter, seeded with every input of the hostile catalogue and an
example of every message type, and mutated from there by Hypothesis.

After each batch of inputs, what must hold whatever they were: the process is alive (no
exception leaves ``apply_batch``), every input is applied, acknowledged as a duplicate, deferred
or dead-lettered with a code, a reason and its original bytes; the trial balance is zero, in
every region; ``verify`` passes over the whole history.

``make test`` runs a bounded number of examples (``FUZZ_EXAMPLES``, default 150); ``make fuzz``
a long run.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers import contract
from consumers.handlers import Delivery, apply_batch
from consumers.retries import RetryPlan
from ledger.application import Ledger
from ledger.policy import load_policy_file
from projections.verify import Verifier
from tests.hostile.catalogue import catalogue, good_lines

SEEDS: list[bytes] = [line.value for line in catalogue(people=3)] + [json.dumps(kind.example).encode() for kind in contract.MESSAGE_TYPES.values()]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
RETRY_PLAN = RetryPlan((0.0,))


def _as_message(value: bytes) -> dict[str, Any] | None:
    try:
        loaded = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) and isinstance(loaded.get("payload"), dict) else None


SEED_MESSAGES = [m for m in (_as_message(v) for v in SEEDS) if m is not None]

HOSTILE_VALUES = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, 1, -1, 10**13, 10**13 + 1, 2**63, 2**64, 10**12]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["9999-12-31", "0001-01-01", "2150-01-01", "2024-02-30", "2023-12-31", "1999-03-31", "2024-01-01",
                     "2024-05-01T08:00:00+08:00", "2150-01-01T00:00:00Z", "\x1b]0;x\x07", "\u202e", "", "P1", "P2", "C1"]),
    st.none(), st.booleans(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix + (key,)
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            yield prefix + (index,)
            yield from _paths(child, prefix + (index,))


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _set(copy[path[0]], path[1:], new)
    return copy


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    """A seed message with one field replaced by a hostile value, or dropped, or doubled."""
    message = draw(st.sampled_from(SEED_MESSAGES))
    path = draw(st.sampled_from(list(_paths(message))))
    action = draw(st.sampled_from(["replace", "replace", "drop", "duplicate"]))
    if action == "replace":
        return json.dumps(_set(message, path, draw(HOSTILE_VALUES))).encode()
    text = json.dumps(message)
    key = json.dumps(str(path[-1]))
    if action == "drop" or key not in text:
        parent = path[:-1]
        container = message
        for step in parent:
            container = container[step]
        if isinstance(container, dict):
            return json.dumps(_set(message, parent, {k: v for k, v in container.items() if k != path[-1]})).encode()
        return text.encode()
    return text.replace(key + ":", f"{key}: 1, {key}:", 1).encode()  # the key twice


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed's bytes, cut, spliced or with bytes changed."""
    value = bytearray(draw(st.sampled_from(SEEDS))[:5_000])
    for _ in range(draw(st.integers(1, 4))):
        if not value:
            break
        at = draw(st.integers(0, len(value) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if kind == "flip":
            value[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del value[at:at + draw(st.integers(1, 20))]
        elif kind == "insert":
            value[at:at] = draw(st.sampled_from([b"[", b"{", b'"', b"\\", b"\x00", b"\xff", b"NaN", b",", b"}", b'"a":1,']))
        else:
            del value[at:]
    return bytes(value)


# Mostly well-formed messages with one hostile field (they reach the use cases), then the seeds
# as they are, mutated bytes and noise.
INPUTS = st.one_of(structured(), structured(), structured(), st.sampled_from(SEEDS), mutated(), st.binary(max_size=200))


@pytest.fixture(scope="module")
def fresh() -> Any:
    def make() -> Ledger:
        ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        ledger.open_region(load_policy_file())
        setup = [Delivery(value=line.value, topic="fuzz.setup", partition=0, offset=i) for i, line in enumerate(good_lines()[:4])]
        result = apply_batch(ledger, setup)
        assert result.count("applied") == 4
        return ledger
    return make


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          derandomize=os.environ.get("FUZZ_RANDOM") is None)
@given(values=st.lists(INPUTS, min_size=1, max_size=4))
def test_whatever_arrives_the_ledger_stays_alive_balanced_and_verifiable(fresh: Any, values: list[bytes]) -> None:
    ledger = fresh()
    try:
        deliveries = [Delivery(value=value, topic="fuzz", partition=0, offset=i) for i, value in enumerate(values)]
        result = apply_batch(ledger, deliveries, tracking_name="fuzz:0", retry_plan=RETRY_PLAN, schedule_retries=lambda _: None)
        assert len(result.outcomes) == len(values)
        for outcome, value in zip(result.outcomes, values, strict=True):
            assert outcome.status in ("applied", "duplicate", "dead_letter", "deferred"), outcome.status
            refusal = outcome.dead_letter or outcome.deferral
            if outcome.status in ("dead_letter", "deferred"):
                assert refusal is not None and refusal["code"] and refusal["reason"]
                assert base64.b64decode(refusal["value_b64"]) == value
        trial = ledger.trial_balance()
        assert sum(trial.values()) == 0
        verification = Verifier(ledger).run()
        assert verification.passed, dict(verification.violations)
    finally:
        ledger.close()
