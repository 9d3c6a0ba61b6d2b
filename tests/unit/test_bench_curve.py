"""bench.curve's pure parts: points merged by size, what grows faster than linearly, the table,
the generated section of docs/benchmarks.md, the bench-large figures read back, and the chart.
No servers; every expected figure is worked out by hand in the test's docstring."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bench import curve
from bench.curve import (
    BEGIN,
    END,
    HEADING,
    METRIC_BY_KEY,
    bench_large_point,
    curve_table,
    growing_phases,
    growth,
    merge_points,
    render_section,
    write_section,
)


def point(accounts: int, **phases: Any) -> dict[str, Any]:
    return {"accounts": accounts, "source": curve.MEASURED, "run": {"date": "2026-12-01 16:00 UTC", "commit": "abc1234"}, **phases}


# ---------------------------------------------------------------------------- merging by size
def test_a_run_at_a_new_size_adds_its_point_and_keeps_the_others() -> None:
    """Stored: 10,000 and 1,000,000. A run at 2,000, 10,000 and 100,000 replaces the 10,000 point,
    adds 2,000 and 100,000, and keeps 1,000,000; the sizes come out in numeric order (as text,
    "2000" would sort after "1000000")."""
    stored = {"machine": {"cores": "2"}, "points": {"10000": point(10_000, replay={"events_per_s": 7_000.0}),
                                                    "1000000": point(1_000_000, interest={"accounts_per_s": 1_622.0})}}
    before = copy.deepcopy(stored)
    merged = merge_points(stored, [point(10_000, replay={"events_per_s": 7_500.0}), point(100_000, replay={"events_per_s": 5_000.0}),
                                   point(2_000, replay={"events_per_s": 8_000.0})])
    assert list(merged["points"]) == ["2000", "10000", "100000", "1000000"]
    assert merged["points"]["10000"]["replay"]["events_per_s"] == 7_500.0  # measured again: replaced
    assert merged["points"]["1000000"]["interest"]["accounts_per_s"] == 1_622.0  # not measured: kept
    assert merged["machine"] == {"cores": "2"}
    assert stored == before  # the stored curve itself is left as it was


def test_merging_into_an_empty_curve() -> None:
    merged = merge_points({"points": {}}, [point(10_000, log={"events": 30_208})])
    assert merged["points"] == {"10000": point(10_000, log={"events": 30_208})}


# ---------------------------------------------------------------------------- faster than linear
def test_a_rate_that_halves_is_a_cost_per_unit_that_doubles() -> None:
    """Replay 7,000 events/s at 10,000 accounts, 3,500 at 100,000: each event costs 7,000 / 3,500
    = 2.0 times as much at the larger size; 2.0 > 1.3: it grows faster than linearly."""
    found = growth(METRIC_BY_KEY["replay.events_per_s"], {10_000: 7_000.0, 100_000: 3_500.0})
    assert found is not None
    assert (found.smallest, found.largest) == (10_000, 100_000)
    assert found.factor == pytest.approx(2.0)
    assert found.grows


def test_a_rate_within_the_machines_noise_does_not_grow() -> None:
    """10,000 events/s, then 9,000: 10,000 / 9,000 = 1.11 <= 1.3. A rate that rises (interest
    1,467 -> 1,871 accounts/s) is a cost per unit that falls: 1,467 / 1,871 = 0.78."""
    flat = growth(METRIC_BY_KEY["ingest.events_per_s"], {10_000: 10_000.0, 100_000: 9_000.0})
    assert flat is not None and flat.factor == pytest.approx(1.111, abs=1e-3) and not flat.grows
    rising = growth(METRIC_BY_KEY["interest.accounts_per_s"], {10_000: 1_467.0, 100_000: 1_871.0})
    assert rising is not None and rising.factor == pytest.approx(0.784, abs=1e-3) and not rising.grows


def test_peak_rss_and_latency_are_costs_themselves() -> None:
    """Peak RSS 200 MiB -> 500 MiB: 500 / 200 = 2.5, it grows. An as-of report 15 ms -> 10 ms:
    10 / 15 = 0.67, flat (it got cheaper)."""
    rss = growth(METRIC_BY_KEY["replay.peak_rss_mib"], {10_000: 200.0, 100_000: 500.0})
    assert rss is not None and rss.factor == pytest.approx(2.5) and rss.grows
    latency = growth(METRIC_BY_KEY["as_of.personal_ms"], {10_000: 15.0, 100_000: 10.0})
    assert latency is not None and latency.factor == pytest.approx(0.667, abs=1e-3) and not latency.grows


def test_the_worst_size_counts_not_only_the_largest() -> None:
    """Interest peak RSS 233 MiB at 10,000, 501 at 100,000, 220 at 1,000,000 (that one from an
    older run): 501 / 233 = 2.15 at 100,000 grows, although 220 / 233 = 0.94 at the largest."""
    found = growth(METRIC_BY_KEY["interest.peak_rss_mib"], {10_000: 233.0, 100_000: 501.0, 1_000_000: 220.0})
    assert found is not None
    assert found.largest == 100_000
    assert found.factor == pytest.approx(2.150, abs=1e-3)
    assert found.grows


def test_nothing_is_judged_on_one_size_or_on_an_info_figure() -> None:
    assert growth(METRIC_BY_KEY["replay.events_per_s"], {10_000: 7_000.0}) is None
    assert growth(METRIC_BY_KEY["log.events"], {10_000: 30_208.0, 100_000: 302_008.0}) is None
    assert growth(METRIC_BY_KEY["replay.events_per_s"], {}) is None


def test_the_growing_figures_are_grouped_by_phase() -> None:
    """Replay's rate 7,000 -> 3,500 (x2.0) and its RSS 200 -> 500 (x2.5) grow; ingest's rate 3,675
    -> 3,091 (3,675 / 3,091 = 1.19) and the as-of latency (15 -> 10 ms) do not."""
    stored = merge_points({"points": {}}, [
        point(10_000, replay={"events_per_s": 7_000.0, "peak_rss_mib": 200.0}, ingest={"events_per_s": 3_675.0},
              as_of={"personal_ms": 15.0}),
        point(100_000, replay={"events_per_s": 3_500.0, "peak_rss_mib": 500.0}, ingest={"events_per_s": 3_091.0},
              as_of={"personal_ms": 10.0}),
    ])
    phases = growing_phases(stored)
    assert list(phases) == ["replay"]
    assert [g.metric.key for g in phases["replay"]] == ["replay.events_per_s", "replay.peak_rss_mib"]


# ---------------------------------------------------------------------------- the table and the section
TINY = merge_points({"machine": {"cores": "2", "postgresql": "15.18"}, "points": {}}, [
    point(10_000, replay={"events_per_s": 7_000.0}, as_of={"personal_ms": 14.9}),
    point(100_000, replay={"events_per_s": 3_500.0}, as_of={"personal_ms": 10.4},
          profiles={"replay": "12.3 catch_up  projections/projector.py:169"}),
])


def test_the_table_has_a_column_per_size_and_says_what_grows() -> None:
    """Two sizes, two figures measured: replay 7,000 -> 3,500 events/s is x2.00 and grows; the
    as-of report 14.9 -> 10.4 ms is 10.4 / 14.9 = x0.70. Figures nobody measured have no row."""
    rows = curve_table(TINY)
    assert rows[0] == "| figure | 10,000 accounts | 100,000 accounts | cost per unit, worst / smallest size |"
    assert rows[1] == "| --- | --- | --- | --- |"
    assert "| replay: projections rebuilt | 7,000 events/s | 3,500 events/s | 2.00x **grows** |" in rows
    assert f"| {METRIC_BY_KEY['as_of.personal_ms'].label} | 14.90 ms | 10.40 ms | 0.70x |" in rows
    assert len(rows) == 4


def test_a_size_without_a_figure_shows_a_dash() -> None:
    with_million = merge_points(TINY, [point(1_000_000, interest={"accounts_per_s": 1_622.0})])
    row = next(r for r in curve_table(with_million) if r.startswith("| replay: projections rebuilt"))
    assert row == "| replay: projections rebuilt | 7,000 events/s | 3,500 events/s | - | 2.00x **grows** |"


def test_the_section_names_what_grows_with_its_profile_and_what_would_move_it() -> None:
    section = render_section(TINY, {"replay": "What would move it: COPY into the fresh tables."})
    assert section.startswith(BEGIN) and section.endswith(END)
    assert "![" in section and "](curve.svg)" in section
    assert "**replay**" in section
    assert "- replay: projections rebuilt: 7,000 events/s at 10,000 accounts, 3,500 events/s at 100,000: the cost per unit x2.00" in section
    assert "Profile at 100,000 accounts" in section and "12.3 catch_up  projections/projector.py:169" in section
    assert "What would move it: COPY into the fresh tables." in section
    assert "**as_of**" not in section


def test_a_growing_peak_rss_is_named_as_a_peak() -> None:
    """Replay's peak RSS 219 MiB at 10,000 accounts, 589 at 100,000: 589 / 219 = x2.69."""
    grown = merge_points({"points": {}}, [point(10_000, replay={"peak_rss_mib": 219.0}), point(100_000, replay={"peak_rss_mib": 589.0})])
    assert "- replay: peak RSS: 219 MiB at 10,000 accounts, 589 MiB at 100,000: the peak x2.69" in render_section(grown, {})


