"""The rebuild's ``events`` rows gathered as columns (docs/adr/0090-orders-pass-in-columns.md).

``EventColumns`` keeps one list per column while the orders pass runs, never a tuple per
event (a tuple per event, then ``zip(*rows)`` to turn them into columns: ``zip`` alone took
0.9 µs an event): the day is the UTC date of the recorded time, cast in Arrow, and the
stored JSON goes in as the bytes the store holds (one checked cast to text per chunk).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections import spill, table_files
from ordertrail.projections.handoff import HandOff
from ordertrail.projections.schema import DEC, EVENTS, decimal_array
from ordertrail.projections.sorted_spill import RangeFiles
from ordertrail.projections.spill import SpillFolder

_STRING = pa.string()
_DAY = pa.date32()


# The events table's columns in schema order; ``day`` is derived from ``ts_recorded``.
_COLUMNS = tuple(n for n in EVENTS.schema.names if n != "day")


class EventColumns(RangeFiles):
    """The ``events`` table's rows, those the fold makes gathered as one list per column: each
    table of rows handed to the thread writing the table's files (``handed``) while every day
    it holds fits in the files that thread keeps open, else by range of notification ids
    (``RangeFiles``), read back once the pass ends."""

    def __init__(self, folder: SpillFolder, handed: HandOff | None = None) -> None:
        super().__init__(folder, EVENTS)
        self.handed = handed
        self.days: set[int] = set()  # the days of the rows handed so far
        self.columns: dict[str, list[Any]] = {n: [] for n in _COLUMNS}
        (
            self.notification_id,
            self.order_id,
            self.order_key,
            self.version,
            self.event_type,
            self.ts_event,
            self.ts_recorded,
            self.status,
            self.filled,
            self.summary,
            self.payload_bytes,
        ) = self.columns.values()

    def full(self) -> bool:
        return len(self.notification_id) >= spill.CHUNK_ROWS

    def flush(self) -> None:
        if not self.notification_id:
            return
        table = self._table()
        for values in self.columns.values():
            values.clear()
        self._split(table)

    def _split(self, table: pa.Table) -> None:
        if self.handed is None or not self._fits(table):
            super()._split(table)
            return
        self.count += table.num_rows
        self.handed.put(table)

    def _fits(self, table: pa.Table) -> bool:
        """Whether the table's days and those handed before fit in the writer's open files (a
        file per day: more would close files early and leave many small ones)."""
        days = self.days.union(pc.unique(table.column("day").cast(pa.int32())).to_pylist())
        if len(days) > table_files.OPEN_FILES:
            return False
        self.days = days
        return True

    def _table(self) -> pa.Table:
        arrays: list[pa.Array] = []
        for field in EVENTS.schema:
            name = field.name
            if name == "day":
                arrays.append(arrays[-1].cast(_DAY))  # ts_recorded's UTC date
            elif name == "payload":
                # The stored bytes, checked as UTF-8 by the cast.
                arrays.append(pa.array(self.payload_bytes, pa.binary()).cast(_STRING))
            elif field.type == DEC:
                arrays.append(decimal_array(self.columns[name]))
            else:
                arrays.append(pa.array(self.columns[name], field.type))
        return pa.Table.from_arrays(arrays, schema=EVENTS.schema)


__all__ = ["EventColumns"]
