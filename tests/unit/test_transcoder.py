"""The stored JSON by orjson (adapters.transcoder): the same bytes as the library's transcoder
writes, the same values as it reads, the same errors, on any value, and on a ledger's events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.transcoder import OrjsonTranscoder
from ledger.application import Ledger
from ledger.interest import DatedChanges


def transcoders() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    """The library's and ours, each with the ledger's transcodings."""
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    library, fast = JSONTranscoder(), OrjsonTranscoder()
    for transcoder in (library, fast):
        ledger.register_transcodings(transcoder)
    ledger.close()
    return library, fast


LIBRARY, FAST = transcoders()

texts = st.text(st.characters(codec=None), max_size=12)  # control characters, non-BMP, lone surrogates
keys = st.one_of(texts, st.sampled_from(["_type_", "_data_", "amount_fen", "on"]))
zones = st.one_of(st.none(), st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-900, 900)))
typed = st.one_of(
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(timezones=zones),
    st.lists(st.tuples(st.dates(), st.integers(-(2**62), 2**62)), max_size=4).map(DatedChanges),
)
scalars = st.one_of(
    st.none(), st.booleans(), texts,
    st.integers(-(2**63), 2**64),  # orjson's range
    st.integers(),  # wider than 64 bits too: the library's
    st.floats(allow_nan=False),
    typed,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(st.integers(0, 9), inner, min_size=1, max_size=2),  # keys JSON makes text of
        st.builds(lambda name, data: {"_type_": name, "_data_": data},
                  st.sampled_from(["uuid_hex", "date_iso", "no_such_type", "decimal_str"]), inner),
    ),
    max_leaves=20,
)


def outcome(action: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "value", action(*args)
    except Exception as error:  # noqa: BLE001 (the error's type is what is compared)
        return "error", type(error)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True is not enough here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, float) and a != a:  # NaN (the library reads the text NaN): equal to no float, NaN again here
        return b != b
    return bool(a == b)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_writes_the_library_bytes_and_reads_its_values(value: Any) -> None:
    written = outcome(LIBRARY.encode, value)
    assert outcome(FAST.encode, value) == written
    if written[0] == "error":
        return
    kind, read = outcome(LIBRARY.decode, written[1])
    fast_kind, fast_read = outcome(FAST.decode, written[1])
    assert fast_kind == kind
    assert same(fast_read, read) if kind == "value" else fast_read == read


json_texts = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.builds(lambda name, data: {"_type_": name, "_data_": data},
                  st.sampled_from(["uuid_hex", "date_iso", "datetime_iso", "decimal_str", "dated_changes", "unknown"]), inner),
    ),
    max_leaves=12,
).map(lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_texts, st.binary(max_size=40), json_texts.map(lambda text: text[: len(text) // 2])))
def test_reads_any_text_as_the_library_does(data: bytes) -> None:
    """Whatever the stored bytes: JSON the library wrote, typed values with bad data, unknown
    types, NaN and huge numbers, broken UTF-8, cut-off text."""
    library, fast = outcome(LIBRARY.decode, data), outcome(FAST.decode, data)
    assert fast[0] == library[0], (data, library, fast)
    assert same(fast[1], library[1]) if library[0] == "value" else fast[1] == library[1], (data, library, fast)


@pytest.mark.parametrize("value", [
    {"nested": [[[[{"deep": "x"}]]]] * 2},
    {"amount_fen": 2**70},  # wider than orjson takes
    {"rate": 0.1, "big": 1e16},  # floats: the library's text
    {1: "a", "b": 2},  # a key that is not a string
    {"when": datetime(2024, 1, 1, 12, tzinfo=UTC), "id": UUID(int=7), "rate": Decimal("0.0275")},
    ["\u2028", "\x00\x1f\x7f", '"\\', "\U0001f600"],
])
def test_values_where_the_two_could_part(value: Any) -> None:
    assert FAST.encode(value) == LIBRARY.encode(value)
    assert same(FAST.decode(LIBRARY.encode(value)), LIBRARY.decode(LIBRARY.encode(value)))


def test_a_circular_value_is_refused_as_the_library_refuses_it() -> None:
    looped: list[Any] = []
    looped.append(looped)
    assert outcome(FAST.encode, looped) == outcome(LIBRARY.encode, looped) == ("error", ValueError)


def test_the_ledger_stores_with_it_and_reads_what_the_library_stored(tmp_path: Any) -> None:
    """A ledger written by the library's transcoder reads the same with the default one (personal
    fields opened), and each stored state read and written again is byte for byte what is stored."""
    from ledger.policy import load_policy_file
    from tests.unit import builders

    path = str(tmp_path / "ledger.sqlite")
    old = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                      "TRANSCODER_TOPIC": "eventsourcing.persistence:JSONTranscoder"})
    assert type(old.mapper.transcoder) is JSONTranscoder
    old.open_region(load_policy_file())
    builders.enrol(old, "P1")
    builders.enrol(old, "P2", category="retiree", pension_fen=300_000)
    builders.fiscal_subsidy(old, 10_000_000)
    old.post_remittance(builders.remittance("R1", {"P1": 500_000, "P2": 0}, 40_000))
    old.pay_outpatient(builders.outpatient("C1", "P1", 1_234))
    old.settle_inpatient(builders.inpatient("C2", "P1", 2_000_000))
    old_events = [old.mapper.to_domain_event(n) for n in old.recorder.select_notifications(start=1, limit=1000)]
    old.close()

    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
    try:
        assert type(ledger.mapper.transcoder) is OrjsonTranscoder
        stored = ledger.recorder.select_notifications(start=1, limit=1000)
        assert len(stored) == len(old_events) >= 5
        for notification, old_event in zip(stored, old_events, strict=True):
            event = ledger.mapper.to_domain_event(notification)
            assert same(event.__dict__, old_event.__dict__)
            transcoder = ledger.mapper.transcoder  # personal fields as stored (sealed anew, they would differ)
            assert transcoder.encode(transcoder.decode(notification.state)) == notification.state
    finally:
        ledger.close()


def test_a_transcoding_registered_for_a_subclass_of_a_json_type_is_written_as_the_library_writes_it() -> None:
    """Python's json writes a str or int subclass itself, never asking the transcoding: so must we."""
    from enum import IntEnum, StrEnum

    from eventsourcing.persistence import Transcoding

    class Colour(StrEnum):
        RED = "red"

    class Size(IntEnum):
        BIG = 2

    class ColourAsName(Transcoding):
        type, name = Colour, "colour"

        def encode(self, obj: Colour) -> str:
            return obj.name

        def decode(self, data: str) -> Colour:
            return Colour[data]

    library, fast = transcoders()
    for transcoder in (library, fast):
        transcoder.register(ColourAsName())
    coloured = {"colour": Colour.RED, "items": [Colour.RED]}
    assert fast.encode(coloured) == library.encode(coloured) == b'{"colour":"red","items":["red"]}'
    assert fast.encode({"size": Size.BIG}) == library.encode({"size": Size.BIG}) == b'{"size":2}'


