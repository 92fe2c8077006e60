"""A segment's fills folded at once: FIFO lots by cumulative quantities in exact scaled
integers, the average cost stepped in Decimals (docs/adr/0115-fifo-by-cumulative-quantities.md).

FIFO on both sides matches the k-th unit bought with the k-th unit sold, whichever came first
(a long position's lots are the units bought and not yet sold, a short one's the units sold and
not yet bought back; a flip only moves which side is ahead). So from the quantities bought and
sold before each fill, and the cost of the first x units bought (or sold) as a piecewise
linear function of x, a fill's FIFO PnL, the open lots' notional after it and the lots
themselves are a searchsorted away: integers in units of the fills' own places. ``LeanRun``'s
Decimal sums give exactly these values while no intermediate reaches 28 digits, and the bounds
checked here keep every one inside int64.

The average cost is a recurrence whose 28-digit rounding feeds the next fill: it stays a
Decimal loop of ``LeanRun._average``'s expressions in the same order, and only the values it
changes are converted. The FIFO cost (notional / quantity: Decimal rounds it to 28 digits, the
tables then to 10 places) is divided in integers and rounded once: within the bounds the two
roundings always end where one does (``_fifo_cost``).

``fold_fills`` gives None for a segment whose values do not fit (more than 10 places once
multiplied, magnitudes past the bounds, a fill of no quantity): ``LeanPosition`` steps it as
before. It raises ``OutOfOrder`` where ``LeanPosition._fill`` would.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.commission_book import decimals, units
from ordertrail.projections.lean_average import Fills, average_columns
from ordertrail.projections.lean_run import Effect, LeanRun
from ordertrail.projections.position_run import ZERO
from ordertrail.projections.schema import DEC
from ordertrail.projections.streamed_position import ADD, OutOfOrder

# Magnitudes the integer route takes: products and sums of these stay inside int64.
_BOUND = 2**62

Key = tuple[int, str]  # (IB time in µs, execId base) of a fill


@dataclass(slots=True)
class Folded:
    """A segment's fills folded: the columns ``LeanPosition`` writes (decimal(38, 10), one
    value a fill) and the position after the last fill."""

    quantity: pa.Array
    avg_cost: pa.Array
    fifo_cost: pa.Array
    realized: pa.Array  # the fill's FIFO PnL
    realized_avg: pa.Array
    cum_realized: pa.Array
    cum_realized_avg: pa.Array
    is_add: np.ndarray
    run: LeanRun
    last: Key
    before_last: Key | None
    last_effect: Effect


def _order(
    fills: pa.Table, last: Key | None, before_last: Key | None, has_undo: bool
) -> tuple[list[bool], Key, Key | None]:
    """``LeanPosition._fill``'s checks (fills after the last one, corrections of the last):
    whether each fill opens a slot (else it corrects the last), and the last two keys."""
    kinds = fills.column("kind").to_pylist()
    bases = fills.column("base").to_pylist()
    times = fills.column("ts_ib").cast(pa.int64()).to_pylist()
    is_add: list[bool] = []
    for kind, base, ts in zip(kinds, bases, times, strict=True):
        key = (ts, base)
        if kind == ADD:
            if last is not None and not last < key:
                raise OutOfOrder(base)
            before_last, last = last, key
            has_undo = True
        else:
            if last is None or base != last[1] or not has_undo:
                raise OutOfOrder(base)  # a correction of an earlier fill
            if before_last is not None and not before_last < key:
                raise OutOfOrder(base)  # one that moves its fill before the one before
            last = key
        is_add.append(kind == ADD)
    assert last is not None
    return is_add, last, before_last


def _places(values: list[Decimal]) -> int:
    """The fewest decimal places that hold every value exactly."""
    places = 0
    for v in values:
        exponent = v.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            places = -exponent
    return places


def _fewest(low: np.ndarray) -> int:
    """The fewest places that hold int64 units of 1e-10."""
    for dropped in (10, 8, 6, 4, 2):
        if not (low % 10**dropped).any():
            return 10 - dropped
    return 10


@dataclass(slots=True)
class _Side:
    """The units bought (or sold), slot after slot: what the first x of them cost."""

    ends: np.ndarray
    starts: np.ndarray  # each slot's first unit, then the total
    prices: np.ndarray  # each slot's price, then 0
    costs: np.ndarray  # what the units before each slot cost, then the total

    @classmethod
    def of(cls, qty: np.ndarray, price: np.ndarray) -> _Side:
        ends = np.cumsum(qty)
        value = np.cumsum(qty * price)
        total = ends[-1:] if len(ends) else np.zeros(1, np.int64)
        cost = value[-1:] if len(value) else np.zeros(1, np.int64)
        return cls(
            ends,
            np.concatenate([ends - qty, total]),
            np.concatenate([price, np.zeros(1, np.int64)]),
            np.concatenate([value - qty * price, cost]),
        )

    def cost(self, x: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.ends, x, side="right")
        return self.costs[i] + (x - self.starts[i]) * self.prices[i]  # type: ignore[no-any-return]

    def lots(self, start: int, end: int) -> list[tuple[int, int]]:
        """Units ``start`` to ``end`` as (quantity, price) pieces, a piece a slot."""
        lo = np.maximum(self.starts[:-1], start)
        hi = np.minimum(self.ends, end)
        open_ = hi > lo
        return list(zip((hi - lo)[open_].tolist(), self.prices[:-1][open_].tolist(), strict=True))


@dataclass(slots=True)
class _Prior:
    """The position before the segment's first slot (open lots as [quantity, price])."""

    lots: list[list[Decimal]]
    held: Decimal
    avg: Decimal
    realized: Decimal
    realized_avg: Decimal

    @classmethod
    def of(cls, run: LeanRun, corrects: bool) -> _Prior:
        """The run's figures, or, when the segment begins by correcting the last fill of the
        segment before, the figures before that fill (``LeanRun.revert``, leaving the run)."""
        if not corrects:
            lots = [list(lot) for lot in run.lots]
            return cls(lots, run.quantity, run.avg_cost, run.realized, run.realized_avg)
        assert run.undo is not None
        held, avg, realized, realized_avg, _, touched, appended = run.undo
        rest = [list(lot) for lot in run.lots]
        if appended:
            rest.pop()
        if touched and touched[-1][0][0]:  # the last lot it matched is still open, in front
            rest.pop(0)
        lots = [[quantity, lot[1]] for lot, quantity in touched] + rest
        return cls(lots, held, avg, realized, realized_avg)


