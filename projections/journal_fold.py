"""The fill journal folded into positions on IB's clock: each position after a stretch of
fills in IB time, and consecutive stretches combined into one (what the IB-clock as-of query
and its snapshots share)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ordertrail.projections.records import BROKER_BOOK, DRY_RUN_BOOK

POSITION_KEYS = ["account", "con_id", "origin"]
IB_POSITION_COLUMNS = [*POSITION_KEYS, "symbol", "sec_type", "currency", "multiplier",
                       "quantity", "avg_cost", "fifo_cost", "realized_pnl", "realized_pnl_avg",
                       "commission", "fills", "last_fill_ib"]  # fmt: skip


def fold_fills(fills: pl.LazyFrame, only: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Each position after the given fills (a stretch of the journal in IB time): the figures
    of its last fill by (IB time, execId), its commission in the contract's currency and its
    number of fills. ``only``: the positions (keys) to fold, the others left out."""
    # A fill's origin is its order's; its position's is the book (records.book_of).
    book = pl.when(pl.col("origin") == DRY_RUN_BOOK).then(pl.lit(DRY_RUN_BOOK))
    fills = fills.with_columns(book.otherwise(pl.lit(BROKER_BOOK)).alias("origin"))
    if only is not None:
        fills = fills.join(only, on=POSITION_KEYS, how="semi")
    # Each position's last fill found on three narrow columns; its row then gives the
    # position right after it.
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


def combine(parts: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """Positions folded over consecutive stretches of IB time, earliest first, as one fold
    over all of them: a position's figures are those of the last stretch it traded in, its
    commission and fill count the sums over every stretch."""
    tagged = pl.concat(
        [p.select(IB_POSITION_COLUMNS).with_columns(pl.lit(n).alias("_part"))
         for n, p in enumerate(parts)]
    )  # fmt: skip
    latest = pl.col("_part") == pl.col("_part").max().over(POSITION_KEYS)
    figures = tagged.filter(latest).drop("commission", "fills", "_part")
    totals = tagged.group_by(POSITION_KEYS).agg(
        pl.col("commission").sum(), pl.col("fills").sum().cast(pl.Int64)
    )
    return figures.join(totals, on=POSITION_KEYS).select(IB_POSITION_COLUMNS)
