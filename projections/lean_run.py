"""``PositionRun.apply`` for the rebuild's columnar positions route: the same Decimal
expressions on the same values, without the objects the update's fold needs to refold (a
``Lot`` per open lot, an ``Undo`` and a ``FillEffect`` per fill, a list of touched lots per
fill). Lots are ``[quantity, price]`` lists and only the last fill's undo is kept: the route
takes fills in execution order and corrections of the last fill only
(docs/adr/0107-columnar-positions-pass.md).

Why the figures are the same Decimals: each expression is ``PositionRun.apply``'s with the
side's sign folded in (``x * -1 * m`` is ``-(x * m)``: Decimal rounds half-even, which is
symmetric), in the same order, so every intermediate result is rounded to the context's 28
digits exactly where ``apply`` rounds it. A property test folds both side by side.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from ordertrail.projections.position_run import Lot, PositionRun

ZERO = Decimal(0)

# What one fill did (``FillEffect``'s fields, as a plain tuple).
Effect = tuple[
    Decimal, Decimal, Decimal, Decimal | None, Decimal | None, Decimal, Decimal
]  # fmt: skip
# How to step back over the last fill: the scalars before it, the lots it matched (with their
# quantity before), whether it opened a lot.
LeanUndo = tuple[
    Decimal, Decimal, Decimal, Decimal, Decimal, list[tuple[list[Decimal], Decimal]], bool
]


class LeanRun:
    """The running figures of one position (``PositionRun``'s)."""

    __slots__ = ("avg_cost", "lots", "lots_notional", "quantity", "realized", "realized_avg",
                 "undo")  # fmt: skip

    def __init__(self) -> None:
        self.quantity = ZERO
        self.avg_cost = ZERO
        self.realized = ZERO
        self.realized_avg = ZERO
        self.lots_notional = ZERO
        self.lots: deque[list[Decimal]] = deque()
        self.undo: LeanUndo | None = None

    def apply(self, qty: Decimal, price: Decimal, multiplier: Decimal) -> Effect:
        """``PositionRun.apply`` (see the module docstring); keeps how to step back."""
        held = self.quantity
        buying = qty > 0
        realized, notional, touched, remaining = self._match(qty, price, multiplier, buying)
        self.undo = (held, self.avg_cost, self.realized, self.realized_avg, self.lots_notional,
                     touched, bool(remaining))  # fmt: skip
        after = held + qty
        avg, realized_avg = self._average(held, qty, price, multiplier, after)
        self.quantity = after
        self.avg_cost = avg
        self.realized = cum = self.realized + realized
        self.realized_avg = cum_avg = self.realized_avg + realized_avg
        if not after:
            self.lots_notional = ZERO
            return realized, realized_avg, after, None, None, cum, cum_avg
        self.lots_notional = notional
        return realized, realized_avg, after, avg, notional / after, cum, cum_avg

    def _match(
        self, qty: Decimal, price: Decimal, multiplier: Decimal, buying: bool
    ) -> tuple[Decimal, Decimal, list[tuple[list[Decimal], Decimal]], Decimal]:
        """FIFO: the fill against the open lots of the other side, then what remains opens a
        lot. (realized PnL, lots' notional after, lots touched, quantity that opened a lot)"""
        lots = self.lots
        notional = self.lots_notional
        touched: list[tuple[list[Decimal], Decimal]] = []
        realized = ZERO
        remaining = qty
        while remaining and lots:
            lot = lots[0]
            lq = lot[0]
            if (lq > 0) == buying:
                break
            touched.append((lot, lq))
            if buying:  # against a short lot: side -1
                matched = min(remaining, -lq)
                realized -= matched * (price - lot[1]) * multiplier
                lot[0] = lq + matched
                remaining -= matched
                notional += matched * lot[1]
            else:
                matched = min(-remaining, lq)
                realized += matched * (price - lot[1]) * multiplier
                lot[0] = lq - matched
                remaining += matched
                notional -= matched * lot[1]
            if not lot[0]:
                lots.popleft()
        if remaining:
            lots.append([remaining, price])
            notional += remaining * price
        return realized, notional, touched, remaining

    def _average(
        self, held: Decimal, qty: Decimal, price: Decimal, multiplier: Decimal, after: Decimal
    ) -> tuple[Decimal, Decimal]:
        """The average cost after the fill and the PnL it realized against the average."""
        avg = self.avg_cost
        if not held or (qty > 0 if held > 0 else qty < 0):  # opening (``_sign`` equal)
            return (avg * abs(held) + price * abs(qty)) / abs(after), ZERO
        closed = min(abs(qty), abs(held))
        pnl = closed * (price - avg) * multiplier
        realized_avg = pnl if held > 0 else -pnl
        if not after:
            return ZERO, realized_avg
        if (after > 0) != (held > 0):
            return price, realized_avg
        return avg, realized_avg

    def revert(self) -> None:
        """Step back over the last fill (``PositionRun.revert``)."""
        assert self.undo is not None
        held, avg, realized, realized_avg, notional, touched, appended = self.undo
        self.undo = None
        self.quantity, self.avg_cost, self.realized, self.realized_avg = (
            held, avg, realized, realized_avg
        )  # fmt: skip
        self.lots_notional = notional
        lots = self.lots
        if appended:
            lots.pop()
        for lot, quantity in reversed(touched):
            if not lot[0]:
                lots.appendleft(lot)
            lot[0] = quantity

    def as_run(self) -> PositionRun:
        """The figures as a ``PositionRun`` (what the running state is written from)."""
        lots = deque(Lot(q, p) for q, p in self.lots)
        return PositionRun(self.quantity, self.avg_cost, self.realized, self.realized_avg, lots,
                           self.lots_notional)  # fmt: skip