def test_a_state_written_takes_its_own_size_in_memory_not_orjsons_buffer() -> None:
    """orjson returns its whole output buffer, several times the JSON: a save holds thousands of
    states at once (the consumer's memory grew by a fifth before the copy of the right size)."""
    import tracemalloc

    state = {"postings": [{"account": "fund.personal", "amount_fen": -6000, "item": "income.contribution"}] * 4,
             "on": datetime(2024, 1, 15, tzinfo=UTC), "remittance_id": "E0000-2024-01"}
    size = len(FAST.encode(state))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [FAST.encode(state) for _ in range(1_000)]
        held = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert held < 2 * size + 100, (held, size)


def test_a_transcoding_registered_for_a_type_orjson_writes_itself_is_asked_as_the_library_asks_it() -> None:
    """orjson writes an enum (by its value) and a UUID (as text) without asking a hook: values of
    such a type registered here must still be written in the library's form."""
    from enum import Enum

    from eventsourcing.persistence import Transcoding

    class Level(Enum):
        TERTIARY = 3

    class LevelAsName(Transcoding):
        type, name = Level, "level"

        def encode(self, obj: Level) -> str:
            return obj.name

        def decode(self, data: str) -> Level:
            return Level[data]

    library, fast = transcoders()
    for transcoder in (library, fast):
        transcoder.register(LevelAsName())
    for value in ({"level": Level.TERTIARY, "on": datetime(2024, 1, 15, tzinfo=UTC), "rate": Decimal("0.02")},
                  {"id": UUID(int=7), "on": datetime(2024, 1, 15, tzinfo=UTC)}):
        assert fast.encode(value) == library.encode(value)
    assert b'"_type_":"level","_data_":"TERTIARY"' in fast.encode({"level": Level.TERTIARY})


def test_an_error_in_a_transcoding_is_the_library_error() -> None:
    """A transcoding that fails while orjson writes the value raises what it raises with the library."""
    from eventsourcing.persistence import Transcoding

    class Broken:
        pass

    class BrokenAsNothing(Transcoding):
        type, name = Broken, "broken"

        def encode(self, obj: Broken) -> str:
            raise ArithmeticError("cannot write it")

        def decode(self, data: str) -> Broken:
            return Broken()

    library, fast = transcoders()
    for transcoder in (library, fast):
        transcoder.register(BrokenAsNothing())
    value = {"on": datetime(2024, 1, 15, tzinfo=UTC), "broken": [Broken()]}
    assert outcome(fast.encode, value) == outcome(library.encode, value) == ("error", ArithmeticError)


def test_a_ledger_event_is_written_as_the_library_writes_it() -> None:
    """What a consumer writes most: a remittance line's credit (dates, a timestamp, postings)."""
    state = {"timestamp": datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), "region": "210100",
             "on": datetime(2024, 3, 15, tzinfo=UTC).date(), "origin": "contribution", "period": "2024-03",
             "postings": [{"account": "clearing.personal_accounts", "amount_fen": 1234, "item": None, "person_id": None},
                          {"account": "fund.personal", "amount_fen": -1234, "item": "income.contribution", "person_id": "P1",
                           "origin": "employee_share"}],
             "rates": (Decimal("0.02"), Decimal("0.06")), "wage_base_fen": 612_345}
    assert FAST.encode(state) == LIBRARY.encode(state)
    assert same(FAST.decode(FAST.encode(state)), LIBRARY.decode(LIBRARY.encode(state)))