@dataclass(slots=True)
class _Scale:
    """The segment's quantities and prices as integers of their fewest common places."""

    qty: np.ndarray
    price: np.ndarray
    lot_qty: np.ndarray
    lot_price: np.ndarray
    qp: int
    pp: int
    multiplier: int
    places: int  # of a PnL: qp + pp + the multiplier's
    prior_realized: int

    @classmethod
    def of(cls, fills: pa.Table, prior: _Prior, multiplier: Decimal) -> _Scale | None:
        low_q = units(fills.column("quantity").combine_chunks())
        low_p = units(fills.column("price").combine_chunks())
        if low_q is None or low_p is None or not low_q.all():
            return None
        lot_q = [lot[0] for lot in prior.lots]
        lot_p = [lot[1] for lot in prior.lots]
        qp = max(_fewest(low_q), _places(lot_q))
        pp = max(_fewest(low_p), _places(lot_p))
        mp = _places([multiplier])
        # The PnL so far may hold more places than this segment's fills make (earlier prices).
        pp = max(pp, _places([prior.realized]) - qp - mp)
        places = qp + pp + mp
        if places > 10:
            return None
        realized = prior.realized.scaleb(places)
        scale = cls(
            low_q // 10 ** (10 - qp), low_p // 10 ** (10 - pp),
            np.array([int(v.scaleb(qp)) for v in lot_q], np.int64),
            np.array([int(v.scaleb(pp)) for v in lot_p], np.int64),
            qp, pp, int(multiplier.scaleb(mp)), places, int(realized),
        )  # fmt: skip
        return scale if scale.bounded() else None

    def bounded(self) -> bool:
        """Whether every sum and product stays inside int64 (a position's quantity at any
        time is at most all the units it saw), and the FIFO cost's quantity stays below what
        its single rounding needs (``_fifo_cost``)."""
        quantity = int(np.abs(self.qty).sum()) + int(np.abs(self.lot_qty).sum())
        price = max(int(np.abs(self.price).max()), int(np.abs(self.lot_price).max(initial=0)))
        pnl = 2 * quantity * price * abs(self.multiplier)
        whole = price // 10**self.pp
        digits = len(str(whole)) if whole else 0
        return (
            pnl < _BOUND
            and abs(self.prior_realized) + pnl < _BOUND
            and quantity * 10 ** (10 - self.pp) < _BOUND
            and quantity < 10 ** (18 - digits)
        )


