"""What the session report shows, read from the audit API's public frames (never the event
store behind it): the orders of the window, their events, their fills, and the figures each
section derives from them.

Two clocks, chosen per question: an order's life and its latencies are on the *recorded*
clock (ours, one clock for every step, so a latency is never a difference between two
machines' clocks); fills, PnL and commissions are on IB's execution time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from ordertrail.projections.api import Audit
from ordertrail.projections.filters import Filters
from ordertrail.projections.views import PROBLEM_EVENTS

# What IB says about an order: the first of these after our submission acknowledges it.
IB_FACTS = (
    "IdentifiersBound",
    "StatusReported",
    "ExecutionRecorded",
    "ExecutionCorrected",
    "ErrorReported",
)


@dataclass(frozen=True, slots=True)
class ReportData:
    filters: Filters
    source: str
    orders: pl.DataFrame
    events: pl.DataFrame
    fills: pl.DataFrame
    flex_events: int

    @property
    def accounts(self) -> list[str]:
        return sorted({a or "" for a in self.orders["account"].to_list()})

    def for_account(self, account: str) -> ReportData:
        """The same report cut to one account ("" for orders IB has not given one yet)."""
        mine = self.orders.filter(pl.col("account").fill_null("") == account)
        keys = mine["order_key"].implode()
        return ReportData(
            self.filters,
            self.source,
            mine,
            self.events.filter(pl.col("order_key").is_in(keys)),
            self.fills.filter(pl.col("order_key").is_in(keys)),
            self.flex_events,
        )


def collect(audit: Audit, filters: Filters, source: str = "") -> ReportData:
    """The orders that had an event in the window (and pass the other filters), with their
    events in the window and their fills executed in it."""
    audit.refresh()
    orders = filters.match(audit.scan("orders"))
    events = filters.window(audit.scan("events"), "ts_recorded").join(
        orders.select("order_id"), on="order_id", how="semi"
    )
    orders = orders.join(events.select("order_id"), on="order_id", how="semi")
    fills = filters.window(audit.scan("fills"), "ts_ib").join(
        orders.select("order_id"), on="order_id", how="semi"
    )
    ev = events.sort("notification_id").collect()
    flex = ev.filter(pl.col("payload").str.contains('"flex_file"', literal=True)).height
    return ReportData(
        filters,
        source,
        _ordered(orders.collect()),
        ev.drop("payload"),
        fills.sort("ts_ib", "exec_base_id").collect(),
        flex,
    )


def _ordered(orders: pl.DataFrame) -> pl.DataFrame:
    """Orders in time order, a bracket's or OCA group's members next to each other (under the
    first member's time), with a short label a person can read on a chart's axis."""
    group = pl.coalesce(
        pl.col("parent_key"),
        pl.when(pl.col("oca_group").is_not_null())
        .then(pl.concat_str(pl.col("account"), pl.lit("/"), pl.col("oca_group")))
        .otherwise(None),
    )
    brackets = orders.filter(pl.col("parent_key").is_not_null()).select("parent_key").unique()
    return (
        orders.with_columns(
            pl.when(pl.col("order_key").is_in(brackets["parent_key"].implode()))
            .then(pl.col("order_key"))
            .otherwise(group)
            .alias("group"),
        )
        .with_columns(
            pl.col("created_recorded").min().over(pl.coalesce("group", "order_key")).alias("_t0"),
            pl.coalesce(
                "client_order_id", "order_ref", pl.col("perm_id").cast(pl.String), "order_key"
            ).alias("label"),
        )
        .sort("_t0", "group", "created_recorded", "order_key", nulls_last=True)
        .drop("_t0")
        .with_columns(anchor_expr().alias("anchor"))
    )


def anchor_expr() -> pl.Expr:
    """The id of an order's section on the page: its key, made safe for a URL fragment."""
    return pl.lit("order-") + pl.col("order_key").str.replace_all(r"[^A-Za-z0-9_.-]", "_")


def local(frame: pl.DataFrame, tz: str, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).dt.convert_time_zone(tz) for c in columns)


def pnl_curve(data: ReportData) -> pl.DataFrame:
    """Cumulative FIFO realized PnL and commissions after each fill, per account and
    currency (money in two currencies is never added up)."""
    f = data.fills.with_columns(
        pl.col("realized_pnl").fill_null(0).cast(pl.Float64).alias("pnl"),
        pl.col("commission").fill_null(0).cast(pl.Float64).alias("fee"),
        pl.coalesce("commission_currency", "currency").alias("ccy"),
    )
    return local(
        f.with_columns(
            pl.col("pnl").cum_sum().over("account", "ccy").alias("cum_pnl"),
            pl.col("fee").cum_sum().over("account", "ccy").alias("cum_commission"),
        ).select("ts_ib", "account", "ccy", "symbol", "exec_id", "cum_pnl", "cum_commission"),
        data.filters.tz,
        "ts_ib",
    )


