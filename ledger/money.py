"""Money arithmetic: integer fen in, integer fen out.

Every amount in the ledger is an ``int`` number of fen (1 yuan = 100 fen) and every rate is a
``Decimal``. This module is the **only** place where a product of an amount and a rate becomes
fen again, and the only place where a total is divided between parts. Both keep the total:

* :func:`apply_rate` rounds half up (四舍五入, the rule Chinese accounting practice uses) and is
  used for one figure at a time (a contribution, a co-payment);
* :func:`split_by_rates` computes the named parts with :func:`apply_rate` and gives the remainder
  to one named part, so the parts always add up to the total to the fen;
* :func:`allocate_pro_rata` divides a total in proportion to integer weights by the largest
  remainder method, so the parts always add up to the total to the fen.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

FEN_PER_YUAN = 100


def round_fen(value: Decimal) -> int:
    """Round a Decimal number of fen to whole fen, half up (0.5 fen becomes 1 fen)."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def apply_rate(amount_fen: int, rate: Decimal) -> int:
    """``amount_fen × rate`` rounded half up to whole fen."""
    return round_fen(Decimal(amount_fen) * rate)


def split_by_rates(
    total_fen: int, rates: Mapping[str, Decimal], remainder_to: str
) -> dict[str, int]:
    """Split ``total_fen``: each named part is ``total × rate``; ``remainder_to`` gets the rest.

    The parts always sum to ``total_fen``. When rounding each part up makes them exceed the
    total although the rates add up to no more than 100% (3 fen at 50%/50% is 2 + 2), the excess
    fen are taken back one each from the largest parts. Raises ``ValueError`` when the rates
    themselves add up to more than 100%.
    """
    if sum(rates.values(), Decimal(0)) > 1:
        raise ValueError(f"rates {dict(rates)} add up to more than 100%")
    parts = {name: apply_rate(total_fen, rate) for name, rate in rates.items()}
    excess_fen = sum(parts.values()) - total_fen
    for name in sorted(parts, key=lambda n: -parts[n])[: max(0, excess_fen)]:
        parts[name] -= 1
    remainder_fen = total_fen - sum(parts.values())
    parts[remainder_to] = parts.get(remainder_to, 0) + remainder_fen
    assert sum(parts.values()) == total_fen
    return parts


def allocate_pro_rata(total_fen: int, weights: Mapping[K, int]) -> dict[K, int]:
    """Divide ``total_fen`` in proportion to non-negative integer ``weights``.

    Largest remainder method: every key first gets the floor of its exact share; the fen left
    over go one each to the keys with the largest fractional remainders (ties broken by the
    order of ``weights``). The result sums to ``total_fen`` exactly. ``total_fen`` may be
    negative (the signs are mirrored). With all weights zero, everything is zero and the
    total must be zero.
    """
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("weights must not be negative")
    if total_fen < 0:
        return {key: -part for key, part in allocate_pro_rata(-total_fen, weights).items()}
    weight_sum = sum(weights.values())
    if weight_sum == 0:
        if total_fen != 0:
            raise ValueError(f"cannot allocate {total_fen} fen over zero weights")
        return {key: 0 for key in weights}
    shares = {key: divmod(total_fen * weight, weight_sum) for key, weight in weights.items()}
    allocated = {key: quotient for key, (quotient, _) in shares.items()}
    left_over_fen = total_fen - sum(allocated.values())
    order = sorted(shares, key=lambda key: -shares[key][1])
    for key in order[:left_over_fen]:
        allocated[key] += 1
    assert sum(allocated.values()) == total_fen
    return allocated


def yuan_text(amount_fen: int) -> str:
    """Format fen as yuan with two decimals, e.g. ``-12345 → '-123.45'``."""
    sign = "-" if amount_fen < 0 else ""
    whole, fen = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{fen:02d}"
