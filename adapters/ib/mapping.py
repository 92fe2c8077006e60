"""ib_async objects → domain values. Kept apart from the connection code (a venue mapping table,
as NautilusTrader keeps its own).

IB sends doubles for quantities and prices, with ``Double.MAX_VALUE`` meaning "unset"; ib_async
passes them through as floats. Everything here becomes Decimal or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, Protocol

from ib_async import CommissionReport as IbCommissionReport
from ib_async import Contract
from ib_async import Execution as IbExecution
from ib_async import Order as IbOrder

from ordertrail.domain.errors import InvalidFact
from ordertrail.domain.money import is_unset, price_or_none, quantity
from ordertrail.domain.status import IB_STATUSES
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
    TimeInForce,
)

_RIGHTS = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}


# What ``contract_ref`` and ``order_spec`` read: of ib_async's ``Contract`` and ``Order``, or of
# a placeOrder read back from the wire, which need not be made into those (an ``Order`` has 139
# attributes, and every request leaving the client is read).
class ContractTerms(Protocol):
    @property
    def conId(self) -> int: ...  # noqa: N802
    @property
    def symbol(self) -> str: ...
    @property
    def secType(self) -> str: ...  # noqa: N802
    @property
    def lastTradeDateOrContractMonth(self) -> str: ...  # noqa: N802
    @property
    def strike(self) -> float: ...
    @property
    def right(self) -> str: ...
    @property
    def multiplier(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def localSymbol(self) -> str: ...  # noqa: N802


class OrderTerms(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def totalQuantity(self) -> float: ...  # noqa: N802
    @property
    def orderType(self) -> str: ...  # noqa: N802
    @property
    def lmtPrice(self) -> float | Decimal | None: ...  # noqa: N802
    @property
    def auxPrice(self) -> float | Decimal | None: ...  # noqa: N802
    @property
    def tif(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def outsideRth(self) -> bool: ...  # noqa: N802
    @property
    def ocaGroup(self) -> str: ...  # noqa: N802
    @property
    def ocaType(self) -> int: ...  # noqa: N802
    @property
    def transmit(self) -> bool: ...
    @property
    def goodTillDate(self) -> str: ...  # noqa: N802
    @property
    def trailingPercent(self) -> float | Decimal: ...  # noqa: N802


# What ``contract_ref`` reads of a contract, and what it made of each such set already: a
# session trades few contracts and IB sends each with every openOrder and execution, so one
# ContractRef each is converted and kept by every fact that names it. A contract that fails to
# convert is never kept (it fails again, naming its field). Bounded: cleared when full.
_CONTRACT_TERMS = attrgetter(
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "currency", "localSymbol",
)  # fmt: skip
_CONTRACT_REFS: dict[tuple[Any, ...], ContractRef] = {}
CONTRACT_REFS_KEPT = 256


def contract_ref(c: ContractTerms) -> ContractRef:
    key = _CONTRACT_TERMS(c)
    found = _CONTRACT_REFS.get(key)
    if found is None:
        found = _contract_ref(c)
        if len(_CONTRACT_REFS) >= CONTRACT_REFS_KEPT:
            _CONTRACT_REFS.clear()
        _CONTRACT_REFS[key] = found
    return found


def _contract_ref(c: ContractTerms) -> ContractRef:
    multiplier = Decimal(1)
    if c.multiplier and not is_unset(c.multiplier):
        multiplier = quantity(c.multiplier, "contract.multiplier") or Decimal(1)
    strike = price_or_none(c.strike, "contract.strike") if c.strike else None
    return ContractRef(
        con_id=int(c.conId or 0),
        symbol=c.symbol or c.localSymbol or "",
        sec_type=c.secType or "STK",
        exchange=c.exchange or "SMART",
        currency=c.currency or "USD",
        multiplier=multiplier,
        expiry=c.lastTradeDateOrContractMonth or None,
        strike=strike,
        right=_RIGHTS.get((c.right or "").upper()) if c.right and c.right != "?" else None,
        local_symbol=c.localSymbol or None,
    )


def order_spec(o: OrderTerms, contract: ContractRef) -> OrderSpec:
    """IB's view of an order as observed terms: never refused for what a command must carry.
    A code we do not name becomes OTHER (``unnamed_terms`` keeps the raw codes); an unset or
    zero quantity becomes 0, which observed terms read as "IB gave none"."""
    order_type = _member(OrderType, o.orderType, OrderType.OTHER)
    tif = _member(TimeInForce, o.tif or "DAY", TimeInForce.OTHER)
    trailing_pct = price_or_none(o.trailingPercent, "order.trailingPercent")
    trailing = order_type in (OrderType.TRAILING, OrderType.TRAILING_LIMIT)
    # TWS sends 0 (or the unset sentinel) in lmtPrice/auxPrice for order types that carry no
    # such price; only the types that use a price read it.
    limit = (
        price_or_none(o.lmtPrice, "order.lmtPrice")
        if (order_type.needs_limit_price or order_type is OrderType.TRAILING_LIMIT)
        else None
    )
    stop = (
        price_or_none(o.auxPrice, "order.auxPrice")
        if (order_type.needs_stop_price or (trailing and trailing_pct is None))
        else None
    )
    return OrderSpec(
        action=OrderAction(o.action),
        quantity=(
            Decimal(0)
            if is_unset(o.totalQuantity)
            else quantity(o.totalQuantity, "order.totalQuantity")
        ),
        order_type=order_type,
        limit_price=limit,
        stop_price=stop,
        tif=tif,
        account=o.account or "",
        outside_rth=bool(o.outsideRth),
        trailing_percent=trailing_pct,
        oca_group=o.ocaGroup or "",
        oca_type=int(o.ocaType or 0) if o.ocaGroup else 0,
        transmit=bool(o.transmit),
        good_till=o.goodTillDate or "",
        allow_negative_prices=contract.allows_negative_prices,
        # What IB reports is a fact: held to being numbers, not to what a command must carry.
        observed=True,
    )


def _member(enum_cls: Any, code: str, other: Any) -> Any:
    try:
        return enum_cls(code)
    except ValueError:
        return other


def unnamed_terms(o: OrderTerms) -> dict[str, str]:
    """IB's raw codes that ``order_spec`` recorded as OTHER, for the order's provenance."""
    out: dict[str, str] = {}
    if _member(OrderType, o.orderType, None) is None:
        out["orderType"] = str(o.orderType)
    if _member(TimeInForce, o.tif or "DAY", None) is None:
        out["tif"] = str(o.tif)
    return out


@dataclass(frozen=True, slots=True)
class StatusNumbers:
    """The numbers of one orderStatus message, as IB meant them."""

    filled: Decimal
    remaining: Decimal
    avg_fill_price: Decimal | None
    last_fill_price: Decimal | None
    mkt_cap_price: Decimal | None


def status_numbers(
    filled: float,
    remaining: float,
    avg_fill_price: float,
    last_fill_price: float,
    mkt_cap_price: float,
) -> StatusNumbers:
    # TWS sends avgFillPrice/lastFillPrice 0 (or the sentinel) until something fills, and
    # mktCapPrice 0 unless a price cap applied: only then are they read as prices.
    return StatusNumbers(
        filled=quantity(filled, "orderStatus.filled"),
        remaining=quantity(remaining, "orderStatus.remaining"),
        avg_fill_price=(
            price_or_none(avg_fill_price, "orderStatus.avgFillPrice") if filled else None
        ),
        last_fill_price=(
            price_or_none(last_fill_price, "orderStatus.lastFillPrice") if filled else None
        ),
        mkt_cap_price=(
            price_or_none(mkt_cap_price, "orderStatus.mktCapPrice") if mkt_cap_price else None
        ),
    )


def known_status(status: str) -> bool:
    """Whether IB documents this status. An unknown one is still recorded (with an
    ``unknown_status`` anomaly: a new IB version may add one), but it must be reported."""
    return status in IB_STATUSES


def to_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        if value.year <= 1970:
            return None  # ib_async's EPOCH default: no time given
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def execution(x: IbExecution) -> Execution:
    shares = quantity(x.shares, "execution.shares")
    if x.side not in ("BOT", "SLD"):
        raise InvalidFact("execution.side", x.side, "expected BOT or SLD")
    price = price_or_none(x.price, "execution.price")
    if price is None:
        raise InvalidFact("execution.price", x.price, "an execution needs a price")
    # Executions of orders placed by hand can carry an unset orderId (TWS bug).
    order_id = 0 if is_unset(x.orderId) else int(x.orderId)
    return Execution(
        exec_id=x.execId,
        time=to_utc(x.time),
        account=x.acctNumber,
        exchange=x.exchange,
        side=Side(x.side),
        shares=shares,
        price=price,
        perm_id=int(x.permId),
        client_id=int(x.clientId),
        order_id=order_id,
        cum_qty=price_or_none(x.cumQty, "execution.cumQty"),
        avg_price=price_or_none(x.avgPrice, "execution.avgPrice"),
        order_ref=x.orderRef or "",
        liquidity=int(x.lastLiquidity or 0),
    )


def commission(r: IbCommissionReport) -> CommissionReport:
    return CommissionReport(
        exec_id=r.execId,
        commission=price_or_none(r.commission, "commissionReport.commission"),
        currency=r.currency or "",
        realized_pnl=price_or_none(r.realizedPNL, "commissionReport.realizedPNL"),
    )


def to_ib_order(spec: OrderSpec, *, order_id: int, order_ref: str, parent_id: int = 0) -> IbOrder:
    """Our OrderSpec as the ib_async Order that places it."""
    o = IbOrder(
        orderId=order_id,
        action=spec.action.value,
        totalQuantity=float(spec.quantity),
        orderType=spec.order_type.value,
        tif=spec.tif.value,
        account=spec.account,
        outsideRth=spec.outside_rth,
        ocaGroup=spec.oca_group,
        ocaType=spec.oca_type,
        orderRef=order_ref,
        transmit=spec.transmit,
        parentId=parent_id,
        goodTillDate=spec.good_till,
    )
    if spec.limit_price is not None:
        o.lmtPrice = float(spec.limit_price)
    if spec.stop_price is not None:
        o.auxPrice = float(spec.stop_price)
    if spec.trailing_percent is not None:
        o.trailingPercent = float(spec.trailing_percent)
    return o


def to_ib_contract(c: ContractRef) -> Contract:
    return Contract(
        conId=c.con_id,
        symbol=c.symbol,
        secType=c.sec_type,
        exchange=c.exchange,
        currency=c.currency,
        lastTradeDateOrContractMonth=c.expiry or "",
        strike=float(c.strike) if c.strike is not None else 0.0,
        right=c.right or "",
        multiplier=str(c.multiplier) if c.multiplier != 1 else "",
        localSymbol=c.local_symbol or "",
    )
