"""What the RiskGate needs to know, read from the recorded orders: the position per contract,
the working orders on each side, and how many orders are open.

Live and dry-run orders never mix: a dry run's fills are not a position anyone holds, and a
real position must not make a dry run refuse. Positions held before the store began recording
are not in it: pass ``positions`` (e.g. from ``ib.positions()``) to use the broker's figure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.risk import RiskContext
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, OrderAction

ZERO = Decimal(0)
ContractKey = tuple[object, ...]
PositionSource = Callable[[ContractRef], Decimal | None]


def contract_key(c: ContractRef) -> ContractKey:
    if c.con_id:
        return ("con", c.con_id)
    return ("sym", c.symbol, c.sec_type, c.currency, c.expiry, c.strike, c.right)


@dataclass(frozen=True, slots=True)
class ExposureSnapshot:
    states: tuple[OrderState, ...]
    positions: PositionSource | None = None

    def position(self, contract: ContractRef) -> Decimal:
        if self.positions is not None:
            known = self.positions(contract)
            if known is not None:
                return known
        key = contract_key(contract)
        return sum(
            (
                x.shares * x.side.sign
                for s in self.states
                if contract_key(s.contract) == key
                for x in s.executions.values()
            ),
            ZERO,
        )

    def _working(self, exclude: str | None) -> Iterable[OrderState]:
        # New orders are intents not (yet) sent: the one being checked, or one whose sending
        # failed. Only what a broker may be working counts.
        return (
            s
            for s in self.states
            if s.status.is_working
            and s.status is not OrderStatus.NEW
            and (exclude is None or s.client_order_id != exclude)
        )

    def context(
        self, contract: ContractRef, action: OrderAction, *, exclude: str | None = None
    ) -> RiskContext:
        key = contract_key(contract)
        working = list(self._working(exclude))
        same_side = sum(
            (
                s.remaining
                for s in working
                if contract_key(s.contract) == key and s.spec.action is action
            ),
            ZERO,
        )
        return RiskContext(
            position=self.position(contract),
            working_same_side=same_side,
            open_orders=len(working),
        )


class TrailExposure:
    def __init__(
        self, trail: OrderTrail, *, dry_run: bool, positions: PositionSource | None = None
    ) -> None:
        self.trail = trail
        self.dry_run = dry_run
        self.positions = positions

    def snapshot(self) -> ExposureSnapshot:
        states = tuple(s for s in self.trail.states().values() if s.is_dry_run == self.dry_run)
        return ExposureSnapshot(states, self.positions)