def _tables_scale(values: np.ndarray, places: int) -> pa.Array | None:
    """Integers of ``places`` places as decimal(38, 10), None past int64."""
    factor = 10 ** (10 - places)
    if len(values) and int(np.abs(values).max()) >= _BOUND // factor:
        return None
    return decimals(values * factor)


class _Fifo:
    """The FIFO figures after each fill (lots, PnL, notional), from cumulative quantities."""

    def __init__(self, scale: _Scale, is_add: np.ndarray) -> None:
        # A correction opening the segment replaces the prior segment's last fill (slot 0).
        slot = np.cumsum(is_add) - (1 if is_add[0] else 0)
        final = np.append(slot[1:] != slot[:-1], True)  # a slot's last version stays
        self.slot, self.final = slot, final
        qty = np.concatenate([scale.lot_qty, scale.qty[final]])
        price = np.concatenate([scale.lot_price, scale.price[final]])
        buy = qty > 0
        bought, sold = np.where(buy, qty, 0), np.where(buy, 0, -qty)
        self.bought_before = np.cumsum(bought) - bought  # by slot, the prior lots first
        self.sold_before = np.cumsum(sold) - sold
        self.buys = _Side.of(qty[buy], price[buy])
        self.sells = _Side.of(-qty[~buy], price[~buy])
        self.first = len(scale.lot_qty)
        at = self.first + slot
        self.figures(scale.qty, scale.price, self.bought_before[at], self.sold_before[at])

    def figures(self, q: np.ndarray, p: np.ndarray, bought: np.ndarray, sold: np.ndarray) -> None:
        buys, sells = self.buys, self.sells
        buying = q > 0
        size = np.abs(q)
        matched = np.where(buying, np.clip(sold - bought, 0, size), np.clip(bought - sold, 0, size))
        start = np.where(buying, bought, sold)
        end = start + matched
        proceeds = matched * p
        self.pnl = np.where(
            buying,
            sells.cost(end) - sells.cost(start) - proceeds,
            proceeds - (buys.cost(end) - buys.cost(start)),
        )
        bought_now = bought + np.where(buying, size, 0)
        sold_now = sold + np.where(buying, 0, size)
        self.held = bought - sold  # before the fill's slot
        self.after = after = bought_now - sold_now
        long_ = (
            buys.cost(bought) - buys.cost(np.minimum(sold_now, bought))
            + np.maximum(bought_now - np.maximum(sold_now, bought), 0) * p
        )  # fmt: skip
        short = -(
            sells.cost(sold) - sells.cost(np.minimum(bought_now, sold))
            + np.maximum(sold_now - np.maximum(bought_now, sold), 0) * p
        )  # fmt: skip
        self.notional = np.where(after > 0, long_, np.where(after < 0, short, 0))

    def lots_before_last(self, scale: _Scale) -> deque[list[Decimal]]:
        """The open lots before the segment's last slot, as ``LeanRun`` holds them."""
        j = self.first + int(self.slot[-1])
        bought, sold = int(self.bought_before[j]), int(self.sold_before[j])
        if bought >= sold:
            pieces, sign = self.buys.lots(sold, bought), 1
        else:
            pieces, sign = self.sells.lots(bought, sold), -1
        return deque(
            [Decimal(sign * q).scaleb(-scale.qp), Decimal(p).scaleb(-scale.pp)] for q, p in pieces
        )


