"""Positions as of a time: on the recorded clock from the position history (and the snapshots
``compact`` writes), on IB's clock from the fill journal, which carries the position right
after each fill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import polars as pl

from ordertrail.projections import snapshots
from ordertrail.projections.records import BROKER_BOOK, DRY_RUN_BOOK
from ordertrail.projections.tables import DeltaTables

POSITION_KEYS = ["account", "con_id", "origin"]
IB_POSITION_COLUMNS = [*POSITION_KEYS, "symbol", "sec_type", "currency", "multiplier",
                       "quantity", "avg_cost", "fifo_cost", "realized_pnl", "realized_pnl_avg",
                       "commission", "fills", "last_fill_ib"]  # fmt: skip
Scan = Callable[[str], pl.LazyFrame]


def positions_recorded(tables: DeltaTables, scan: Scan, t: datetime) -> pl.LazyFrame:
    rows = snapshots.history_as_of(tables, t)
    if rows is None:
        rows = scan("position_history").filter(pl.col("ts_recorded") <= t)
    # The last row of each position, as the row holding its highest notification id:
    # several times faster than sorting the rows or a group-by taking the last of every
    # column (decimals).
    last = pl.col("notification_id") == pl.col("notification_id").max().over(POSITION_KEYS)
    return (
        rows.filter(last)
        .unique(POSITION_KEYS, keep="last", maintain_order=True)
        .drop("cause", "exec_id", "ts_event", "day")
        .rename({"ts_recorded": "updated_recorded"})
    )


def positions_ib(scan: Scan, t: datetime) -> pl.LazyFrame:
    # A fill's origin is its order's; its position's is the book (records.book_of).
    book = pl.when(pl.col("origin") == DRY_RUN_BOOK).then(pl.lit(DRY_RUN_BOOK))
    fills = (
        scan("fills")
        .filter(pl.col("ts_ib") <= t)
        .with_columns(book.otherwise(pl.lit(BROKER_BOOK)).alias("origin"))
    )
    # Each position's last fill by (IB time, execId), found on three narrow columns; its
    # row then gives the position right after it.
    last = fills.group_by(POSITION_KEYS).agg(
        pl.col("exec_base_id").sort_by("ts_ib", "exec_base_id").last()
    )
    after = fills.join(last, on=[*POSITION_KEYS, "exec_base_id"], how="semi").select(
        *POSITION_KEYS,
        "symbol",
        "sec_type",
        "currency",
        "multiplier",
        pl.col("position_quantity").alias("quantity"),
        pl.col("position_avg_cost").alias("avg_cost"),
        pl.col("position_fifo_cost").alias("fifo_cost"),
        pl.col("position_realized_pnl").alias("realized_pnl"),
        pl.col("position_realized_pnl_avg").alias("realized_pnl_avg"),
        pl.col("ts_ib").alias("last_fill_ib"),
    )
    in_ccy = pl.col("commission_currency").is_null() | (
        pl.col("commission_currency") == pl.col("currency")
    )
    totals = fills.group_by(POSITION_KEYS).agg(
        pl.col("commission").filter(in_ccy).sum().alias("commission"),
        pl.len().cast(pl.Int64).alias("fills"),
    )
    return after.join(totals, on=POSITION_KEYS).select(IB_POSITION_COLUMNS)
