"""The rebuild's orders pass over decoded chunks (docs/adr/0105-orders-pass-from-columns.md):
each chunk's orders the columns reproduce exactly go through ``columnar_*`` a chunk at a
time; the others (``columnar_frame.split``) through the update's own fold (``OrderPass``),
decoded by the Python decoder, one order at a time, as before. Both hand their rows to the
same spill files and their operations and fill rows to the same ``PositionInputs``.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any
from uuid import UUID

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.adapters.store.columnar_schema import KNOWN
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.projections.columnar_brackets import GROUPED
from ordertrail.projections.columnar_events import events_table
from ordertrail.projections.columnar_fills import fill_tables
from ordertrail.projections.columnar_frame import Frames, split
from ordertrail.projections.columnar_orders import (
    OrderColumns,
    order_columns,
    orders_table,
)
from ordertrail.projections.columnar_values import decimals
from ordertrail.projections.member_spill import MEMBERS
from ordertrail.projections.rebuild import OrderPass, fold_orders


def take_chunk(fold: OrderPass, chunk: Any, log: EventLog, head: int, columns: bool) -> int:
    """One chunk's orders into ``fold``'s spill files and position inputs (``columns`` False:
    every order through the fold); the events read."""
    parts = split(chunk, force_fold=not columns)
    if parts.frames is not None:
        _columnar(fold, parts.frames)
    if parts.fallback:
        rows = _stored_rows(chunk.log, parts.fallback, log, head)
        # Each order's rows together, in version order, as the fold takes them.
        fold_orders(fold, sorted(rows, key=itemgetter(1, 2)))
    return int(chunk.log.num_rows)


def _stored_rows(rows: pa.Table, ids: list[str], log: EventLog, head: int) -> list[tuple[Any, ...]]:
    """The stored rows of these orders, as the log gives them: from the chunk, which holds
    every row of its orders, when each row's topic is one the decoder knows by its class name;
    else read again from the log."""
    mine = rows.filter(pc.is_in(rows.column("order_id"), pa.array(ids, pa.string())))
    names = mine.column("event_type").to_pylist()
    if not set(names) <= _TOPICS.keys():
        return log.orders_rows([UUID(i) for i in ids], head)
    return list(
        zip(
            mine.column("nid").to_pylist(),
            mine.column("order_id").to_pylist(),
            mine.column("version").to_pylist(),
            [_TOPICS[n] for n in names],
            mine.column("payload").to_pylist(),
            strict=True,
        )
    )


# The stored topic of each event class the decoder knows, by class name.
_TOPICS = {schema.event_type: topic for topic, schema in KNOWN.items()}


def _columnar(fold: OrderPass, frames: Frames) -> None:
    cols = order_columns(frames)
    fold.events_out.write_table(events_table(frames, cols.keys))
    fold.orders_out.write_table(orders_table(frames, cols))
    if frames.fills.height:  # a report of no fill waits for it: no row, no operation
        fills, ops = fill_tables(frames, cols)
        fold.position_inputs.add_fill_rows(fills)
        fold.position_inputs.add_ops(ops)
    _members(fold, frames, cols)


def _members(fold: OrderPass, frames: Frames, cols: OrderColumns) -> None:
    """Each order as its brackets and OCA groups see it: kept while the pass runs when it is
    in a group, else in the members' spill (a parent in no group is looked up there)."""
    first = cols.first
    parent = pl.col("parent_key").fill_null("")
    oca = pl.col("spec.oca_group").fill_null("")
    picked = cols.created.select(
        ((parent != "") | (oca != "")).alias("grouped"),
        pl.col("order_key"),
        cols.final_status.alias("status"),
        pl.col("spec.quantity").alias("quantity"),
        pl.col("spec.oca_type").alias("oca_type"),
        first.get_column("ts_ib").alias("first_fill"),
        first.get_column("nid").alias("first_fill_nid"),
    )
    grouped = picked.get_column("grouped").to_numpy()
    taken = picked.to_arrow()
    filled_text = decimals(cols.filled).cast(pa.string())
    table = pa.Table.from_arrays(
        [
            filled_text if f.name == "filled" else taken.column(f.name).cast(f.type)
            for f in MEMBERS.schema
        ],
        schema=MEMBERS.schema,
    )
    if not grouped.all():
        fold.others.out.write_table(table.filter(pa.array(~grouped)))
    if grouped.any():
        _grouped(fold, frames, table.filter(pa.array(grouped)), grouped, cols)


def _grouped(
    fold: OrderPass, frames: Frames, members: pa.Table, grouped: np.ndarray, cols: OrderColumns
) -> None:
    """The grouped orders' members, with their creations and groups, as the fold keeps them
    (the OCA group's key is the creation's account and group, as ``Projection._oca_key``
    writes it)."""
    keys = (
        cols.created.select(
            frames.log.get_column("nid").gather(cols.starts).alias("created_nid"),
            pl.col("parent_key").fill_null(""),
            pl.when(pl.col("spec.oca_group").fill_null("") != "")
            .then(pl.concat_str(pl.col("spec.account").fill_null("None"), pl.lit("/"),
                                pl.col("spec.oca_group")))
            .otherwise(pl.lit("")).alias("oca_key"),
        )
        .filter(pl.Series(grouped))
        .to_arrow()
    )  # fmt: skip
    extra = [keys.column(f.name).cast(f.type) for f in list(GROUPED)[-3:]]
    fold.grouped.add_table(pa.Table.from_arrays([*members.columns, *extra], schema=GROUPED))
