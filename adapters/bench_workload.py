"""The projections benchmarks' workload: a mixed day of orders as a live session records them
(the placeOrder request and openOrder's identifiers, status reports, fills in parts, a
correction, commission reports, over 20 stocks, a future with a multiplier and three accounts),
stored straight into the event log. ``populate`` makes a store of N events; ``append_orders``
adds to one, as a session goes on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionReport,
    OpenOrderReport,
    OutboundRequest,
    RequestKind,
    StatusReport,
)
from ordertrail.domain.order import Order
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CONTRACTS = [ContractRef(100 + k, f"S{k:02d}") for k in range(20)] + [
    ContractRef(900, "ES", "FUT", exchange="CME", multiplier=Decimal(50))
]
ACCOUNTS = ("DU1", "DU2", "DU3")


def _order_events(i: int) -> list[Any]:
    """One order's life as a live session records it: placed without an account, submitted,
    the placeOrder seen leaving the client, openOrder binding the permId and the account IB
    placed it in, Submitted, two or three fills with commission reports, Filled; every tenth
    fill corrected; every fifth order a child of the one before in an OCA group. About 13
    events per order."""
    ts = T0 + timedelta(milliseconds=i)
    contract = CONTRACTS[i % len(CONTRACTS)]
    account = ACCOUNTS[i % len(ACCOUNTS)]
    action = OrderAction.BUY if (i // 3) % 2 == 0 else OrderAction.SELL
    price = Decimal(100 + i % 17) + Decimal(i % 100) / 100
    child = i % 5 == 4
    spec = OrderSpec(
        action,
        Decimal(100),
        OrderType.LIMIT,
        limit_price=price,
        reference_price=price - Decimal("0.02"),
        oca_group=f"G{i // 5}" if child else "",
        oca_type=1 if child else 0,
    )
    o = Order.place(
        client_order_id=f"OT-b{i}",
        contract=contract,
        spec=spec,
        ts_recorded=ts,
        parent_key=f"coid:OT-b{i - 1}" if child else None,
    )
    o.submit(client_id=1, order_id=i + 1, ts_recorded=ts)
    o.record(OutboundRequest(RequestKind.PLACE, 1, i + 1, spec), ts_recorded=ts)
    open_order = OpenOrderReport(
        replace(spec, account=account), perm_id=10_000_000 + i, client_id=1, order_id=i + 1
    )
    o.record(open_order, ts_recorded=ts)
    o.record(
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(100),
            perm_id=10_000_000 + i,
        ),
        ts_recorded=ts,
    )
    side = Side.BOUGHT if action is OrderAction.BUY else Side.SOLD
    sizes = (30, 30, 40) if i % 2 else (50, 50)
    for n, qty in enumerate(sizes):
        x = Execution(
            exec_id=f"0000{i:08x}.{n:04d}.01",
            time=ts + timedelta(microseconds=n),
            account=account,
            exchange="NASDAQ",
            side=side,
            shares=Decimal(qty),
            price=price - Decimal(n) / 100,
            perm_id=10_000_000 + i,
            client_id=1,
            order_id=i + 1,
            order_ref=f"OT-b{i}",
        )
        o.record(ExecutionReport(x), ts_recorded=ts)
        report = CommissionReport(x.exec_id, Decimal("0.35"), "USD")
        o.record(CommissionReported(report), ts_recorded=ts)
        if (i + n) % 10 == 0:
            fixed = Execution(**{**_fields(x), "exec_id": x.exec_id[:-2] + "02"})
            o.record(ExecutionReport(fixed), ts_recorded=ts)
    return list(o.collect_events())


def _fields(x: Execution) -> dict[str, Any]:
    return {name: getattr(x, name) for name in x.__slots__}


def populate(directory: Path, events: int) -> tuple[int, int]:
    """Store ``events`` events of the mixed workload; returns (events, orders)."""
    from ordertrail.adapters.bench import populate as store

    return store(directory, events, _order_events)


def append_orders(directory: Path, first_order: int, events: int) -> int:
    """Store ``events`` more events of the workload, orders numbered from ``first_order`` (the
    last order may be cut short, as a live session is); returns the next order number."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.trail import OrderTrail

    app = OrderTrail(StoreConfig.resolve(directory))
    batch: list[Any] = []
    i = first_order
    while len(batch) < events:
        batch.extend(_order_events(i)[: events - len(batch)])
        i += 1
    app.recorder.insert_events([app.mapper.to_stored_event(e) for e in batch])
    app.close()
    return i
