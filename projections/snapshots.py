"""Positions as they stood at past midnights (recorded clock), so that "positions as of T"
reads one snapshot and the history since it, not the whole history (ADR 0066).

``position_history`` only grows (append-only, rows in notification order), and on the recorded
clock the past never changes: a row recorded by T stays the last one of its position recorded
by T unless a later notification is recorded by T as well (a replayed tape's old times). So a
snapshot at a cutoff C (a UTC midnight) holds, per (account, conId, origin), the history row
with the highest notification id among those recorded before C, taken from the table when its
head was H.
Positions as of T, for the latest snapshot whose cutoff C ≤ T, are the last row per position of:

* the snapshot at C;
* the history rows recorded in [C, T] (only the ``day`` partitions from C's on are read);
* the history rows with a notification id above H recorded before C (appended since the
  snapshot was built with an old recorded time; file statistics skip every older file).

Snapshots are derived data, written by ``compact`` into ``position_snapshots`` beside the
tables (partitioned by ``cutoff_day``; not a projection table, not visible to SQL). They are
used only while the history is the one they were built from: the same rows up to H, which a
rebuild's overwrite of the history (marked in its commit, ``tables.WRITTEN_ID``) or new columns
would break; otherwise the query reads the history alone, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from ordertrail.projections.schema import POSITION_HISTORY
from ordertrail.projections.tables import TABLE_PROPERTIES, WRITTEN_ID, DeltaTables

NAME = "position_snapshots"
THROUGH_ID = "ordertrail.position_snapshots.through"
HISTORY_ID = "ordertrail.position_snapshots.history_written"
# A new snapshot once this many history rows were recorded since the previous one: a query
# then reads at most about this many history rows besides one snapshot.
ROWS_BETWEEN = 200_000
KEYS = ("account", "con_id", "origin")


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def cutoffs(frame: pl.LazyFrame, rows_between: int) -> list[date]:
    """Days whose midnight starts a snapshot: each after ``rows_between`` more rows (``frame``
    has the column ``day``)."""
    per_day = frame.group_by("day").agg(pl.len().alias("rows")).sort("day").collect()
    out: list[date] = []
    rows = 0
    for day, n in per_day.iter_rows():
        if rows >= rows_between:
            out.append(day)
            rows = 0
        rows += n
    return out


def _last_per_position(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("notification_id").group_by(KEYS, maintain_order=True).last()


def _snapshots(history: pl.LazyFrame, cutoffs: list[date]) -> Iterator[pa.RecordBatch]:
    running: pl.DataFrame | None = None
    start: date | None = None
    for cutoff in cutoffs:
        cut = history.filter(pl.col("day") < cutoff)
        if start is not None:
            cut = cut.filter(pl.col("day") >= start)
        # ``day`` is the recorded date: the rows recorded before this midnight, one stretch at
        # a time, so memory holds one stretch and one snapshot.
        rows = cut.collect()
        running = _last_per_position(rows if running is None else pl.concat([running, rows]))
        start = cutoff
        yield from running.with_columns(pl.lit(cutoff).alias("cutoff_day")).to_arrow().to_batches()


def build(tables: DeltaTables, rows_between: int = ROWS_BETWEEN) -> dict[str, Any]:
    """Write the snapshots for the history as it is now (replacing any earlier ones)."""
    dt = tables.table(POSITION_HISTORY.name)
    if dt is None:
        return {}
    history = pl.scan_delta(dt)
    head = history.select(pl.col("notification_id").max()).collect().item()
    days = cutoffs(history, rows_between)
    written = dt.transaction_version(WRITTEN_ID.format(POSITION_HISTORY.name)) or 0
    schema = pa.schema([*POSITION_HISTORY.schema, ("cutoff_day", pa.date32())])
    if dt.schema().to_arrow().names != POSITION_HISTORY.schema.names:
        return {}
    batches = (b.cast(schema) for b in _snapshots(history, days))
    marks = [Transaction(THROUGH_ID, head or 0), Transaction(HISTORY_ID, written)]
    return write(tables, NAME, schema, batches, marks)


def write(
    tables: DeltaTables,
    name: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    marks: list[Transaction],
) -> dict[str, Any]:
    """Replace the snapshots table ``name`` (partitioned by ``cutoff_day``) in one commit
    carrying ``marks``."""
    write_deltalake(
        tables.uri(name),
        pa.RecordBatchReader.from_batches(schema, batches),
        mode="overwrite",
        schema_mode="overwrite",
        partition_by=["cutoff_day"],
        storage_options=tables.storage_options,
        configuration=TABLE_PROPERTIES,
        commit_properties=CommitProperties(app_transactions=marks),
    )
    return {"files_added": len(tables.table(name).file_uris()), "files_removed": None}  # type: ignore[union-attr]


def vacuum(
    tables: DeltaTables, retention_hours: int, *, dry_run: bool, name: str = NAME
) -> dict[str, int]:
    dt = tables.table(name)
    if dt is None:
        return {}
    removed = dt.vacuum(
        retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False
    )
    return {name: len(removed)}


def _usable(tables: DeltaTables, history: DeltaTable) -> tuple[DeltaTable, int] | None:
    snaps = tables.table(NAME)
    if snaps is None:
        return None
    written = history.transaction_version(WRITTEN_ID.format(POSITION_HISTORY.name)) or 0
    through = snaps.transaction_version(THROUGH_ID)
    if through is None or snaps.transaction_version(HISTORY_ID) != written:
        return None
    if snaps.schema().to_arrow().names[:-1] != history.schema().to_arrow().names:
        return None
    return snaps, through


def history_as_of(tables: DeltaTables, t: datetime) -> pl.LazyFrame | None:
    """The history rows whose last per position is the position as of ``t`` (recorded
    clock): a snapshot and what was recorded since; None when no snapshot can be used."""
    history = tables.table(POSITION_HISTORY.name)
    if history is None:
        return None
    usable = _usable(tables, history)
    if usable is None:
        return None
    snaps, through = usable
    # The cutoffs are the partitions: read from the Delta log, no data file opened.
    cutoffs = [date.fromisoformat(p["cutoff_day"]) for p in snaps.partitions()]
    days = max((d for d in cutoffs if d <= t.date()), default=None)
    if days is None:
        return None
    rows = pl.scan_delta(history)
    since = rows.filter((pl.col("day") >= days) & (pl.col("ts_recorded") <= t))
    late = rows.filter(
        (pl.col("notification_id") > through) & (pl.col("ts_recorded") < midnight(days))
    )
    snapshot = pl.scan_delta(snaps).filter(pl.col("cutoff_day") == days).drop("cutoff_day")
    return pl.concat([snapshot, since, late])
