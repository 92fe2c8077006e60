"""Pure planners of the execution layer: routing, the limit-with-patience
escalation schedule, TWAP slicing, and the orders that close or roll a position.

Nothing here reads a clock or a random source: times are offsets from a start the caller owns,
and TWAP's jitter comes from an injected ``uniform(low, high)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ordertrail.domain.errors import InvalidOrderSpec
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType, TimeInForce

ONE = Decimal(1)
CENT = Decimal("0.01")

# ---- routing -------------------------------------------------------------------------------

PARTICIPATION_THRESHOLD = Decimal("0.01")


class Route(enum.StrEnum):
    LIMIT_WITH_PATIENCE = "limit_with_patience"
    TWAP = "twap"


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    route: Route
    participation: Decimal


def choose_route(
    quantity: Decimal, adv: Decimal, threshold: Decimal = PARTICIPATION_THRESHOLD
) -> RoutingDecision:
    """participation = quantity / max(ADV, 1): below the threshold (1 %) the order is small
    enough to wait at the mid; at or above it, slicing over time keeps it from moving the
    market."""
    if quantity <= 0:
        raise InvalidOrderSpec("quantity", f"must be > 0, got {quantity}")
    participation = quantity / max(adv, ONE)
    route = Route.TWAP if participation >= threshold else Route.LIMIT_WITH_PATIENCE
    return RoutingDecision(route, participation)


# ---- prices --------------------------------------------------------------------------------


def to_tick(price: Decimal, tick: Decimal, *, aggressive: bool, action: OrderAction) -> Decimal:
    """Round to the tick: aggressive rounds toward the market (a buy up, a sell down), passive
    away from it."""
    up = (action is OrderAction.BUY) == aggressive
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * tick).quantize(tick)


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal | None = None
    ask: Decimal | None = None

    @property
    def spread(self) -> Decimal | None:
        if self.bid is None or self.ask is None or self.ask < self.bid:
            return None
        return self.ask - self.bid


# ---- limit with patience -------------------------------------------------------------------

PATIENCE_STEP = Decimal("0.001")
SPREAD_ESTIMATE_STEPS = 10


@dataclass(frozen=True, slots=True)
class PatienceStep:
    at: timedelta  # from the start
    limit_price: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class PatiencePlan:
    steps: tuple[PatienceStep, ...]
    # When whatever has not filled is cancelled.
    ends_at: timedelta


def patience_schedule(
    action: OrderAction,
    *,
    mid: Decimal,
    window: timedelta,
    quote: Quote | None = None,
    step: Decimal = PATIENCE_STEP,
    tick: Decimal = CENT,
    escalations: int = 2,
) -> PatiencePlan:
    """Limit at the mid; after the patience window, one step (0.1 % of the mid) toward the
    market; after half the window, cross the spread (the quote's, or 10 steps as the estimate
    when there is no quote); then after a quarter window, an eighth, … one more step each
    (``escalations`` of them); after one more halved wait, cancel what is left.

    Each later price is at least one tick more aggressive than the one before, so every step
    is a real modification.
    """
    if mid <= 0:
        raise InvalidOrderSpec("mid", f"must be > 0, got {mid}")
    if window <= timedelta(0):
        raise InvalidOrderSpec("window", f"must be positive, got {window}")
    if escalations < 0:
        raise InvalidOrderSpec("escalations", f"must be >= 0, got {escalations}")
    sign = action.sign
    step_amount = mid * step
    # A locked quote (bid == ask) is a market with nothing between its sides: crossing it pays
    # the ask. Only a quote without a spread to trust (one side missing, or crossed by a stale
    # side) falls back to the estimate.
    quoted = quote.spread if quote is not None else None
    spread = step_amount * SPREAD_ESTIMATE_STEPS if quoted is None else quoted
    raw: list[tuple[timedelta, Decimal, str]] = [
        (timedelta(0), mid, "limit at the mid"),
        (window, mid + sign * step_amount, "step toward the market"),
    ]
    at, wait = window, window / 2
    at += wait
    cross = mid + sign * spread
    raw.append((at, cross, "cross the spread"))
    for k in range(1, escalations + 1):
        wait /= 2
        at += wait
        raw.append((at, cross + sign * k * step_amount, "beyond the spread"))
    steps: list[PatienceStep] = []
    for i, (when, price, reason) in enumerate(raw):
        rounded = to_tick(price, tick, aggressive=i > 0, action=action)
        if steps and (rounded - steps[-1].limit_price) * sign < tick:
            rounded = steps[-1].limit_price + sign * tick
        steps.append(PatienceStep(when, rounded, reason))
    return PatiencePlan(tuple(steps), at + wait / 2)


# ---- TWAP ----------------------------------------------------------------------------------

TWAP_JITTER = 0.2


@dataclass(frozen=True, slots=True)
class TwapSlice:
    at: timedelta  # from the start
    quantity: Decimal


def twap_slices(quantity: Decimal, slices: int, lot: Decimal = ONE) -> tuple[Decimal, ...]:
    """``quantity`` in ``slices`` whole lots, the remainder to the first slices (13 over 5 →
    3, 3, 3, 2, 2). Fewer slices when there are fewer lots than slices: never an empty one."""
    if slices < 1:
        raise InvalidOrderSpec("slices", f"must be >= 1, got {slices}")
    if quantity <= 0 or lot <= 0:
        raise InvalidOrderSpec("quantity", f"must be > 0, got {quantity}")
    lots = quantity / lot
    if lots != lots.to_integral_value():
        raise InvalidOrderSpec("quantity", f"{quantity} is not a whole number of lots of {lot}")
    n_lots = int(lots)
    base, extra = divmod(n_lots, slices)
    sizes = [base + (1 if i < extra else 0) for i in range(slices)]
    return tuple(Decimal(s) * lot for s in sizes if s)


def twap_schedule(
    quantity: Decimal,
    slices: int,
    duration: timedelta,
    uniform: Callable[[float, float], float],
    *,
    jitter: float = TWAP_JITTER,
    lot: Decimal = ONE,
) -> tuple[TwapSlice, ...]:
    """The slices and when to send them: the first at once, each next one after duration/N
    jittered by ±``jitter`` (a fraction) with ``uniform(-jitter, jitter)``, so the pattern is
    not a clock others can trade against."""
    if duration < timedelta(0):
        raise InvalidOrderSpec("duration", f"must not be negative, got {duration}")
    if not 0 <= jitter < 1:
        raise InvalidOrderSpec("jitter", f"must be in [0, 1), got {jitter}")
    sizes = twap_slices(quantity, slices, lot)
    interval = duration / len(sizes)
    out: list[TwapSlice] = []
    at = timedelta(0)
    for i, size in enumerate(sizes):
        if i:
            factor = uniform(-jitter, jitter)
            if not -jitter <= factor <= jitter:
                raise ValueError(f"the random source gave {factor}, outside ±{jitter}")
            at += interval * (1 + factor)
        out.append(TwapSlice(at, size))
    return tuple(out)


# ---- closing and rolling positions ---------------------------------------------------------

MARKETABLE_OFFSET = Decimal("0.005")


@dataclass(frozen=True, slots=True)
class PositionLeg:
    """A position in one contract (long > 0), alone or as a leg of a strategy. ``mark`` is the
    price a closing limit is set from."""

    contract: ContractRef
    quantity: Decimal
    mark: Decimal | None = None


def marketable_limit(
    action: OrderAction, mark: Decimal, offset: Decimal, tick: Decimal = CENT
) -> Decimal:
    """A limit through the market by ``offset`` (a fraction of the mark): it fills at once at
    the market if there is one, and never further away than the offset."""
    price = mark * (ONE + action.sign * offset)
    return to_tick(price, tick, aggressive=True, action=action)


def leg_order(
    leg: PositionLeg,
    action: OrderAction,
    *,
    market_allowed: bool,
    offset: Decimal = MARKETABLE_OFFSET,
    tick: Decimal = CENT,
    tif: TimeInForce = TimeInForce.DAY,
    account: str = "",
) -> OrderSpec:
    """The order that trades ``|leg.quantity|`` in ``action``: a market order when the policy
    allows them, else a marketable limit from the leg's mark."""
    qty = abs(leg.quantity)
    if market_allowed:
        return OrderSpec(
            action, qty, OrderType.MARKET, reference_price=leg.mark, tif=tif, account=account
        )
    if leg.mark is None:
        raise InvalidOrderSpec(
            "mark",
            f"{leg.contract.symbol or leg.contract.con_id}: market orders are disallowed, so a "
            "marketable limit needs the leg's mark price",
        )
    return OrderSpec(
        action,
        qty,
        OrderType.LIMIT,
        limit_price=marketable_limit(action, leg.mark, offset, tick),
        reference_price=leg.mark,
        tif=tif,
        account=account,
    )


