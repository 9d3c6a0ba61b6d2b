"""The log pseudonymiser keeps the people of recent lines (a message's lines share them) within a
bound: its cache of 256 entries held about 1.2 MB per 10,000-person remittance, 306 MB after 256
remittances of which none was seen again."""

from __future__ import annotations

import tracemalloc

from consumers import pseudonyms
from consumers.pseudonyms import PEOPLE_CONTEXT, Pseudonymiser


def _line(clean: Pseudonymiser, people: tuple[str, ...], number: int) -> dict[str, object]:
    return dict(clean(None, "info", {"event": "message.handled", "message_id": f"rem-{number}", PEOPLE_CONTEXT: people}))


def test_the_people_of_64_remittances_of_10000_are_not_all_kept() -> None:
    clean = Pseudonymiser(key=lambda: b"k" * 32)
    tracemalloc.start()
    try:
        for number in range(64):
            people = tuple(f"P{number:03d}-{i:05d}" for i in range(10_000))
            for _ in range(2):  # a message logs a few lines with its people
                _line(clean, people, number)
            del people
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 12 << 20 and peak < 16 << 20, f"held {held / 1e6:.1f} MB, peak {peak / 1e6:.1f} MB"


def test_a_message_s_lines_still_share_its_people_and_the_bound_holds() -> None:
    known_cache_size = getattr(pseudonyms, "known_cache_size", None)
    assert known_cache_size is not None, "a cache whose size can be read"
    people = tuple(f"Q{i}" for i in range(1_000))
    assert pseudonyms._known(people) is pseudonyms._known(people)  # the second line of a message: from the cache
    for number in range(200):
        pseudonyms._known(tuple(f"R{number}-{i}" for i in range(500)))
    entries, held = known_cache_size()
    assert entries <= pseudonyms.KNOWN_CACHE_ENTRIES and held <= pseudonyms.KNOWN_CACHE_PEOPLE
    huge = tuple(f"S{i}" for i in range(pseudonyms.KNOWN_CACHE_PEOPLE + 1))  # more than the budget: built for its line only
    assert pseudonyms._known(huge).people == frozenset(huge)
    assert known_cache_size() == (entries, held)
