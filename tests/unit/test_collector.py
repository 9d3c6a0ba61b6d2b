"""The cyclic collector paused for a batch job, and on again after it, as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from adapters.collector import cyclic_gc_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_on_again_after() -> None:
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_on_again_after_an_error() -> None:
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outermost() -> None:
    with cyclic_gc_paused():
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer job is still running
    assert gc.isenabled()


def test_a_pause_in_another_thread_keeps_it_off_until_both_end() -> None:
    inside, release = threading.Event(), threading.Event()

    def job() -> None:
        with cyclic_gc_paused():
            inside.set()
            release.wait(10)

    other = threading.Thread(target=job)
    with cyclic_gc_paused():
        other.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread's job goes on
    release.set()
    other.join(10)
    assert gc.isenabled()


def test_left_off_if_it_was_off_before() -> None:
    gc.disable()
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()