def _fifo_cost(fifo: _Fifo, scale: _Scale) -> pa.Array:
    """notional / quantity after each fill (None when flat), as Decimal divides it and the
    tables round it. Decimal rounds the quotient to 28 digits: with d digits before the point
    (it is an average of the lots' prices, so d is at most the largest price's), that moves it
    by at most half of 10^(d - 18) units of the tables' 10⁻¹⁰. The remainder at the tables'
    scale is a multiple of 1 / |quantity|, so a half exactly or at least 1 / (2 |quantity|)
    away from one, which is more than that move while |quantity| < 10^(18 - d)
    (``_Scale.bounded``): the 28-digit rounding never carries it across or onto the half, and
    one half-even rounding here ends where the two do."""
    n, a = fifo.notional, fifo.after
    flat = a == 0
    sign = np.sign(n) * np.sign(a)
    n_abs, a_abs = np.abs(n), np.where(flat, 1, np.abs(a))
    whole, rest = np.divmod(n_abs, a_abs)
    factor = 10 ** (10 - scale.pp)
    part, rem = np.divmod(rest * factor, a_abs)
    out = whole * factor + part
    twice = 2 * rem
    up = (twice > a_abs) | ((twice == a_abs) & (out % 2 == 1))
    column = decimals(sign * (out + up))
    if flat.any():
        column = pc.if_else(pa.array(~flat), column, pa.scalar(None, DEC))
    return column


def fold_fills(
    fills: pa.Table, run: LeanRun, multiplier: Decimal, last: Key | None,
    before_last: Key | None,
) -> Folded | None:  # fmt: skip
    """A segment's fills (``OP_SCHEMA`` rows of kind ADD or REPLACE, in log order, at least
    one), or None when its values do not fit the integer route (see the module docstring)."""
    is_add, last, before_last = _order(fills, last, before_last, run.undo is not None)
    prior = _Prior.of(run, not is_add[0])
    scale = _Scale.of(fills, prior, multiplier)
    if scale is None:
        return None
    adds = np.array(is_add)
    fifo = _Fifo(scale, adds)
    pnl = fifo.pnl * scale.multiplier
    slot_pnl = pnl[fifo.final]
    before_slot = scale.prior_realized + np.cumsum(slot_pnl) - slot_pnl
    realized = _tables_scale(pnl, scale.places)
    cum = _tables_scale(before_slot[fifo.slot] + pnl, scale.places)
    quantity = _tables_scale(fifo.after, scale.qp)
    if realized is None or cum is None or quantity is None:
        return None
    fills_at = Fills(scale.qty, scale.price, fifo.held, fifo.after, fifo.slot, fifo.final,
                     scale.qp, scale.pp)  # fmt: skip
    averages = average_columns(fills_at, multiplier, (prior.held, prior.avg, prior.realized_avg))
    after = LeanRun()
    after.quantity, after.avg_cost, after.realized_avg = averages.before_last
    after.realized = Decimal(int(before_slot[-1])).scaleb(-scale.places)
    after.lots = fifo.lots_before_last(scale)
    after.lots_notional = sum((q * p for q, p in after.lots), ZERO)
    last_qty = Decimal(int(scale.qty[-1])).scaleb(-scale.qp)
    effect = after.apply(last_qty, Decimal(int(scale.price[-1])).scaleb(-scale.pp), multiplier)
    return Folded(
        quantity, averages.avg_cost, _fifo_cost(fifo, scale), realized, averages.realized_avg,
        cum, averages.cum_realized_avg, adds, after, last, before_last, effect,
    )  # fmt: skip
