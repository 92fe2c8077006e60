"""Positions as of a time: on the recorded clock from the position history (and the snapshots
``compact`` writes), on IB's clock from the fill journal, which carries the position right
after each fill (and the IB-clock snapshots, ``snapshots_ib.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import polars as pl

from ordertrail.projections import snapshots, snapshots_ib
from ordertrail.projections.journal_fold import POSITION_KEYS, combine, fold_fills
from ordertrail.projections.tables import DeltaTables

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


def positions_ib(tables: DeltaTables, scan: Scan, t: datetime) -> pl.LazyFrame:
    found = snapshots_ib.snapshot_as_of(tables, t)
    if found is None:
        return fold_fills(scan("fills").filter(pl.col("ts_ib") <= t))
    fills = found.fills.filter(pl.col("ts_ib") <= t)
    since = fold_fills(fills.filter(pl.col("ts_ib") >= found.cutoff))
    clean = combine([found.positions, since])
    if found.stale.is_empty():
        return clean
    # Positions a late fact changed before the cutoff since the snapshot was taken: folded
    # from their whole journal, as without a snapshot.
    keys = found.stale.lazy()
    redone = fold_fills(fills, only=keys)
    return pl.concat([clean.join(keys, on=POSITION_KEYS, how="anti"), redone])
