"""Encoders for the outgoing messages other than openOrder/completedOrder.

Each function returns the message's fields in the order ib_async 2.1.0's ``decoder.py`` reads
them for the given server version. Field counts matter more than anything else here: ib_async
unpacks positionally and only *logs* a mismatch, so tests/simulator cross-checks every encoder
against the real decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from .contracts import Instrument
from .executions import SimExecution
from .orders import SimOrder
from .tws_time import UTC_TWS, TwsTimeZone
from .wire import UNSET_DOUBLE_TEXT, Field

CONTRACT_FIELDS = (
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "currency", "localSymbol", "tradingClass",
)  # fmt: skip


def contract_fields(raw: Mapping[str, str]) -> list[Field]:
    """The 11-field contract block of openOrder, execDetails and position (no primaryExchange)."""
    return [raw.get(name, "") for name in CONTRACT_FIELDS]


def handshake_reply(server_version: int, now: datetime, tz: TwsTimeZone = UTC_TWS) -> list[Field]:
    # Exactly two fields: ib_async treats the first two-field message as the end of handshake.
    return [server_version, tz.stamp(now)]


def managed_accounts(accounts: list[str]) -> list[Field]:
    return [15, 1, ",".join(accounts)]


def next_valid_id(order_id: int) -> list[Field]:
    return [9, 1, order_id]


def error(
    server_version: int, req_id: int, code: int, text: str, advanced_reject: str = ""
) -> list[Field]:
    fields: list[Field] = [4, 2, req_id, code, text]
    if server_version >= 166:
        fields.append(advanced_reject)
    return fields


def order_status(order: SimOrder) -> list[Field]:
    # No version field since server 100+: ib_async reads from field 1 (skip=1).
    return [
        3,
        order.order_id,
        order.status.value,
        order.filled,
        order.remaining,
        order.avg_fill_price,
        order.perm_id,
        order.ticket.parent_id,
        order.last_fill_price,
        order.client_id,
        order.why_held,
        Decimal(0),
    ]


def exec_details(
    server_version: int, req_id: int, ex: SimExecution, tz: TwsTimeZone = UTC_TWS
) -> list[Field]:
    """execDetails; ``req_id`` is -1 for a live execution, the request's id otherwise."""
    ticket = ex.order.ticket
    fields: list[Field] = [11, req_id, ex.order_id]
    fields += contract_fields(ticket.raw)
    fields += [
        ex.exec_id,
        tz.execution(ex.time),
        ex.account,
        ex.exchange,
        ex.side,
        ex.shares,
        ex.price,
        ex.order.perm_id,
        ex.client_id,
        0,  # liquidation
        ex.cum_qty,
        ex.avg_price,
        ticket.order_ref,
        "",  # evRule
        "",  # evMultiplier
        ticket.text("modelCode"),
        ex.last_liquidity,
    ]
    if server_version >= 178:
        fields.append(False)  # pendingPriceRevision
    return fields


# Order types TWS lists for a common stock (a subset; ib_async only passes the text on).
STOCK_ORDER_TYPES = "DAY,GTC,IOC,LIT,LMT,LOC,MIT,MKT,MOC,MTL,OCA,STP,STPLMT,TRAIL,TRAILLMT,WHATIF"


def contract_details(server_version: int, req_id: int, inst: Instrument) -> list[Field]:
    """contractDetails (10) for a non-bond, non-fund instrument, as ib_async's decoder reads it:
    a version field and mdSizeMultiplier before 164, minSize/sizeIncrement from 164."""
    head: list[Field] = [10] if server_version >= 164 else [10, 8]
    fields = [*head, req_id, inst.symbol, inst.sec_type, "", 0, "", inst.exchange]
    fields += [inst.currency, inst.local_symbol or inst.symbol, inst.trading_class or inst.symbol]
    fields += [inst.trading_class or inst.symbol, inst.con_id, inst.min_tick]
    if server_version < 164:
        fields.append(1)  # mdSizeMultiplier, obsolete
    fields += ["", STOCK_ORDER_TYPES, inst.valid_exchanges, 1, 0, inst.long_name]
    fields += [inst.primary_exchange, "", "", "", "", inst.time_zone_id, "", "", "", ""]
    fields += [0, 1, "", "", "26", "", "COMMON" if inst.sec_type == "STK" else ""]
    if server_version == 163:
        fields.append(1)  # suggestedSizeIncrement
    if server_version >= 164:
        fields += [1, 1, 100]  # minSize, sizeIncrement, suggestedSizeIncrement
    return fields


def contract_details_end(req_id: int) -> list[Field]:
    return [52, 1, req_id]


def exec_details_end(req_id: int) -> list[Field]:
    return [55, 1, req_id]


def commission_report(ex: SimExecution) -> list[Field]:
    # IB sends the double sentinel for "no realized P&L" and for the yield of a non-bond.
    realized: Field = UNSET_DOUBLE_TEXT if ex.realized_pnl is None else ex.realized_pnl
    return [59, 1, ex.exec_id, ex.commission, ex.currency, realized, UNSET_DOUBLE_TEXT, ""]


def position(
    account: str, contract: Mapping[str, str], quantity: Decimal, avg_cost: Decimal
) -> list[Field]:
    return [61, 3, account, *contract_fields(contract), quantity, avg_cost]


def position_end() -> list[Field]:
    return [62, 1]


def open_order_end() -> list[Field]:
    return [53, 1]


def completed_orders_end() -> list[Field]:
    # completedOrdersEnd is one of the few messages with no version field.
    return [102]


def account_value(key: str, value: str, currency: str, account: str) -> list[Field]:
    return [6, 2, key, value, currency, account]


def portfolio_value(
    account: str,
    contract: Mapping[str, str],
    quantity: Decimal,
    market_price: Decimal,
    avg_cost: Decimal,
    realized_pnl: Decimal,
) -> list[Field]:
    # updatePortfolio carries primaryExchange where the other contract blocks carry exchange.
    c = contract
    return [
        7,
        8,
        c.get("conId", ""),
        c.get("symbol", ""),
        c.get("secType", ""),
        c.get("lastTradeDateOrContractMonth", ""),
        c.get("strike", ""),
        c.get("right", ""),
        c.get("multiplier", ""),
        c.get("primaryExchange", ""),
        c.get("currency", ""),
        c.get("localSymbol", ""),
        c.get("tradingClass", ""),
        quantity,
        market_price,
        quantity * market_price,
        avg_cost,
        (market_price - avg_cost) * quantity,
        realized_pnl,
        account,
    ]


def account_time(now: datetime, tz: TwsTimeZone = UTC_TWS) -> list[Field]:
    return [8, 1, tz.clock_time(now)]


def account_download_end(account: str) -> list[Field]:
    return [54, 1, account]


def account_update_multi(
    req_id: int, account: str, key: str, value: str, currency: str
) -> list[Field]:
    return [73, 1, req_id, account, "", key, value, currency]


def account_update_multi_end(req_id: int) -> list[Field]:
    return [74, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list[Field]:
    return [63, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> list[Field]:
    return [64, 1, req_id]


def order_bound(perm_id: int, client_id: int, order_id: int) -> list[Field]:
    # orderBound has no version field (ib_async reads it with skip=1).
    return [100, perm_id, client_id, order_id]


def current_time(now: datetime) -> list[Field]:
    return [49, 1, int(now.timestamp())]
