"""An execution corrected: TWS re-sends it under the next revision of its execId, with its new
price or commission, and a commission report for the new revision."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from .executions import SimExecution, corrected_exec_id

if TYPE_CHECKING:
    from .broker import Broker


def correct_execution(
    broker: Broker, exec_id: str, price: Decimal | None, commission: Decimal | None
) -> SimExecution:
    """Re-send an execution under the next execId revision (…01.01 → …01.02)."""
    old = next((e for e in broker.executions if e.exec_id == exec_id), None)
    if old is None:
        raise KeyError(f"no execution {exec_id}")
    new = SimExecution(
        exec_id=corrected_exec_id(exec_id),
        order=old.order,
        order_id=old.order_id,
        client_id=old.client_id,
        time=broker.clock(),
        shares=old.shares,
        price=old.price if price is None else price,
        cum_qty=old.cum_qty,
        avg_price=old.avg_price if price is None else price,
        exchange=old.exchange,
        last_liquidity=old.last_liquidity,
        commission=old.commission if commission is None else commission,
        currency=old.currency,
        realized_pnl=old.realized_pnl,
    )
    old.corrected_by = new.exec_id
    broker.executions.append(new)
    old.order.exec_ids.append(new.exec_id)
    broker.send_execution(new)
    broker.broadcast_commission(new)
    return new