def test_a_curve_where_nothing_grows_says_so() -> None:
    flat = merge_points({"points": {}}, [point(10_000, replay={"events_per_s": 7_000.0}), point(100_000, replay={"events_per_s": 6_900.0})])
    assert "Nothing grows faster than linearly" in render_section(flat, {})


def test_the_section_is_appended_once_then_replaced_between_its_markers(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    document.write_text("# Benchmarks\n\nby hand\n")
    write_section(document, f"{BEGIN}\nfirst\n{END}")
    assert document.read_text() == f"# Benchmarks\n\nby hand\n\n{HEADING}\n\n{BEGIN}\nfirst\n{END}\n"
    document.write_text(document.read_text() + "\nwritten after it by hand\n")
    write_section(document, f"{BEGIN}\nsecond\n{END}")
    assert document.read_text() == f"# Benchmarks\n\nby hand\n\n{HEADING}\n\n{BEGIN}\nsecond\n{END}\n\nwritten after it by hand\n"


# ---------------------------------------------------------------------------- bench-large's figures
BENCH_LARGE = """## Year-end interest at a million accounts

<!-- bench-large:begin (generated by `make bench-large`: do not edit between these markers) -->

Run: `make bench-large`, 2026-12-01 14:51 UTC, commit b5dd508, 59 min (machine as above).

| benchmark | figure | baseline (same run) | ratio | notes |
| --- | --- | --- | --- | --- |
| setup, 100,000 accounts | 789 persons/s | - | - | 302,008 events in 2.1 min (enrolment + 2 remittances a person) |
| setup, 1,000,000 accounts | 548 persons/s | - | - | 3,020,008 events in 30.4 min (enrolment + 2 remittances a person, 5,000 persons a transaction) |
| post_interest, 1,000,000 accounts | 1,622 accounts/s | one read of the log, events/s: 16,423 | 0.0987x | 616.7 s; 501 chunks of up to 2,000 accounts in 2 parts side by side; peak RSS 220 MiB; RSS at 10/50/90% of the chunks 210/208/209 MiB |

<!-- bench-large:end -->
"""


def test_the_bench_large_figures_become_a_point_labelled_with_their_run() -> None:
    """1,000,000 persons at 548 persons/s: 1,000,000 / 548 = 1,824.8 s of setup; 3,020,008 events
    in it: 1,655.0 events/s; 2 remittance lines a person, 2,000,000 / 1,824.8 = 1,096.0 lines/s.
    Interest: 1,000,000 accounts in 616.7 s = 1,621.5 accounts/s, peak RSS 220 MiB."""
    found = bench_large_point(BENCH_LARGE, 1_000_000)
    assert found is not None
    assert found["source"] == "make bench-large"
    assert found["run"] == {"date": "2026-12-01 14:51 UTC", "commit": "b5dd508"}
    assert found["ingest"]["seconds"] == pytest.approx(1_824.8, abs=0.1)
    assert found["ingest"]["events_per_s"] == pytest.approx(1_655.0, abs=0.1)
    assert found["ingest"]["lines_per_s"] == pytest.approx(1_096.0, abs=0.1)
    assert found["interest"]["accounts_per_s"] == pytest.approx(1_621.5, abs=0.1)
    assert found["interest"]["peak_rss_mib"] == 220.0
    assert "replay" not in found and "peak_rss_mib" not in found["ingest"]  # not measured by that run


def test_a_size_bench_large_did_not_run_gives_no_point() -> None:
    assert bench_large_point(BENCH_LARGE, 100_000) is None  # its setup is there, its interest is not
    assert bench_large_point(BENCH_LARGE, 10_000) is None
    assert bench_large_point("# Benchmarks\n", 1_000_000) is None


# ---------------------------------------------------------------------------- the chart
def test_the_chart_is_an_svg_of_four_panels(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the bench extra (pip install -e '.[bench]') draws the chart")
    path = tmp_path / "curve.svg"
    curve.draw_chart(merge_points(TINY, [point(1_000_000, source="make bench-large", interest={"accounts_per_s": 1_622.0})]), path)
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert sum(f'<g id="axes_{n}">' in text for n in range(1, 5)) == 4
