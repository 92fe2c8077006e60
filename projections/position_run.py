"""A position's running figures and the one place their arithmetic happens: FIFO lots and
realized PnL, the average cost beside them, and the commissions booked against the position.
Both routes that fold a position run it: ``Position`` (the update, which refolds on a late fill,
a correction or a bust) and ``StreamedPosition`` (the rebuild's route for fills in order), so
their figures are the same Decimals computed by the same operations."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

ZERO = Decimal(0)


@dataclass(slots=True)
class Lot:
    """An open FIFO lot: signed quantity (long > 0) at its opening price."""

    quantity: Decimal
    price: Decimal


class FillEffect(NamedTuple):
    """What one fill did to its position, and the position right after it (a named tuple: one
    is made per fill and per refolded fill, and a frozen dataclass costs several times more to
    make)."""

    realized_pnl: Decimal
    realized_pnl_avg: Decimal
    quantity: Decimal
    avg_cost: Decimal | None
    fifo_cost: Decimal | None
    cum_realized_pnl: Decimal
    cum_realized_pnl_avg: Decimal


def _sign(x: Decimal) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


@dataclass(slots=True)
class PositionRun:
    """The running fold. ``apply`` is the only place position arithmetic happens."""

    quantity: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized: Decimal = ZERO
    realized_avg: Decimal = ZERO
    lots: deque[Lot] = field(default_factory=deque)
    # Sum of quantity * price over open lots, kept exactly so the FIFO cost needs no rescan.
    lots_notional: Decimal = ZERO

    def copy(self) -> PositionRun:
        return PositionRun(
            self.quantity,
            self.avg_cost,
            self.realized,
            self.realized_avg,
            deque(Lot(lot.quantity, lot.price) for lot in self.lots),
            self.lots_notional,
        )

    def apply(
        self, qty: Decimal, price: Decimal, multiplier: Decimal, undo: list[Undo] | None = None
    ) -> FillEffect:
        """Apply a signed fill quantity (bought > 0, sold < 0) at ``price``. With ``undo``,
        append what it takes to step back to the state before this fill (``revert``)."""
        held, avg = self.quantity, self.avg_cost
        before = (held, avg, self.realized, self.realized_avg)
        notional_before = notional = self.lots_notional
        touched: list[tuple[Lot, Decimal]] = []
        realized = ZERO
        remaining = qty
        lots = self.lots
        sign = 1 if qty > 0 else -1  # the sign of what remains, while anything does
        while remaining and lots:
            lot = lots[0]
            lq = lot.quantity
            side = _sign(lq)
            if side == sign:
                break
            touched.append((lot, lq))
            matched = min(abs(remaining), abs(lq))
            realized += matched * (price - lot.price) * side * multiplier
            lot.quantity = lq - side * matched
            remaining += side * matched
            notional -= side * matched * lot.price
            if not lot.quantity:
                lots.popleft()
        if remaining:
            lots.append(Lot(remaining, price))
            notional += remaining * price
        if undo is not None:
            undo.append(Undo(before, notional_before, touched, bool(remaining)))

        # Average cost: opening trades move the average, closing trades realize against it, and
        # a flip (long -> short in one fill) opens the remainder at the fill price.
        after = held + qty
        realized_avg = ZERO
        if not held or _sign(held) == _sign(qty):
            avg = (avg * abs(held) + price * abs(qty)) / abs(after)
        else:
            closed = min(abs(qty), abs(held))
            realized_avg = closed * (price - avg) * _sign(held) * multiplier
            if not after:
                avg = ZERO
            elif _sign(after) != _sign(held):
                avg = price
        self.quantity = after
        self.avg_cost = avg
        self.realized = cum = self.realized + realized
        self.realized_avg = cum_avg = self.realized_avg + realized_avg
        if not after:
            self.lots_notional = ZERO
            return FillEffect(realized, realized_avg, after, None, None, cum, cum_avg)
        self.lots_notional = notional
        return FillEffect(realized, realized_avg, after, avg, notional / after, cum, cum_avg)

    def revert(self, step: Undo) -> None:
        """Step back over the last ``apply``: the exact state before it (the same Decimals, the
        same lot objects), so folding forward again gives what a fresh fold gives."""
        self.quantity, self.avg_cost, self.realized, self.realized_avg = step.scalars
        self.lots_notional = step.lots_notional
        lots = self.lots
        if step.appended:
            lots.pop()
        # Every touched lot but the last was used up and popped; the last one may still be
        # at the front (partly used). Put them back innermost first.
        for lot, quantity in reversed(step.touched):
            if not lot.quantity:
                lots.appendleft(lot)
            lot.quantity = quantity


@dataclass(frozen=True, slots=True)
class Undo:
    """What one ``PositionRun.apply`` changed, to step back over it."""

    scalars: tuple[Decimal, Decimal, Decimal, Decimal]  # quantity, avg_cost, realized, avg
    lots_notional: Decimal
    touched: list[tuple[Lot, Decimal]]  # lots it matched against, with their quantity before
    appended: bool  # whether it opened a new lot


def book_commission(
    booked: dict[str, Decimal], foreign: set[str], total: Decimal, base_id: str,
    amount: Decimal | None, currency: str, home: str,
) -> Decimal:  # fmt: skip
    """Book a fill's commission (None: remove it) and return the position's new total.
    Commissions reported in another currency than the position's (``home``) are counted in
    ``foreign``, not added."""
    old = booked.pop(base_id, None)
    if old is not None:
        total -= old
    foreign.discard(base_id)
    if amount is None:
        return total
    if currency and currency != home:
        foreign.add(base_id)
        return total
    booked[base_id] = amount
    return total + amount
