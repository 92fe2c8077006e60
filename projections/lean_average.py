"""The average-cost figures of a segment's fills, for the integer route of ``lean_fifo``
(docs/adr/0115-fifo-by-cumulative-quantities.md): ``LeanRun._average``'s Decimal expressions,
evaluated only where they change something.

The average cost is a recurrence whose 28-digit rounding feeds the next fill, so it stays in
Decimals, in order; but which branch a fill takes (it opens, it closes and keeps the average,
it goes flat, it flips) follows from the quantity before and after it, which the FIFO route
already has as integers. Only the fills that move the average step the recurrence (opening
ones, flips, going flat), a closing fill's PnL against the average is one product of values
known by then, and the running PnL against the average is a running sum of those. Each
distinct value is converted once and taken by index.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import accumulate

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.position_run import ZERO
from ordertrail.projections.schema import DEC

OPEN, KEEP, FLAT, FLIP = range(4)
_QUANTUM = Decimal(1).scaleb(-10)


def as_decimals(values: np.ndarray, places: int) -> list[Decimal]:
    """Integers of ``places`` places as Decimals, each distinct value made once."""
    if not len(values):
        return []
    distinct, at = np.unique(values, return_inverse=True)
    made = [Decimal(v).scaleb(-places) for v in distinct.tolist()]
    return [made[i] for i in at.tolist()]


def rounded(values: Sequence[Decimal | None]) -> pa.Array:
    """Decimals as decimal(38, 10), rounded half-even (``lean_fold.rounded``)."""
    return pa.array(
        [None if v is None else v.quantize(_QUANTUM, ROUND_HALF_EVEN) for v in values], DEC
    )


@dataclass(frozen=True, slots=True)
class Fills:
    """A segment's fills as integers: quantity (qp places), price (pp places), the quantity
    before the fill's slot and after the fill, its slot, whether it is its slot's last
    version (a correction replaces the last fill: the same slot)."""

    qty: np.ndarray
    price: np.ndarray
    held: np.ndarray
    after: np.ndarray
    slot: np.ndarray
    final: np.ndarray
    qp: int
    pp: int


@dataclass(slots=True)
class AverageColumns:
    avg_cost: pa.Array
    realized_avg: pa.Array
    cum_realized_avg: pa.Array
    before_last: tuple[Decimal, Decimal, Decimal]  # quantity, average, its PnL: the last slot's


def _codes(f: Fills) -> np.ndarray:
    opening = (f.held == 0) | ((f.qty > 0) == (f.held > 0))
    flat = ~opening & (f.after == 0)
    flip = ~opening & ~flat & ((f.after > 0) != (f.held > 0))
    return np.where(opening, OPEN, np.where(flat, FLAT, np.where(flip, FLIP, KEEP)))


class _Recurrence:
    """The average after each change, in order; a fill's average is one of them."""

    def __init__(self, f: Fills, codes: np.ndarray, prior_held: Decimal, avg: Decimal) -> None:
        self.f, self.codes = f, codes
        self.values = [avg]  # the running average (ZERO when flat)
        self.shown: list[Decimal | None] = [avg if prior_held else None]  # the figure
        changes = f.final & (codes != KEEP)
        ks = np.flatnonzero(changes)
        starts: list[Decimal | None] = [None] * len(ks)
        if starts:
            starts[0] = avg
        self._extend(ks, starts)
        ends = np.flatnonzero(f.final)  # each slot's last version
        self.after_slot = np.cumsum(changes)[ends]
        self.before_slot = np.concatenate([[0], self.after_slot[:-1]])
        self.before = self.before_slot[f.slot]  # the average before each fill's slot
        at = np.where(f.final, self.after_slot[f.slot], self.before)
        # A superseded version that moved the average: its own value, from the one before.
        ks = np.flatnonzero(~f.final & (codes != KEEP))
        at[ks] = np.arange(len(self.values), len(self.values) + len(ks))
        self._extend(ks, [self.values[i] for i in self.before[ks].tolist()])
        self.at = at

    def _extend(self, ks: np.ndarray, starts: list[Decimal | None]) -> None:
        """The average after each fill ``ks``, from ``starts`` (None: from the one before)."""
        f = self.f
        codes = self.codes[ks].tolist()
        held = as_decimals(np.abs(f.held[ks]), f.qp)
        qty = as_decimals(np.abs(f.qty[ks]), f.qp)
        after = as_decimals(np.abs(f.after[ks]), f.qp)
        price = as_decimals(f.price[ks], f.pp)
        values, shown = self.values, self.shown
        avg = ZERO
        for code, start, h, q, t, p in zip(codes, starts, held, qty, after, price, strict=True):
            if start is not None:
                avg = start
            if code == OPEN:
                avg = (avg * h + p * q) / t
            elif code == FLAT:
                avg = ZERO
            else:  # a flip opens the rest at the fill's price
                avg = p
            values.append(avg)
            shown.append(None if code == FLAT else avg)


def average_columns(
    f: Fills, multiplier: Decimal, prior: tuple[Decimal, Decimal, Decimal]
) -> AverageColumns:
    """Each fill's average cost, PnL against it and running PnL against it, as
    ``LeanRun._average`` computes them; ``prior``: quantity, average, PnL before slot 0."""
    held, avg, cum = prior
    codes = _codes(f)
    averages = _Recurrence(f, codes, held, avg)
    closing = np.flatnonzero(codes != OPEN)
    before = [averages.values[i] for i in averages.before[closing].tolist()]
    closed = as_decimals(np.minimum(np.abs(f.qty[closing]), np.abs(f.held[closing])), f.qp)
    prices = as_decimals(f.price[closing], f.pp)
    pnls = [c * (p - a) * multiplier for c, p, a in zip(closed, prices, before, strict=True)]
    pnls = [
        x if long_ else -x for x, long_ in zip(pnls, (f.held[closing] > 0).tolist(), strict=True)
    ]
    pnl_at = np.zeros(len(f.qty), np.int64)
    pnl_at[closing] = np.arange(1, len(closing) + 1)
    # The running PnL moves on each closing slot's last version.
    moves = f.final & (codes != OPEN)
    order = np.searchsorted(closing, np.flatnonzero(moves))
    cums = list(accumulate((pnls[i] for i in order.tolist()), operator.add, initial=cum))
    after_slot = np.cumsum(moves)[np.flatnonzero(f.final)]
    before_slot = np.concatenate([[0], after_slot[:-1]])
    cum_at = np.where(f.final, after_slot[f.slot], before_slot[f.slot])
    for k in np.flatnonzero(~f.final & (codes != OPEN)).tolist():
        cum_at[k] = len(cums)
        cums.append(cums[before_slot[f.slot[k]]] + pnls[pnl_at[k] - 1])
    last_held = Decimal(int(f.held[-1])).scaleb(-f.qp)
    last = (last_held, averages.values[averages.before_slot[-1]], cums[before_slot[-1]])
    return AverageColumns(
        rounded(averages.shown).take(pa.array(averages.at, pa.int64())),
        rounded([ZERO, *pnls]).take(pa.array(pnl_at, pa.int64())),
        rounded(cums).take(pa.array(cum_at, pa.int64())),
        last,
    )
