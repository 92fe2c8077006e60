"""A bracket: the one order group the execution layer places as a unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ordertrail.domain.errors import InvalidOrderSpec
from ordertrail.domain.values import OrderAction, OrderSpec, OrderType, TimeInForce


@dataclass(frozen=True, slots=True)
class BracketOrder:
    """A parent with a take-profit and a stop-loss child in one OCA group.

    IB's own ``bracketOrder`` sends parent and take-profit with ``transmit=False`` and the
    stop-loss with ``transmit=True``: the last child transmits all three, so no child can work
    without its siblings. Both children share an OCA group of type 1 so that one filling cancels
    the other; leaving both working after one fills oversells the position.
    """

    parent: OrderSpec
    take_profit: OrderSpec
    stop_loss: OrderSpec
    oca_group: str

    def __post_init__(self) -> None:
        p, tp, sl = self.parent, self.take_profit, self.stop_loss
        if not self.oca_group:
            raise InvalidOrderSpec("oca_group", "a bracket needs an OCA group")
        for name, child in (("take_profit", tp), ("stop_loss", sl)):
            if child.action is p.action:
                raise InvalidOrderSpec(f"{name}.action", "a bracket child must close the parent")
            if child.quantity != p.quantity:
                raise InvalidOrderSpec(f"{name}.quantity", "must equal the parent's quantity")
            if child.oca_group != self.oca_group:
                raise InvalidOrderSpec(
                    f"{name}.oca_group", "children share the bracket's OCA group"
                )
        if tp.limit_price is None:
            raise InvalidOrderSpec("take_profit.limit_price", "required")
        if sl.stop_price is None:
            raise InvalidOrderSpec("stop_loss.stop_price", "required")
        entry = p.limit_price if p.limit_price is not None else p.stop_price
        if entry is not None:
            up = p.action is OrderAction.BUY
            if (tp.limit_price <= entry) if up else (tp.limit_price >= entry):
                raise InvalidOrderSpec(
                    "take_profit.limit_price",
                    f"must be {'above' if up else 'below'} the entry price {entry}",
                )
            if (sl.stop_price >= entry) if up else (sl.stop_price <= entry):
                raise InvalidOrderSpec(
                    "stop_loss.stop_price",
                    f"must be {'below' if up else 'above'} the entry price {entry}",
                )
        if p.transmit or tp.transmit or not sl.transmit:
            raise InvalidOrderSpec(
                "transmit", "parent and take-profit hold (False); the stop-loss transmits (True)"
            )

    @classmethod
    def build(
        cls,
        *,
        action: OrderAction,
        quantity: Decimal,
        entry_price: Decimal,
        take_profit_price: Decimal,
        stop_loss_price: Decimal,
        oca_group: str,
        tif: TimeInForce = TimeInForce.DAY,
        account: str = "",
    ) -> BracketOrder:
        exit_action = action.opposite
        return cls(
            parent=OrderSpec(
                action,
                quantity,
                OrderType.LIMIT,
                limit_price=entry_price,
                tif=tif,
                account=account,
                transmit=False,
            ),
            take_profit=OrderSpec(
                exit_action,
                quantity,
                OrderType.LIMIT,
                limit_price=take_profit_price,
                tif=tif,
                account=account,
                oca_group=oca_group,
                oca_type=1,
                transmit=False,
            ),
            stop_loss=OrderSpec(
                exit_action,
                quantity,
                OrderType.STOP,
                stop_price=stop_loss_price,
                tif=tif,
                account=account,
                oca_group=oca_group,
                oca_type=1,
                transmit=True,
            ),
            oca_group=oca_group,
        )
