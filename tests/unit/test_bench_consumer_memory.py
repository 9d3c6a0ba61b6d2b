"""The consumer's memory target: its high-water mark over the run against its high-water mark
once half the run's events were saved (twice the events may not cost 20% more memory), not
sampled RSS, which misses a save's spike between two samples, nor a last sample that may land
inside or after a batch."""

from __future__ import annotations

from typing import Any

from bench.measure import Results
from bench.run import consumer_memory

EVENTS = 100_000  # 10 months of 10,000 lines over 10,000 persons


def _judged(samples: list[tuple[float, float, int]], peaks_so_far: list[float], peak_mib: float) -> tuple[bool, float]:
    results = Results()
    e2e: dict[str, Any] = {"consumer_samples": samples, "consumer_peaks_so_far_mib": peaks_so_far, "events": EVENTS,
                           "consumer_peak_rss_mib": peak_mib, "lines": EVENTS, "persons": 10_000, "enrol_peak_rss_mib": 100.0}
    consumer_memory(e2e, results)
    return results.targets[-1].passed, results.details["consumer_growth"]


def test_a_last_sample_taken_between_batches_does_not_hide_a_growing_peak() -> None:
    # 250 MiB at most by half the run; later batches reach 360 MiB; the last sample, after the
    # last batch, is back at 249 MiB.
    samples = [(0.0, 200.0, 0), (1.0, 250.0, 10_000), (2.0, 240.0, 50_000), (3.0, 360.0, 80_000), (4.0, 249.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 250.0, 250.0, 360.0, 360.0], peak_mib=360.0)
    assert not passed
    assert round(growth, 2) == 0.44


def test_a_last_sample_inside_a_batch_does_not_fail_a_flat_peak() -> None:
    samples = [(0.0, 200.0, 0), (1.0, 300.0, 10_000), (2.0, 220.0, 50_000), (3.0, 305.0, 80_000), (4.0, 299.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 300.0, 300.0, 305.0, 305.0], peak_mib=305.0)
    assert passed
    assert round(growth, 2) == 0.02


def test_a_save_spike_between_two_samples_counts_in_the_peak_it_falls_in() -> None:
    # A save spikes to 340 MiB between two samples in the first half (the sampled RSS never shows
    # more than 250); the run's peak is 345: flat, not +38%.
    samples = [(0.0, 200.0, 0), (1.0, 250.0, 10_000), (2.0, 240.0, 50_000), (3.0, 300.0, 80_000), (4.0, 249.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 250.0, 340.0, 343.0, 345.0], peak_mib=345.0)
    assert passed
    assert round(growth, 3) == 0.015


def test_the_warm_up_of_the_first_saves_is_shown_but_growth_over_the_second_half_is_judged() -> None:
    # 250 MiB once the first month is saved, 330 by half the run (every account loaded, the heap
    # warm), 420 at the end: +27% over the second half is growth.
    samples = [(0.0, 200.0, 0), (1.0, 250.0, 10_000), (2.0, 330.0, 50_000), (3.0, 380.0, 80_000), (4.0, 400.0, EVENTS)]
    passed, growth = _judged(samples, [200.0, 250.0, 330.0, 380.0, 420.0], peak_mib=420.0)
    assert not passed
    assert round(growth, 2) == 0.27
