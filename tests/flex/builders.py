"""Flex statements built like real ones, for tests: a user's query picks the attributes, so a
row is whatever subset of IB's attributes the test asks for."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import CommissionReported, ExecutionReport
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)

ACCOUNT = "U1234567"


def stock_trade(**attrs: str) -> dict[str, str]:
    """An AAPL execution with the attributes a reduced query keeps (no ids unless given)."""
    row = {
        "accountId": ACCOUNT,
        "currency": "USD",
        "assetCategory": "STK",
        "symbol": "AAPL",
        "conid": "265598",
        "multiplier": "1",
        "dateTime": "20250805;101500",
        "tradeDate": "20250805",
        "quantity": "100",
        "tradePrice": "210.10",
        "ibCommission": "-1.00",
        "ibCommissionCurrency": "USD",
        "buySell": "BUY",
        "levelOfDetail": "EXECUTION",
    }
    row.update(attrs)
    return {k: v for k, v in row.items() if v is not None}


def element(tag: str, attrs: dict[str, str]) -> str:
    return f"<{tag} " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + " />"


def statement_xml(
    trades: list[dict[str, str]],
    *,
    from_date: str = "20250804",
    to_date: str = "20250808",
    sections: dict[str, list[tuple[str, dict[str, str]]]] | None = None,
    account: str = ACCOUNT,
) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<FlexQueryResponse queryName="test" type="AF">',
        '<FlexStatements count="1">',
        f'<FlexStatement accountId="{account}" fromDate="{from_date}" toDate="{to_date}" '
        'period="Custom" whenGenerated="20250809;081502">',
        "<Trades>",
        *(element("Trade", t) for t in trades),
        "</Trades>",
    ]
    for name, rows in (sections or {}).items():
        lines += [f"<{name}>", *(element(tag, a) for tag, a in rows), f"</{name}>"]
    lines += ["</FlexStatement>", "</FlexStatements>", "</FlexQueryResponse>", ""]
    return "\n".join(lines)


def write(directory: Path, name: str, xml: str) -> Path:
    path = directory / name
    path.write_text(xml, encoding="utf-8")
    return path


def record_live_fill(
    trail: OrderTrail,
    exec_id: str,
    *,
    order_id: int,
    shares: str = "100",
    price: str = "210.10",
    at: datetime = datetime(2025, 8, 5, 14, 15, tzinfo=UTC),
    commission: str | None = None,
) -> None:
    """An AAPL buy placed by ordertrail and filled, as the recorder records it live."""
    ref = f"OT-live-{order_id}"
    spec = OrderSpec(OrderAction.BUY, Decimal(shares), OrderType.MARKET, account=ACCOUNT)
    oid = trail.place(client_order_id=ref, contract=ContractRef(265598, "AAPL"), spec=spec)
    trail.submit(oid, client_id=1, order_id=order_id)
    x = Execution(
        exec_id=exec_id,
        time=at,
        account=ACCOUNT,
        exchange="ISLAND",
        side=Side.BOUGHT,
        shares=Decimal(shares),
        price=Decimal(price),
        client_id=1,
        order_id=order_id,
        order_ref=ref,
    )
    assert trail.record(FactKey(order_ref=ref, client_id=1, order_id=order_id), ExecutionReport(x))
    if commission is not None:
        report = CommissionReport(exec_id, Decimal(commission), "USD")
        trail.record(None, CommissionReported(report))