def closing_action(leg: PositionLeg) -> OrderAction:
    return OrderAction.SELL if leg.quantity > 0 else OrderAction.BUY


def opening_action(leg: PositionLeg) -> OrderAction:
    return OrderAction.BUY if leg.quantity > 0 else OrderAction.SELL


def open_legs(legs: Sequence[PositionLeg]) -> tuple[PositionLeg, ...]:
    return tuple(leg for leg in legs if leg.quantity != 0)


def rolled_legs(
    legs: Sequence[PositionLeg], expiry: str, marks: Sequence[Decimal | None] | None = None
) -> tuple[PositionLeg, ...]:
    """The same legs in another expiry (same quantity). The conId is cleared: IB resolves the
    new contract from symbol, expiry, strike and right."""
    if marks is not None and len(marks) != len(legs):
        raise InvalidOrderSpec("marks", f"{len(marks)} marks for {len(legs)} legs")
    out = []
    for i, leg in enumerate(legs):
        contract = replace(leg.contract, expiry=expiry, con_id=0, local_symbol=None)
        out.append(PositionLeg(contract, leg.quantity, marks[i] if marks is not None else None))
    return tuple(out)


__all__ = [
    "PARTICIPATION_THRESHOLD",
    "PatiencePlan",
    "PatienceStep",
    "PositionLeg",
    "Quote",
    "Route",
    "RoutingDecision",
    "TwapSlice",
    "choose_route",
    "closing_action",
    "leg_order",
    "marketable_limit",
    "open_legs",
    "opening_action",
    "patience_schedule",
    "rolled_legs",
    "to_tick",
    "twap_schedule",
    "twap_slices",
]
