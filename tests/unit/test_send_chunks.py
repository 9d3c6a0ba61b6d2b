"""How a save is cut into the statements the PostgreSQL recorder sends (``send_chunks``)."""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from adapters.postgres_recorder import send_chunks


def _events(sizes: list[int]) -> list[StoredEvent]:
    return [StoredEvent(uuid4(), 1, "t", b"x" * size) for size in sizes]


def test_a_save_under_the_limit_is_one_statement() -> None:
    assert send_chunks(_events([100, 200, 300]), 600) == [slice(0, 3)]


def test_a_save_over_the_limit_is_cut_where_the_next_event_would_pass_it() -> None:
    assert send_chunks(_events([300, 300, 1, 400, 300]), 600) == [slice(0, 2), slice(2, 4), slice(4, 5)]


def test_an_event_larger_than_the_limit_goes_alone() -> None:
    assert send_chunks(_events([10, 5_000, 10]), 600) == [slice(0, 1), slice(1, 2), slice(2, 3)]


def test_no_events_no_statement() -> None:
    assert send_chunks([], 600) == []


@given(st.lists(st.integers(min_value=0, max_value=2_000), max_size=60), st.integers(min_value=1, max_value=3_000))
def test_every_event_is_sent_once_in_order_and_no_statement_passes_the_limit_but_alone(sizes: list[int], limit: int) -> None:
    events = _events(sizes)
    parts = send_chunks(events, limit)
    assert [e for part in parts for e in events[part]] == events
    for part in parts:
        sent = events[part]
        assert sent, part
        assert sum(len(e.state) for e in sent) <= limit or len(sent) == 1
    for before, after in zip(parts, parts[1:], strict=False):  # cut only where the next event would pass the limit
        assert sum(len(e.state) for e in events[before]) + len(events[after.start].state) > limit
