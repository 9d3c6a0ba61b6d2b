"""An account's movements are folded after two years so memory does not grow with its history;
the interest of every year still open to posting must not change."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.interest import DatedChanges, Rates, compact_movements, personal_account_interest

RATES = [Rates(date(2020, 1, 1), Decimal("0.0035"), Decimal("0.0110"), Decimal("0.0195")),
         Rates(date(2024, 7, 1), Decimal("0.0015"), Decimal("0.0100"), Decimal("0.0180"))]

movement = st.tuples(st.dates(date(2021, 1, 1), date(2025, 12, 31)), st.integers(1, 500_000))


def test_older_movements_fold_into_one_carried_over_movement() -> None:
    movements = [(date(2022, 3, 1), 100), (date(2022, 6, 1), -40), (date(2023, 2, 1), 50)]
    # 100 - 40 = 60 before 2023 becomes one movement on 31 December 2022.
    assert compact_movements(movements, date(2023, 1, 1)) == [(date(2022, 12, 31), 60), (date(2023, 2, 1), 50)]


def test_a_late_booking_recorded_after_newer_ones_keeps_its_place() -> None:
    # Dated 2022 but recorded after a 2024 movement: it takes value in 2024 (value_dated) and stays.
    movements = [(date(2022, 3, 1), 100), (date(2024, 5, 1), 10), (date(2022, 12, 1), 5)]
    assert compact_movements(movements, date(2023, 1, 1)) == movements


@settings(max_examples=60, deadline=None)
@given(st.lists(movement, min_size=1, max_size=25), st.integers(2023, 2025))
def test_interest_of_the_kept_years_is_unchanged(credits: list[tuple[date, int]], keep_year: int) -> None:
    # Credits in recording order, each followed by a payment of a third of it a month later.
    movements: list[tuple[date, int]] = []
    for on, amount in credits:
        movements += [(on, amount), (on + timedelta(days=30), -(amount // 3))]
    compacted = compact_movements(movements, date(keep_year, 1, 1))
    for year in range(keep_year, 2026):
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
        assert (personal_account_interest(compacted, RATES, start, end, 360).interest_fen
                == personal_account_interest(movements, RATES, start, end, 360).interest_fen)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dates(date(1950, 1, 1), date(2100, 12, 31)), st.integers(-(10**15), 10**15)), max_size=30),
       st.integers(2020, 2030))
def test_an_account_keeps_its_changes_as_recorded_and_folds_them_by_the_same_rule(changes: list[tuple[date, int]], keep_year: int) -> None:
    kept = DatedChanges()
    for on, change_fen in changes:
        kept.append(on, change_fen)
    assert list(kept) == changes and len(kept) == len(changes)
    assert kept.first_year == (changes[0][0].year if changes else None)
    assert list(kept.compacted(date(keep_year, 1, 1))) == compact_movements(changes, date(keep_year, 1, 1))
    assert DatedChanges.from_packed(kept.packed()) == kept  # as a snapshot stores them


def test_packed_changes_come_in_pairs() -> None:
    import pytest

    with pytest.raises(ValueError, match="pairs"):
        DatedChanges.from_packed([738_000, 100, 738_001])


def test_two_years_of_monthly_changes_take_a_few_hundred_bytes_not_kilobytes() -> None:
    import sys

    kept = DatedChanges((date(2024 + month // 12, 1 + month % 12, 15), 12_345 + month) for month in range(24))
    as_tuples = [(on, change_fen) for on, change_fen in kept]
    tuples_bytes = sys.getsizeof(as_tuples) + sum(sys.getsizeof(t) + sys.getsizeof(t[0]) + sys.getsizeof(t[1]) for t in as_tuples)
    packed_bytes = sys.getsizeof(kept) + sys.getsizeof(kept._packed)
    assert packed_bytes <= 700 < tuples_bytes / 4
