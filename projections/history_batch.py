"""A streamed position's ``position_history`` rows, a batch at a time, as Arrow columns made
without converting what repeats (docs/adr/0094-streamed-positions.md).

A position's history row repeats most of what it holds: the columns that name the position are
the same on every row, and the position's figures (quantity, costs, realized PnL, fills, last
fill time) change only on a fill, not on a commission report, which is about every other
operation. Each distinct value is converted once and Arrow repeats it (``take``); only what
each operation brings (commission, notification id, cause, execId, times) is converted row by
row. Converting every column of every row cost about as much as folding the position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.position_run import ZERO
from ordertrail.projections.records import Row
from ordertrail.projections.schema import POSITION_HISTORY, arrow_table

# The position's figures after a fill, as the history rows carry them: quantity, average cost,
# FIFO cost, realized PnL (FIFO, average cost), fills, last fill's IB time.
State = tuple[Decimal, Decimal | None, Decimal | None, Decimal, Decimal, int, datetime | None]
EMPTY = (ZERO, None, None, ZERO, ZERO)

_NAMES = POSITION_HISTORY.schema.names
_KEY = pa.schema([POSITION_HISTORY.schema.field(n) for n in _NAMES[:7]])
_STATE_NAMES = [*_NAMES[7:12], "fills", "last_fill_ib"]
_STATE = pa.schema([POSITION_HISTORY.schema.field(n) for n in _STATE_NAMES])
_REST_NAMES = ["commission", "foreign_commissions", *_NAMES[16:]]
_REST = pa.schema([POSITION_HISTORY.schema.field(n) for n in _REST_NAMES])


@dataclass(slots=True)
class HistoryBatch:
    """History rows of one position: ``states[at[i]]`` is row i's state, ``rest[i]`` its
    commission, foreign commissions, notification id, cause, execId, times and day."""

    key_columns: Row
    first: State  # the state before the batch's first operation
    states: list[State] = field(default_factory=list)
    at: list[int] = field(default_factory=list)
    rest: list[Row] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states.append(self.first)

    def rows(self) -> list[Row]:
        """The rows as tuples in the table's column order."""
        states, key = self.states, self.key_columns
        return [
            (*key, *states[i][:5], *r[:2], *states[i][5:], *r[2:])
            for i, r in zip(self.at, self.rest, strict=True)
        ]

    def table(self) -> pa.Table | None:
        """The rows as an Arrow table; None when the position's naming columns do not fit
        the table's (a conId past 64 bits: its rows are then written as tuples, which names
        each row left out)."""
        try:
            key = arrow_table(_KEY, [self.key_columns])
        except (OverflowError, ValueError):
            return None
        if not key.num_rows:  # left out while refusing rows: named with the rows
            return None
        n = len(self.at)
        same = pa.array([0] * n, pa.int32())
        states = arrow_table(_STATE, self.states).take(pa.array(self.at, pa.int32()))
        rest = arrow_table(_REST, self.rest)
        columns = {name: key.column(name).take(same) for name in _KEY.names}
        columns |= {name: states.column(name) for name in _STATE_NAMES}
        columns |= {name: rest.column(name) for name in _REST_NAMES}
        return pa.Table.from_arrays([columns[n] for n in _NAMES], schema=POSITION_HISTORY.schema)
