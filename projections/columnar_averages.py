"""Each columnar order's average fill price, as ``ExecutionRecorded.fold`` and
``ExecutionCorrected.fold`` reach it with Decimals: in int64 columns for whole-share orders,
in Python integers for the others, and with the fold's own Decimal steps where only they can
say how the fold rounds (docs/adr/0113-groups-and-orders-in-fewer-plans.md).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import polars as pl

from ordertrail.projections.columnar_frame import Frames
from ordertrail.projections.columnar_values import SCALE, as_decimal
from ordertrail.projections.schema import dec

ZERO = Decimal(0)

# Products and sums of scaled values below this many units of 10**-20 are exact in the fold's
# 28-digit Decimal context (see ``_average_prices``).
_EXACT = 10**28
# Sums of products below this stay exact in int64.
_INT64_SAFE = 4e18


def average_prices(frames: Frames, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """notional / filled per order (scaled, and whether it has one), the notional as
    ``ExecutionRecorded.fold`` and ``ExecutionCorrected.fold`` fold it. While every product
    and partial sum of an order has at most 28 digits the fold's Decimals are exact, and its
    notional is the sum of its current fills' shares times price (the route takes no negative
    shares, so the fold's reset of the notional when the filled quantity returns to zero
    changes nothing). When those fills have one price the notional is that price times the
    filled quantity and the average is the price itself, exactly: taken in columns. Otherwise
    the sum is taken in Python integers, and the quotient in the fold's Decimal context; an
    order past the 28-digit bound is folded step by step with Decimals."""
    values = np.zeros(frames.orders, np.int64)
    fills = frames.fills
    if not fills.height:
        return values, np.zeros(frames.orders, bool)
    ords = fills.get_column("ord").to_numpy()
    shares = fills.get_column("execution.shares#").to_numpy()
    price = fills.get_column("execution.price#").to_numpy()
    size = np.bincount(ords, np.abs(shares.astype(float) * price.astype(float)),
                       minlength=frames.orders)  # fmt: skip
    large = size >= _EXACT / 2
    current = fills.get_column("last").to_numpy()
    fast, averages = whole_share_averages(ords[current], shares[current], price[current], filled)
    fast &= ~large & (filled != 0)
    values[fast] = averages[fast]
    rest = (filled != 0) & ~fast
    # A mean of prices below 10**8 (``columnar_values``) at the tables' scale fits int64.
    for o, average in _averages(fills, filled, rest, large).items():
        values[o] = average
    return values, filled != 0


_UNIT = 10**SCALE


def whole_share_averages(
    ords: np.ndarray, shares: np.ndarray, price: np.ndarray, filled: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(whether the order's average is taken here, the average at the tables' scale) for
    orders whose current fills (``ords`` in log order: an order's together) are whole shares,
    fewer than 10**8 of them, and whose notional in shares × scaled price stays well inside
    int64: the quotient of two int64 integers, rounded half-even. The fold's first rounding
    (28 digits, at least 10 past the table's 10 decimals here) cannot move it: a quotient with
    a denominator below 10**8 is either on a tie or more than 10**-8 / 2 from one."""
    n = len(filled)
    ok, out = np.zeros(n, bool), np.zeros(n, np.int64)
    if not len(ords):
        return ok, out
    new = np.r_[True, ords[1:] != ords[:-1]]
    starts = np.flatnonzero(new)
    units = shares // _UNIT
    whole = np.logical_and.reduceat(shares % _UNIT == 0, starts)
    size = np.add.reduceat(np.abs(units.astype(float) * price.astype(float)), starts)
    # An order past the bound is left out before its products could wrap around.
    safe = (size < _INT64_SAFE)[np.cumsum(new) - 1]
    notional = np.add.reduceat(np.where(safe, units, 0) * np.where(safe, price, 0), starts)
    at = ords[starts]
    f = filled[at]
    ok_here = whole & (size < _INT64_SAFE) & (f % _UNIT == 0) & (f > 0) & (f < 10**8 * _UNIT)
    f_units = np.where(ok_here, f // _UNIT, 1)
    q, r = np.divmod(notional, f_units)
    q = q + ((2 * r > f_units) | ((2 * r == f_units) & (q % 2 == 1)))
    ok[at] = ok_here
    out[at] = q
    return ok, out


def _averages(
    fills: pl.DataFrame, filled: np.ndarray, wanted: np.ndarray, large: np.ndarray
) -> dict[int, int]:
    """The ``wanted`` orders' averages by the fold's Decimal steps, at the tables' scale."""
    ords = fills.get_column("ord").to_numpy()
    pick = fills.get_column("last").to_numpy() & wanted[ords] & ~large[ords]
    notional: dict[int, Decimal | int] = dict.fromkeys(np.flatnonzero(wanted).tolist(), 0)
    shares = fills.get_column("execution.shares#").to_numpy()
    price = fills.get_column("execution.price#").to_numpy()
    for o, s, p in zip(ords[pick].tolist(), shares[pick].tolist(), price[pick].tolist(),
                       strict=True):  # fmt: skip
        notional[o] += s * p
    for o in np.flatnonzero(wanted & large).tolist():
        notional[o] = _folded_notional(fills.filter(pl.col("ord") == o))
    out = {}
    for o, n in notional.items():
        f = int(filled[o])
        quick = None if isinstance(n, Decimal) else scaled_quotient(n, f)
        if quick is None:
            exact = n if isinstance(n, Decimal) else Decimal(n).scaleb(-20)
            average = dec(exact / as_decimal(f))
            assert average is not None
            quick = int(average.scaleb(SCALE))
        out[o] = quick
    return out


def scaled_quotient(notional: int, filled: int) -> int | None:
    """``dec(Decimal(notional).scaleb(-20) / as_decimal(filled))`` at the tables' scale, in
    integers (None: the Decimal route must decide). The fold divides in the default context
    (28 significant digits, half-even), then the table rounds to 10 decimals half-even: the
    same as one half-even rounding of the exact quotient unless the first rounding lands on a
    tie the exact quotient is not on (then None)."""
    sign = -1 if (notional < 0) != (filled < 0) else 1
    q, r = divmod(abs(notional), abs(filled))
    f = abs(filled)
    extra = 28 - len(str(q))  # the digits the first rounding keeps past the 10th decimal
    if extra <= 0:
        return None
    if r:
        t, rest = divmod(r * 10**extra, f)
        if 2 * rest > f or (2 * rest == f and t % 2):
            t += 1
        if t == 5 * 10 ** (extra - 1) and (rest or t * f != r * 10**extra):
            return None
    if 2 * r > f or (2 * r == f and q % 2):
        q += 1
    return sign * q


def _folded_notional(fills: pl.DataFrame) -> Decimal:
    """One order's notional, folded with the fold's own Decimal steps."""
    notional = filled = ZERO
    held: dict[str, tuple[Decimal, Decimal]] = {}
    for base, corrects, s, p in fills.select(
        "base", "corrects", "execution.shares", "execution.price"
    ).iter_rows():
        shares, price = Decimal(s), Decimal(p)
        if corrects:
            old_s, old_p = held[base]
            filled += shares - old_s
            notional += shares * price - old_s * old_p
            if filled == ZERO:
                notional = ZERO
        else:
            filled += shares
            notional += shares * price
        held[base] = (shares, price)
    return notional
