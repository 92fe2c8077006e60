"""Executions and commission reports as the simulated broker records them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .orders import SimOrder
from .tws_time import UTC_TWS, TwsTimeZone
from .wire import UNSET_INTEGER


@dataclass(slots=True, eq=False)
class SimExecution:
    """One execution; ``order_id``/``client_id`` are frozen as they were when it happened."""

    exec_id: str
    order: SimOrder
    order_id: int
    client_id: int
    time: datetime
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    exchange: str
    # 1 = added liquidity (rested), 2 = removed liquidity (was marketable on arrival).
    last_liquidity: int
    commission: Decimal
    currency: str
    realized_pnl: Decimal | None
    corrected_by: str | None = None

    @property
    def side(self) -> str:
        return "BOT" if self.order.ticket.is_buy else "SLD"

    @property
    def account(self) -> str:
        return self.order.ticket.account


def wire_order_id(order: SimOrder) -> int:
    # TWS sends executions of unbound manual orders with an unset orderId (ib_async maps it to 0).
    if order.manual and order.order_id == 0:
        return UNSET_INTEGER
    return order.order_id


def exec_id_for(perm_id: int, seq: int, revision: int = 1) -> str:
    """IB-style execId; a correction keeps everything up to the last dot and bumps the suffix."""
    return f"{perm_id:08x}.{seq:08x}.01.{revision:02d}"


def corrected_exec_id(exec_id: str) -> str:
    stem, _, suffix = exec_id.rpartition(".")
    return f"{stem}.{int(suffix) + 1:02d}"


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """reqExecutions' filter; empty fields (and clientId 0) match everything."""

    client_id: int = 0
    account: str = ""
    time: str = ""
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""

    def matches(self, ex: SimExecution, tz: TwsTimeZone = UTC_TWS) -> bool:
        ticket = ex.order.ticket
        checks = (
            (self.client_id, ex.client_id),
            (self.account, ex.account),
            (self.symbol, ticket.symbol),
            (self.sec_type, ticket.text("secType")),
            (self.exchange, ex.exchange),
            (self.side, ex.side),
        )
        if any(wanted and wanted != actual for wanted, actual in checks):
            return False
        since = tz.read_filter_time(self.time)
        return since is None or ex.time >= since
