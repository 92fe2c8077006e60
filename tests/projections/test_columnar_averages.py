"""The columnar route's average fill price in integers against the fold's Decimal steps (the
notional as the sum of shares × price, divided in the default 28-digit context, rounded to
the tables' 10 decimals half-even): whole shares in int64 columns, and any notional by
``scaled_quotient``, which hands back to the Decimal route only where the two roundings could
differ."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.projections.columnar_averages import scaled_quotient, whole_share_averages
from ordertrail.projections.columnar_values import as_decimal
from ordertrail.projections.schema import dec

UNIT = 10**10


def folded(notional: int, filled: int) -> int:
    """The fold's average at the tables' scale, from scaled integers."""
    average = dec(Decimal(notional).scaleb(-20) / as_decimal(filled))
    assert average is not None
    return int(average.scaleb(10))


# Scaled shares: mostly whole, some fractional; scaled prices with up to 10 decimals.
shares = st.one_of(
    st.integers(1, 10**6).map(lambda s: s * UNIT),
    st.integers(1, 10**8 * UNIT - 1),
)
prices = st.one_of(
    st.integers(-(10**6), 10**6).map(lambda p: p * 10**8),
    st.integers(-(10**18) + 1, 10**18 - 1),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.tuples(shares, prices), min_size=1, max_size=6), min_size=1,
                max_size=8))  # fmt: skip
def testwhole_share_averages_are_the_folds(orders: list[list[tuple[int, int]]]) -> None:
    ords = np.array([o for o, fills in enumerate(orders) for _ in fills], np.int64)
    s = np.array([f[0] for fills in orders for f in fills], np.int64)
    p = np.array([f[1] for fills in orders for f in fills], np.int64)
    filled = np.array([sum(f[0] for f in fills) for fills in orders], np.int64)
    ok, averages = whole_share_averages(ords, s, p, filled)
    for o, fills in enumerate(orders):
        notional = sum(a * b for a, b in fills)
        # (An order past 28 digits is folded step by step: ``_average_prices`` leaves it out.)
        if ok[o] and abs(notional) < 5 * 10**27:
            assert averages[o] == folded(notional, int(filled[o]))
    # Whole shares whose notional in shares × scaled price is well inside int64 (the common
    # order) take the integer route.
    if all(a % UNIT == 0 for f in orders for a, _ in f) and all(
        sum(a // UNIT * abs(b) for a, b in f) < 10**18 for f in orders
    ):
        assert ok.all()


@settings(max_examples=2000, deadline=None)
@given(
    st.integers(-(5 * 10**27) + 1, 5 * 10**27 - 1),
    st.one_of(st.integers(1, 10**18), st.integers(1, 10**4).map(lambda f: f * UNIT)),
)
def test_scaled_quotient_is_the_folds(notional: int, filled: int) -> None:
    quick = scaled_quotient(notional, filled)
    if quick is not None:
        assert quick == folded(notional, filled)


def test_a_quotient_on_a_tie_and_one_the_first_rounding_moves_onto_it() -> None:
    # 1 / 2 at 10 decimals' resolution: an exact tie, rounded to even both ways.
    assert scaled_quotient(1, 2) == folded(1, 2) == 0
    assert scaled_quotient(3, 2) == folded(3, 2) == 2
    # A quotient just above a tie, by less than the first rounding's 28 digits keep: the
    # fold rounds it onto the tie and then to even; left to the Decimal route.
    filled = 2 * 10**30 + 1
    assert scaled_quotient(10**30 + 1, filled) in (None, folded(10**30 + 1, filled))
