"""The consumer's memory target: judged by its peak over the run against its peak while the
first month was in hand, not by a last sample that may land inside or after a batch."""

from __future__ import annotations

from typing import Any

from bench.measure import Results
from bench.run import consumer_memory

EVENTS = 100_000


def _e2e(samples: list[tuple[float, float, int]], peak_mib: float) -> dict[str, Any]:
    return {"consumer_samples": samples, "events": EVENTS, "consumer_peak_rss_mib": peak_mib, "lines": EVENTS,
            "persons": 1_000, "enrol_peak_rss_mib": 100.0}


def _judged(samples: list[tuple[float, float, int]], peak_mib: float) -> tuple[bool, float]:
    results = Results()
    consumer_memory(_e2e(samples, peak_mib), results)
    return results.targets[-1].passed, results.details["consumer_growth"]


def test_a_last_sample_taken_between_batches_does_not_hide_a_growing_peak() -> None:
    # First batch in hand at 250 MiB; later batches reach 360 MiB; the last sample, after the last
    # batch, is back at 249 MiB.
    samples = [(0.0, 200.0, 0), (1.0, 250.0, 0), (2.0, 240.0, 20_000), (3.0, 360.0, 40_000), (4.0, 249.0, EVENTS)]
    passed, growth = _judged(samples, peak_mib=360.0)
    assert not passed
    assert round(growth, 2) == 0.44


def test_a_last_sample_inside_a_batch_does_not_fail_a_flat_peak() -> None:
    samples = [(0.0, 200.0, 0), (1.0, 300.0, 0), (2.0, 220.0, 20_000), (3.0, 305.0, 60_000), (4.0, 299.0, EVENTS)]
    passed, growth = _judged(samples, peak_mib=305.0)
    assert passed
    assert round(growth, 2) == 0.02
