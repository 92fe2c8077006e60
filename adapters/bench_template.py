"""The query benchmark's template: a few dozen real orders (1–8 fills each, a status after
every fill, commission reports, corrections) stored in a real event store and projected by the
real rebuild. ``bench_queries`` repeats their rows to any size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from ordertrail.domain.facts import CommissionReported, ExecutionReport, StatusReport
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

# Fills of the template's orders: 48 orders, 200 fills a cycle.
FILLS_PER_ORDER = (1, 4, 2, 7, 3, 5, 8, 2, 6, 4, 3, 5) * 4
CYCLE_FILLS = sum(FILLS_PER_ORDER)
_T0 = datetime(2024, 6, 3, 14, 30, tzinfo=UTC)
# The template's client order ids, as they appear in its payloads and summaries.
TEMPLATE_COID = r"OT-t\d{3}"


def _coid(j: int) -> str:
    return f"OT-t{j:03d}"


def _template_order(j: int) -> list[Any]:
    """Template order ``j``: placed, submitted, Submitted, then each fill with its commission
    report and a status, every seventh fill corrected; Filled after the last."""
    start = _T0 + timedelta(minutes=j)
    action = OrderAction.BUY if j % 3 else OrderAction.SELL
    side = Side.BOUGHT if action is OrderAction.BUY else Side.SOLD
    sizes = [100] * FILLS_PER_ORDER[j]
    total = Decimal(sum(sizes))
    price = Decimal(50 + j) + Decimal(j % 100) / 100
    spec = OrderSpec(
        action, total, OrderType.LIMIT, limit_price=price, account="DU0000000",
        reference_price=price - Decimal("0.02"),
    )  # fmt: skip
    o = Order.place(
        client_order_id=_coid(j),
        contract=ContractRef(1000, "TMPL"),
        spec=spec,
        ts_recorded=start,
    )
    o.submit(client_id=7, order_id=j + 1, ts_recorded=start + timedelta(milliseconds=1))
    perm = 900_000_000 + j
    report = StatusReport(raw_status="Submitted", filled=Decimal(0), remaining=total, perm_id=perm)
    o.record(report, ts_recorded=start + timedelta(milliseconds=40))
    filled = Decimal(0)
    for n, qty in enumerate(sizes):
        at = start + timedelta(seconds=n + 1, milliseconds=j)
        x = Execution(
            exec_id=f"0000t{j:03d}.{n:08x}.01.01", time=at, account="DU0000000",
            exchange="ISLAND", side=side, shares=Decimal(qty), price=price - Decimal(n) / 100,
            perm_id=perm, client_id=7, order_id=j + 1, order_ref=_coid(j),
        )  # fmt: skip
        o.record(ExecutionReport(x), ts_recorded=at + timedelta(milliseconds=3))
        fee = CommissionReport(x.exec_id, Decimal("0.35"), "USD")
        o.record(CommissionReported(fee), ts_recorded=at + timedelta(milliseconds=9))
        if (j + n) % 7 == 3:
            fixed = Execution(**{**_fields(x), "exec_id": x.exec_id[:-2] + "02"})
            o.record(ExecutionReport(fixed), ts_recorded=at + timedelta(milliseconds=15))
        filled += qty
        status = "Filled" if filled == total else "Submitted"
        o.record(
            StatusReport(raw_status=status, filled=filled, remaining=total - filled,
                         avg_fill_price=price, perm_id=perm),
            ts_recorded=at + timedelta(milliseconds=20),
        )  # fmt: skip
    return list(o.collect_events())


def _fields(x: Execution) -> dict[str, Any]:
    return {name: getattr(x, name) for name in x.__slots__}


@dataclass(frozen=True, slots=True)
class Template:
    """The real tables of one cycle of template orders, with each row's template order ``_j``
    and its rows' times relative to that order's creation (``_start``)."""

    events: pl.DataFrame
    orders: pl.DataFrame
    fills: pl.DataFrame
    history: pl.DataFrame
    positions: pl.DataFrame
    head: int

    @property
    def cycle_events(self) -> int:
        return self.head


def template(directory: Path) -> Template:
    """Store the template orders in a real event store and project them with the real rebuild."""
    from ordertrail.adapters.bench import populate
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.projections.api import Audit

    orders = [_template_order(j) for j in range(len(FILLS_PER_ORDER))]
    total = sum(len(evs) for evs in orders)
    populate(directory, total, lambda j: orders[j])
    audit = Audit(StoreConfig.resolve(directory), root=directory / "template", refresh=False)
    audit.rebuild()
    frames = {t: audit.scan(t).collect() for t in ("events", "orders", "fills", "position_history",
                                                   "positions")}  # fmt: skip
    audit.close()
    starts = frames["orders"].select(
        pl.col("order_id"),
        pl.col("client_order_id").str.slice(4).cast(pl.Int64).alias("_j"),
        pl.col("created_recorded").alias("_start"),
    )
    fills = frames["fills"].join(starts, on="order_id").sort("_j", "exec_base_id")
    fills = fills.with_columns(pl.int_range(pl.len()).alias("_rank"))
    ranks = fills.select("exec_base_id", "_rank", "_j", "_start")
    history = (
        frames["position_history"]
        .with_columns(pl.col("exec_id").str.replace(r"\.\d+$", "").alias("exec_base_id"))
        .join(ranks, on="exec_base_id")
        .sort("notification_id")
    )
    head = int(frames["events"]["notification_id"].max())  # type: ignore[arg-type]
    if fills.height != CYCLE_FILLS or head != total:
        raise RuntimeError(f"template projected {fills.height} fills of {head} events")
    return Template(
        events=frames["events"].join(starts, on="order_id").sort("notification_id"),
        orders=frames["orders"].join(starts, on="order_id").sort("_j"),
        fills=fills,
        history=history,
        positions=frames["positions"],
        head=head,
    )
