"""A bucket's Arrow operations by position (the rebuild's columnar positions route,
docs/adr/0107-columnar-positions-pass.md): the bucket's table is held once, and each position
is the list of its rows in log order, taken a segment at a time. (Sorting the whole table
instead would hold it twice: at 10,000,000 events a position has ~300,000 operations, ~60 MB
of columns.)"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.op_spill import Op, op_tuples
from ordertrail.projections.records import PositionKey

# Rows converted to ``Op`` tuples at once, for a position the tuple routes fold.
TUPLE_ROWS = 4096
_KEY = ("account", "con_id", "origin")


@dataclass(frozen=True)
class PositionOps:
    """One position's operations: rows of a bucket's table (``OP_SCHEMA``), in log order."""

    table: pa.Table
    rows: pa.Array  # int64 row numbers
    # The rows are the whole table, in order (a bucket of one position, in log order, as the
    # orders pass writes it): a part is a slice, not a copy.
    whole_table: bool = False

    @classmethod
    def whole(cls, table: pa.Table) -> PositionOps:
        """A table that holds one position's operations only, in log order."""
        return cls(table, pa.array(range(table.num_rows), pa.int64()), True)

    def __len__(self) -> int:
        return len(self.rows)

    def part(self, start: int, length: int) -> pa.Table:
        """Operations ``start`` to ``start + length`` (in log order), as one record batch."""
        if self.whole_table:
            return self.table.slice(start, length).combine_chunks()
        return self.table.take(self.rows.slice(start, length)).combine_chunks()

    def tuples(self) -> Generator[Op]:
        """The operations as ``Op`` tuples, ``TUPLE_ROWS`` converted at a time."""
        for start in range(0, len(self), TUPLE_ROWS):
            yield from op_tuples(self.part(start, TUPLE_ROWS))


def positions_of(ops: pa.Table) -> Iterator[tuple[PositionKey, PositionOps]]:
    """A bucket's operations by position, each position's in log order, positions in key
    order."""
    if not ops.num_rows:
        return
    if all(_same(ops.column(name)) for name in _KEY):  # one position: no sort by key
        key = (ops.column(_KEY[0])[0].as_py(), ops.column(_KEY[1])[0].as_py(),
               ops.column(_KEY[2])[0].as_py())  # fmt: skip
        nid = ops.column("nid").to_numpy()
        if (nid[1:] > nid[:-1]).all():
            yield key, PositionOps(ops, pa.array(np.arange(len(nid)), pa.int64()), True)
        else:
            yield key, PositionOps(ops, pa.array(np.argsort(nid, kind="stable"), pa.int64()))
        return
    keys = ops.select([*_KEY, "nid"])
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])
    columns = [keys.column(name).take(order).combine_chunks() for name in _KEY]
    del keys
    changed = pc.or_(pc.or_(_changes(columns[0]), _changes(columns[1])), _changes(columns[2]))
    starts = [0, *pc.add(pc.indices_nonzero(changed), 1).to_pylist(), ops.num_rows]
    for start, end in itertools.pairwise(starts):
        key = (columns[0][start].as_py(), columns[1][start].as_py(), columns[2][start].as_py())
        yield key, PositionOps(ops, order.slice(start, end - start))


def _same(column: pa.ChunkedArray) -> bool:
    """Whether every value of a column without nulls is the first."""
    low, high = pc.min_max(column).values()
    return bool(low == high)


def _changes(column: pa.Array) -> pa.Array:
    """Whether each value but the first differs from the one before it."""
    return pc.not_equal(column.slice(1), column.slice(0, len(column) - 1))