def lifelines(data: ReportData) -> pl.DataFrame:
    """Each order's statuses as segments on the recorded clock: from the event that set a
    status to the next event that changed it (or to the last event of the report for a
    status still in force)."""
    e = data.events.filter(pl.col("status").is_not_null()).sort("notification_id")
    if e.is_empty():
        return pl.DataFrame(
            schema={"order_key": pl.String, "status": pl.String,
                    "start": pl.Datetime("us", data.filters.tz),
                    "end": pl.Datetime("us", data.filters.tz)}
        )  # fmt: skip
    last = e["ts_recorded"].max()
    runs = (
        e.with_columns(
            (pl.col("status") != pl.col("status").shift(1).over("order_key"))
            .fill_null(True)
            .cum_sum()
            .over("order_key")
            .alias("run")
        )
        .group_by("order_key", "run", maintain_order=True)
        .agg(pl.col("status").first(), pl.col("ts_recorded").first().alias("start"))
        .with_columns(pl.col("start").shift(-1).over("order_key").fill_null(last).alias("end"))
    )
    return local(runs.drop("run"), data.filters.tz, "start", "end")


def latencies(data: ReportData) -> pl.DataFrame:
    """Per submitted order: milliseconds from our submission to IB's first word about it
    (acknowledgement) and to its first execution, on the recorded clock."""
    e = data.events
    sub = (
        e.filter(pl.col("event_type") == "SubmissionRequested")
        .group_by("order_key")
        .agg(pl.col("ts_recorded").min().alias("submitted"))
    )
    after = e.join(sub, on="order_key").filter(pl.col("ts_recorded") >= pl.col("submitted"))
    ack = (
        after.filter(pl.col("event_type").is_in(IB_FACTS))
        .group_by("order_key")
        .agg(pl.col("ts_recorded").min().alias("acknowledged"))
    )
    fill = (
        after.filter(pl.col("event_type") == "ExecutionRecorded")
        .group_by("order_key")
        .agg(pl.col("ts_recorded").min().alias("first_fill"))
    )
    ms = 1000.0
    return (
        data.orders.select("order_key", "label", "symbol", "anchor")
        .join(sub, on="order_key")
        .join(ack, on="order_key", how="left")
        .join(fill, on="order_key", how="left")
        .with_columns(
            ((pl.col("acknowledged") - pl.col("submitted")).dt.total_microseconds() / ms).alias(
                "ack_ms"
            ),
            ((pl.col("first_fill") - pl.col("submitted")).dt.total_microseconds() / ms).alias(
                "first_fill_ms"
            ),
        )
        .sort("submitted")
    )


def outcomes(data: ReportData) -> pl.DataFrame:
    """Per account and symbol: orders, how much of what was ordered filled, shares, FIFO
    realized PnL, commission, and slippage as money (per-share slippage × shares ×
    multiplier; positive is a cost)."""
    orders = data.orders.group_by("account", "symbol").agg(
        pl.len().alias("orders"),
        (pl.col("filled") > 0).sum().alias("orders_filled"),
        pl.col("quantity").sum().alias("ordered"),
        pl.col("filled").sum().alias("filled"),
    )
    mult = pl.col("multiplier").fill_null(1)
    fills = data.fills.group_by("account", "symbol").agg(
        pl.col("quantity").sum().alias("shares"),
        pl.col("realized_pnl").sum().alias("realized_pnl"),
        pl.col("commission").sum().alias("commission"),
        (pl.col("slippage_vs_limit") * pl.col("quantity") * mult).sum().alias("slippage_limit"),
        (pl.col("slippage_vs_reference") * pl.col("quantity") * mult)
        .sum()
        .alias("slippage_reference"),
    )
    return (
        orders.join(fills, on=["account", "symbol"], how="left")
        .with_columns(
            pl.when(pl.col("ordered") > 0)
            .then(pl.col("filled").cast(pl.Float64) / pl.col("ordered").cast(pl.Float64))
            .alias("fill_rate")
        )
        .sort("account", "symbol")
    )


def problems(data: ReportData) -> pl.DataFrame:
    """Every IB error, anomaly and refusal in the window, with its order's anchor."""
    return local(
        data.events.filter(pl.col("event_type").is_in(PROBLEM_EVENTS))
        .join(
            data.orders.select("order_key", "label", "account", "symbol", "anchor"), on="order_key"
        )
        .select("ts_recorded", "account", "symbol", "label", "anchor", "event_type", "summary"),
        data.filters.tz,
        "ts_recorded",
    )


def window_text(data: ReportData) -> str:
    """The window as the reader's local times; an open end shows the first or last event."""
    f = data.filters
    zi = ZoneInfo(f.tz)
    times = data.events["ts_recorded"]
    lo = f.since or (times.min() if len(times) else None)
    hi = f.until or (times.max() if len(times) else None)

    def show(t: object) -> str:
        if not isinstance(t, datetime):
            return "…"
        return t.astimezone(zi).isoformat(sep=" ", timespec="seconds")

    return f"{show(lo)} → {show(hi)}"
