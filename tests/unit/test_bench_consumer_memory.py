"""The consumer's memory target: judged by its high-water mark once the first month was saved
against its high-water mark over the run (two peaks), not by sampled RSS, which misses a spike
between two samples, nor by a last sample that may land inside or after a batch."""

from __future__ import annotations

from typing import Any

from bench.measure import Results
from bench.run import consumer_memory

EVENTS = 100_000


def _judged(samples: list[tuple[float, float, int]], peaks_so_far: list[float], peak_mib: float) -> tuple[bool, float]:
    results = Results()
    e2e: dict[str, Any] = {"consumer_samples": samples, "consumer_peaks_so_far_mib": peaks_so_far, "events": EVENTS,
                           "consumer_peak_rss_mib": peak_mib, "lines": EVENTS, "persons": 1_000, "enrol_peak_rss_mib": 100.0}
    consumer_memory(e2e, results)
    return results.targets[-1].passed, results.details["consumer_growth"]


def test_a_last_sample_taken_between_batches_does_not_hide_a_growing_peak() -> None:
    # The first month peaks at 250 MiB; later batches reach 360 MiB; the last sample, after the
    # last batch, is back at 249 MiB.
    samples = [(0.0, 200.0, 0), (1.0, 250.0, 0), (2.0, 240.0, 20_000), (3.0, 360.0, 40_000), (4.0, 249.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 250.0, 250.0, 360.0, 360.0], peak_mib=360.0)
    assert not passed
    assert round(growth, 2) == 0.44


def test_a_last_sample_inside_a_batch_does_not_fail_a_flat_peak() -> None:
    samples = [(0.0, 200.0, 0), (1.0, 300.0, 0), (2.0, 220.0, 20_000), (3.0, 305.0, 60_000), (4.0, 299.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 300.0, 300.0, 305.0, 305.0], peak_mib=305.0)
    assert passed
    assert round(growth, 2) == 0.02


def test_the_first_months_save_counts_in_its_peak_even_between_two_samples() -> None:
    # The first month's save spikes to 340 MiB between two samples (the sampled RSS never shows
    # more than 250); the run's peak is 345: flat, not +38%.
    samples = [(0.0, 200.0, 0), (1.0, 250.0, 0), (2.0, 240.0, 20_000), (3.0, 300.0, 60_000), (4.0, 249.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 250.0, 340.0, 343.0, 345.0], peak_mib=345.0)
    assert passed
    assert round(growth, 3) == 0.015
