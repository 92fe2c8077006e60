"""Positions per account and contract, kept up to date from fills.

Average cost follows IB's convention for stocks: the average price of the open quantity, reset
when a position flips through zero. Realized P&L is booked when a fill reduces a position; IB
reports it (net of commission) in the commission report of that execution.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(slots=True)
class Position:
    account: str
    contract: dict[str, str]
    quantity: Decimal = Decimal(0)
    avg_cost: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)

    @property
    def con_id(self) -> int:
        return int(self.contract.get("conId") or 0)


class PositionBook:
    def __init__(self) -> None:
        self._positions: dict[tuple[str, int, str], Position] = {}

    def all(self) -> list[Position]:
        return list(self._positions.values())

    def for_account(self, account: str) -> list[Position]:
        return [p for p in self._positions.values() if p.account == account]

    def apply_fill(
        self, account: str, contract: dict[str, str], signed_qty: Decimal, price: Decimal
    ) -> tuple[Position, Decimal | None]:
        """Book a fill; return the position and the gross P&L it realized (None if opening)."""
        # Keyed by symbol too so that contracts the scenario never qualified (conId 0) stay apart.
        key = (account, int(contract.get("conId") or 0), contract.get("symbol", ""))
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = Position(account, dict(contract))
        realized: Decimal | None = None
        if pos.quantity and (pos.quantity > 0) != (signed_qty > 0):
            closing = min(abs(signed_qty), abs(pos.quantity))
            direction = Decimal(1) if pos.quantity > 0 else Decimal(-1)
            realized = (price - pos.avg_cost) * closing * direction
            pos.realized_pnl += realized
        new_qty = pos.quantity + signed_qty
        if new_qty == 0:
            pos.avg_cost = Decimal(0)
        elif pos.quantity == 0 or (new_qty > 0) != (pos.quantity > 0):
            pos.avg_cost = price
        elif (new_qty > 0) == (signed_qty > 0):
            pos.avg_cost = (pos.avg_cost * pos.quantity + price * signed_qty) / new_qty
        pos.quantity = new_qty
        return pos, realized
