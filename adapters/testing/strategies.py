"""Hypothesis strategies for realistic IB order lifecycles, to property-test your own IB code.

A ``Lifecycle`` is what the broker does to one order after it is acknowledged, in the message
orders real IB sessions show: fills in parts with commission reports early, late or never;
repeated orderStatus and openOrder messages; an execution correction; a cancel that races a
fill; an unsolicited cancel; a rejection (201/200/103, with or without a following Inactive);
an order held Inactive for a locate that still fills. ``play(sim, order, lifecycle)`` performs
it on the simulator. The generated steps never fill more than the order's quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import strategies as st

from ordertrail.adapters.simulator import CommissionTiming, SimOrder, Simulator


@dataclass(frozen=True, slots=True)
class Fill:
    qty: Decimal
    price_offset: Decimal
    commission: CommissionTiming


@dataclass(frozen=True, slots=True)
class Repeat:
    """IB repeats orderStatus two or three times and re-sends openOrder after partial fills."""

    statuses: int
    open_orders: int


@dataclass(frozen=True, slots=True)
class Correct:
    """The last execution is corrected (execId suffix .01 → .02) at a new price."""

    price_offset: Decimal


@dataclass(frozen=True, slots=True)
class BrokerCancel:
    """IB cancels the order unsolicited (Cancelled, then error 202)."""


@dataclass(frozen=True, slots=True)
class Reject:
    code: int
    inactive: bool


@dataclass(frozen=True, slots=True)
class HeldForLocate:
    """Inactive with whyHeld="locate": not final, the order can still fill."""


Step = Fill | Repeat | Correct | BrokerCancel | Reject | HeldForLocate


@dataclass(frozen=True, slots=True)
class Lifecycle:
    steps: tuple[Step, ...]

    @property
    def filled(self) -> Decimal:
        return sum((s.qty for s in self.steps if isinstance(s, Fill)), Decimal(0))


def _offsets() -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal("-0.05"), max_value=Decimal("0.05"), places=2)


@st.composite
def lifecycles(draw: st.DrawFn, quantity: int = 100) -> Lifecycle:
    """One order's life at the broker, for an order of ``quantity`` shares."""
    steps: list[Step] = []
    if draw(st.integers(0, 9)) == 0:
        # Rejected before anything happens: IB may or may not follow with Inactive.
        steps.append(Reject(draw(st.sampled_from([201, 200, 103])), draw(st.booleans())))
        return Lifecycle(tuple(steps))
    if draw(st.integers(0, 9)) == 0:
        steps.append(HeldForLocate())
    left = quantity
    for _ in range(draw(st.integers(0, 4))):
        if left == 0:
            break
        qty = draw(st.integers(1, left))
        left -= qty
        steps.append(
            Fill(Decimal(qty), draw(_offsets()), draw(st.sampled_from(list(CommissionTiming))))
        )
        if draw(st.booleans()):
            steps.append(Repeat(draw(st.integers(1, 3)), draw(st.integers(0, 2))))
        if draw(st.integers(0, 5)) == 0:
            steps.append(Correct(draw(_offsets())))
    if left and draw(st.integers(0, 3)) == 0:
        steps.append(BrokerCancel())
    return Lifecycle(tuple(steps))


def play(sim: Simulator, order: SimOrder, life: Lifecycle, price: Decimal) -> None:
    """Make the simulated broker live ``life`` for ``order`` (already acknowledged)."""
    last_exec: str | None = None
    for step in life.steps:
        if isinstance(step, Fill):
            last_exec = sim.fill(
                order, step.qty, price + step.price_offset, commission_timing=step.commission
            )
        elif isinstance(step, Repeat):
            sim.send_order_status(order, times=step.statuses)
            if step.open_orders:
                sim.send_open_order(order, times=step.open_orders)
        elif isinstance(step, Correct) and last_exec is not None:
            last_exec = sim.correct_execution(last_exec, price=price + step.price_offset)
        elif isinstance(step, BrokerCancel):
            sim.cancel(order)
        elif isinstance(step, Reject):
            sim.reject(order, step.code, inactive=step.inactive)
        elif isinstance(step, HeldForLocate):
            sim.set_inactive(order, "locate")


__all__ = [
    "BrokerCancel",
    "Correct",
    "Fill",
    "HeldForLocate",
    "Lifecycle",
    "Reject",
    "Repeat",
    "Step",
    "lifecycles",
    "play",
]
