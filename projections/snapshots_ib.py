"""Positions as they stood at past midnights on IB's clock, so that "positions as of T, IB
clock" reads one snapshot and the fills executed since, not the whole fill journal.

The journal is not append-only on IB's clock: a late fill is slotted before later ones, a
correction or a bust rewrites the position after every later fill, a commission report changes
a fill's row. A snapshot at a cutoff C (a UTC midnight) holds, per (account, conId, book), the
position after its fills executed before C, folded from the journal as it stood at the
``fills`` table's position H (the last notification id its rows include). Every change of a
position appends a ``position_history`` row carrying its notification id, its cause and the
execId it concerns, so what changed since H is the history rows above H (append-only, in
notification order: file statistics skip every older file). Such a change leaves the snapshot
right for its position only when it is

* a fill executed at or after C (``ExecutionRecorded`` with IB's time ≥ C): the query reads
  those fills anyway; or
* the commission report of such a fill.

Any other change since H — a late fill executed before C, a correction, a bust, a commission
report for an older fill, a fill without IB's time — makes its position *stale*: the query
folds that position from its whole journal, and every other position from the snapshot and
the fills executed in [C, T]. Snapshots are written by ``compact`` into
``position_snapshots_ib`` beside the tables (partitioned by ``cutoff_day``; not visible to
SQL), and used only while ``fills`` and ``position_history`` are the tables they were taken
from (no rebuild since: ``tables.WRITTEN_ID``) with this code's columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable, Transaction

from ordertrail.projections import snapshots
from ordertrail.projections.journal_fold import (
    IB_POSITION_COLUMNS,
    POSITION_KEYS,
    combine,
    fold_fills,
)
from ordertrail.projections.schema import FILLS, POSITION_HISTORY, POSITIONS
from ordertrail.projections.snapshots import ROWS_BETWEEN, cutoffs, midnight
from ordertrail.projections.tables import APP_ID, WRITTEN_ID, DeltaTables

NAME = "position_snapshots_ib"
THROUGH_ID = "ordertrail.position_snapshots_ib.through"
FILLS_ID = "ordertrail.position_snapshots_ib.fills_written"
HISTORY_ID = "ordertrail.position_snapshots_ib.history_written"
# The positions' own column types, for the columns the IB-clock fold gives.
SCHEMA = pa.schema(
    [*(POSITIONS.schema.field(name) for name in IB_POSITION_COLUMNS), ("cutoff_day", pa.date32())]
)


def _snapshots(fills: pl.LazyFrame, days: list[date]) -> Iterator[pa.RecordBatch]:
    running: pl.DataFrame | None = None
    start: date | None = None
    for cutoff in days:
        stretch = fills.filter(pl.col("ts_ib") < midnight(cutoff))
        if start is not None:
            stretch = stretch.filter(pl.col("ts_ib") >= midnight(start))
        # One stretch of IB time at a time: memory holds one stretch and one snapshot.
        part = fold_fills(stretch)
        running = (part if running is None else combine([running.lazy(), part])).collect()
        start = cutoff
        yield from running.with_columns(pl.lit(cutoff).alias("cutoff_day")).to_arrow().to_batches()


def _written(dt: DeltaTable, name: str) -> int:
    return dt.transaction_version(WRITTEN_ID.format(name)) or 0


def _current(dt: DeltaTable, names: list[str]) -> bool:
    return bool(dt.schema().to_arrow().names == names)


def build(tables: DeltaTables, rows_between: int = ROWS_BETWEEN) -> dict[str, Any]:
    """Write the IB-clock snapshots for the fill journal as it is now (replacing any earlier
    ones)."""
    fills_dt = tables.table(FILLS.name)
    history_dt = tables.table(POSITION_HISTORY.name)
    if fills_dt is None or history_dt is None:
        return {}
    if not _current(fills_dt, FILLS.schema.names):
        return {}
    # The journal read at this version holds every change up to its position: a change the
    # history records later with a higher notification id is what the query checks.
    fills = pl.scan_delta(fills_dt)
    head = fills_dt.transaction_version(APP_ID.format(FILLS.name)) or 0
    days = cutoffs(fills.select(pl.col("ts_ib").dt.date().alias("day")), rows_between)
    batches = (b.cast(SCHEMA) for b in _snapshots(fills, days))
    marks = [
        Transaction(THROUGH_ID, head),
        Transaction(FILLS_ID, _written(fills_dt, FILLS.name)),
        Transaction(HISTORY_ID, _written(history_dt, POSITION_HISTORY.name)),
    ]
    return snapshots.write(tables, NAME, SCHEMA, batches, marks)


def vacuum(tables: DeltaTables, retention_hours: int, *, dry_run: bool) -> dict[str, int]:
    return snapshots.vacuum(tables, retention_hours, dry_run=dry_run, name=NAME)


def _usable(tables: DeltaTables) -> tuple[DeltaTable, DeltaTable, DeltaTable, int] | None:
    snaps = tables.table(NAME)
    fills = tables.table(FILLS.name)
    history = tables.table(POSITION_HISTORY.name)
    if snaps is None or fills is None or history is None:
        return None
    through = snaps.transaction_version(THROUGH_ID)
    if (
        through is None
        or snaps.transaction_version(FILLS_ID) != _written(fills, FILLS.name)
        or snaps.transaction_version(HISTORY_ID) != _written(history, POSITION_HISTORY.name)
        or not _current(fills, FILLS.schema.names)
        or not _current(history, POSITION_HISTORY.schema.names)
    ):
        return None
    return snaps, fills, history, through


# ``domain.values.exec_base_id``: everything before the execId's last dot names the fill.
_BASE_ID = pl.col("exec_id").str.replace(r"\.[^.]*$", "")


def stale_positions(history: pl.LazyFrame, through: int, cutoff: datetime) -> pl.DataFrame:
    """The positions whose fills executed before ``cutoff`` changed after notification id
    ``through`` (the module's docstring says which changes leave a snapshot right)."""
    changes = (
        history.filter(pl.col("notification_id") > through)
        .select(*POSITION_KEYS, "cause", "ts_event", _BASE_ID.alias("base"))
        .collect()
    )
    executed_since = (pl.col("cause") == "ExecutionRecorded") & (pl.col("ts_event") >= cutoff)
    new_fills = changes.filter(executed_since.fill_null(False))["base"]
    their_commissions = (pl.col("cause") == "CommissionReported") & pl.col("base").is_in(
        new_fills.implode()
    )
    harmless = executed_since.fill_null(False) | their_commissions
    return changes.filter(~harmless).select(POSITION_KEYS).unique(maintain_order=True)


@dataclass(frozen=True, slots=True)
class IbSnapshot:
    """What positions as of a time on IB's clock read: the snapshot at ``cutoff``, the fill
    journal (the table the snapshot was checked against) and the positions it holds wrong."""

    positions: pl.LazyFrame
    cutoff: datetime
    stale: pl.DataFrame
    fills: pl.LazyFrame


def snapshot_as_of(tables: DeltaTables, t: datetime) -> IbSnapshot | None:
    """The latest snapshot at or before ``t`` (IB clock); None when no snapshot can be used."""
    usable = _usable(tables)
    if usable is None:
        return None
    snaps, fills, history, through = usable
    # The cutoffs are the partitions: read from the Delta log, no data file opened.
    days = [date.fromisoformat(p["cutoff_day"]) for p in snaps.partitions()]
    day = max((d for d in days if midnight(d) <= t), default=None)
    if day is None:
        return None
    cutoff = midnight(day)
    return IbSnapshot(
        positions=pl.scan_delta(snaps).filter(pl.col("cutoff_day") == day).drop("cutoff_day"),
        cutoff=cutoff,
        stale=stale_positions(pl.scan_delta(history), through, cutoff),
        fills=pl.scan_delta(fills),
    )
