"""ledger.money: the one place where a rate times an amount becomes fen, and where totals are
divided. Every expected figure is worked out by hand in the comment next to it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.money import allocate_pro_rata, apply_rate, round_fen, split_by_rates, yuan_text

# --------------------------------------------------------------------------- round_fen


@pytest.mark.parametrize(
    ("value", "expected_fen"),
    [
        ("2.5", 3),  # exactly half: up
        ("2.4999", 2),  # below half: down
        ("2.5001", 3),
        ("0.5", 1),
        ("0.49", 0),
        ("-2.5", -3),  # half up means half away from zero (四舍五入) for negatives too
        ("-2.4", -2),
        ("7", 7),
    ],
)
def test_round_fen_rounds_half_up(value: str, expected_fen: int) -> None:
    assert round_fen(Decimal(value)) == expected_fen


def test_round_fen_returns_an_int() -> None:
    assert type(round_fen(Decimal("12.50"))) is int


# --------------------------------------------------------------------------- apply_rate


def test_apply_rate_employee_rate_of_a_wage() -> None:
    # employee_rate 2% of 800,000 fen = 16,000 fen
    assert apply_rate(800_000, Decimal("0.02")) == 16_000


def test_apply_rate_rounds_a_half_fen_up() -> None:
    # 2% of 125 fen = 2.5 fen -> 3 fen; 6% of 75 fen = 4.5 fen -> 5 fen
    assert apply_rate(125, Decimal("0.02")) == 3
    assert apply_rate(75, Decimal("0.06")) == 5


def test_apply_rate_rounds_below_half_down() -> None:
    # 2% of 124 fen = 2.48 fen -> 2 fen
    assert apply_rate(124, Decimal("0.02")) == 2


def test_apply_rate_of_zero_amount_or_zero_rate_is_zero() -> None:
    assert apply_rate(0, Decimal("0.06")) == 0
    assert apply_rate(123_456, Decimal("0")) == 0


# --------------------------------------------------------------------------- split_by_rates


def test_split_by_rates_gives_the_remainder_to_the_named_part() -> None:
    # 33.3% of 1,000 = 333 each for a and b; c gets 1,000 - 666 = 334
    assert split_by_rates(1_000, {"a": Decimal("0.333"), "b": Decimal("0.333")}, "c") == {"a": 333, "b": 333, "c": 334}


def test_split_by_rates_remainder_can_add_to_a_rated_part() -> None:
    # 50% of 101 = 50.5 -> 51 to "personal"; the rest, 101 - 51 = 50, goes to "pooled"
    assert split_by_rates(101, {"personal": Decimal("0.5")}, "pooled") == {"personal": 51, "pooled": 50}
    # remainder_to a rated part adds to it: 51 + 50 = 101
    assert split_by_rates(101, {"personal": Decimal("0.5")}, "personal") == {"personal": 101}


def test_split_by_rates_with_rates_adding_up_to_the_whole_still_conserves() -> None:
    # 50% + 50% = 100% of 3 fen: each part is 1.5 -> 2 fen after rounding, 4 > 3. The docstring
    # promises parts that sum to the total and an error only for rates above 100%.
    parts = split_by_rates(3, {"a": Decimal("0.5"), "b": Decimal("0.5")}, "c")
    assert sum(parts.values()) == 3
    assert all(part >= 0 for part in parts.values())


def test_split_by_rates_refuses_rates_above_the_whole() -> None:
    # 60% + 60% of 1,000 = 1,200 > 1,000
    with pytest.raises(ValueError, match="more than 100%"):
        split_by_rates(1_000, {"a": Decimal("0.6"), "b": Decimal("0.6")}, "c")


@settings(max_examples=50, deadline=None)
@given(
    total_fen=st.integers(min_value=0, max_value=10**12),
    rate_a=st.decimals(min_value=0, max_value=Decimal("0.45"), places=4),
    rate_b=st.decimals(min_value=0, max_value=Decimal("0.45"), places=4),
)
def test_split_by_rates_parts_always_sum_to_the_total(total_fen: int, rate_a: Decimal, rate_b: Decimal) -> None:
    parts = split_by_rates(total_fen, {"a": rate_a, "b": rate_b}, "rest")
    assert sum(parts.values()) == total_fen
    assert all(part >= 0 for part in parts.values())
    assert parts["a"] == apply_rate(total_fen, rate_a)


# --------------------------------------------------------------------------- allocate_pro_rata


def test_allocate_pro_rata_largest_remainder_gets_the_left_over_fen() -> None:
    # 100 over weights 1:2:4 (sum 7): a = 100/7 = 14 r 2, b = 200/7 = 28 r 4, c = 400/7 = 57 r 1;
    # floors sum to 99, the 1 left over goes to b (largest remainder 4)
    assert allocate_pro_rata(100, {"a": 1, "b": 2, "c": 4}) == {"a": 14, "b": 29, "c": 57}


def test_allocate_pro_rata_ties_go_in_the_order_of_the_weights() -> None:
    # 10 over 1:1:1: floors 3, 3, 3 with equal remainders; the 1 left goes to the first key
    assert allocate_pro_rata(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert allocate_pro_rata(10, {"c": 1, "b": 1, "a": 1}) == {"c": 4, "b": 3, "a": 3}
    # 11 over 1:1:1: 2 left over, to the first two keys
    assert allocate_pro_rata(11, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 4, "c": 3}


def test_allocate_pro_rata_mirrors_negative_totals() -> None:
    # -100 over 1:2:4 is the negation of the +100 case above
    assert allocate_pro_rata(-100, {"a": 1, "b": 2, "c": 4}) == {"a": -14, "b": -29, "c": -57}


def test_allocate_pro_rata_gives_nothing_to_zero_weights() -> None:
    # 10 over 0:3: all to b
    assert allocate_pro_rata(10, {"a": 0, "b": 3}) == {"a": 0, "b": 10}


def test_allocate_pro_rata_all_zero_weights_allow_only_a_zero_total() -> None:
    assert allocate_pro_rata(0, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    with pytest.raises(ValueError, match="zero weights"):
        allocate_pro_rata(5, {"a": 0, "b": 0})


def test_allocate_pro_rata_refuses_negative_weights() -> None:
    with pytest.raises(ValueError, match="negative"):
        allocate_pro_rata(10, {"a": -1, "b": 2})


@settings(max_examples=50, deadline=None)
@given(
    total_fen=st.integers(min_value=-10**9, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=8).filter(lambda w: sum(w) > 0),
)
def test_allocate_pro_rata_conserves_and_stays_within_one_fen_of_the_exact_share(total_fen: int, weights: list[int]) -> None:
    keyed = dict(enumerate(weights))
    parts = allocate_pro_rata(total_fen, keyed)
    assert sum(parts.values()) == total_fen
    weight_sum = sum(weights)
    for key, weight in keyed.items():
        exact = Decimal(total_fen * weight) / weight_sum
        assert abs(Decimal(parts[key]) - exact) < 1


# --------------------------------------------------------------------------- yuan_text


@pytest.mark.parametrize(("amount_fen", "text"), [(-12345, "-123.45"), (123_456_789, "1,234,567.89"), (5, "0.05"), (0, "0.00")])
def test_yuan_text_shows_two_decimals_and_thousands(amount_fen: int, text: str) -> None:
    assert yuan_text(amount_fen) == text
