"""``consume --retry-delays``: whole seconds, bounded, with a clear error."""

from __future__ import annotations

import pytest

from consumers.retries import MAX_ATTEMPTS, MAX_DELAY_S, parse_delays


def test_whole_seconds_make_a_plan() -> None:
    plan = parse_delays("5, 30,120")
    assert plan.delays_s == (5, 30, 120)
    assert plan.attempts == 3


@pytest.mark.parametrize("text", ["0.5", "5,nan", "inf", "-5", "1e3", "5,,x", "٣"])
def test_anything_but_whole_seconds_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match="whole seconds separated by commas"):
        parse_delays(text)


def test_too_many_or_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="retry delays"):
        parse_delays(",".join(["1"] * (MAX_ATTEMPTS + 1)))
    with pytest.raises(ValueError, match="retry delays"):
        parse_delays(str(int(MAX_DELAY_S) + 1))
    with pytest.raises(ValueError, match="retry delays"):
        parse_delays("9" * 5000)
