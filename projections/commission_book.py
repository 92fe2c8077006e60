"""A position's commissions, booked for many operations at once (the rebuild's columnar route,
docs/adr/0107-columnar-positions-pass.md): what ``book_commission`` does one operation at a time.

IB reports a fill's commission separately, usually right after the fill, sometimes again (a
corrected report replaces the earlier one); a report in another currency than the position's is
counted, not added. So after each operation the position's commission is the sum, over its
fills, of the latest report of each, in the position's currency; and its count of foreign
reports the number of fills whose latest report is in another currency. Both are running sums
of what each report changes against the fill's previous report: here in whole units of 1e-10
(the columns' scale: exact, and exactly what the Decimal sums give while they stay below 1e18,
far inside the 28 digits a Decimal keeps), the previous report found by sorting the reports by
fill. Each fill's latest report is carried from one segment to the next as columns (a dict
updated per fill cost more than the rest of the booking).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.schema import DEC
from ordertrail.projections.streamed_position import COMMISSION, REMOVE, OutOfOrder

# A position's commission beyond this (in units of 1e-10: about 4.6e8 of its currency) is not
# summed here: the position is refolded (``Position``), whose Decimal sums need no bound.
LIMIT = 2**62


class Unbookable(OutOfOrder):
    """Amounts this book does not sum (see ``LIMIT``): the position is refolded."""


def units(column: pa.Array) -> np.ndarray | None:
    """A decimal(38, 10) column's values as int64 units of 1e-10 (whatever a null holds),
    None if one is past 64 bits."""
    n = len(column)
    words = np.frombuffer(column.buffers()[1], np.int64).reshape(-1, 2)
    words = words[column.offset : column.offset + n]
    low, high = words[:, 0], words[:, 1]
    valid = np.ones(n, bool) if column.null_count == 0 else column.is_valid().to_numpy(False)
    if not np.array_equal(high[valid], low[valid] >> 63):
        return None
    return low


def scaled(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A decimal(38, 10) column as int64 units of 1e-10 (0 for a null), and where it holds a
    value."""
    low = units(column)
    if low is None:
        raise Unbookable
    valid = (
        np.ones(len(column), bool) if column.null_count == 0 else column.is_valid().to_numpy(False)
    )
    return np.where(valid, low, 0), valid


def decimals(units: np.ndarray) -> pa.Array:
    """int64 units of 1e-10 as a decimal(38, 10) column (exact: a 128-bit two's complement
    integer is the 64-bit one with its sign repeated in the high word)."""
    units = np.ascontiguousarray(units, np.int64)
    words = np.empty((len(units), 2), np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    return pa.Array.from_buffers(DEC, len(units), [None, pa.py_buffer(words.tobytes())])


class CommissionBook:
    """One position's latest report per fill, its commission and its foreign reports."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        # Each fill's latest report before the operations in hand: execId bases, and beside
        # each its report's home amount and whether it was in another currency.
        self.carried: pa.Array = pa.array([], pa.string())
        self.carried_mine = np.empty(0, np.int64)
        self.carried_theirs = np.empty(0, np.int64)
        self.total = 0  # units of 1e-10
        self.foreign = 0

    @property
    def commission(self) -> Decimal:
        return Decimal(self.total).scaleb(-10)

    def columns(self, ops: pa.Table) -> tuple[pa.Array, pa.Array]:
        """The commission and the count of foreign reports after each operation (in log
        order, no bust among them) as history columns."""
        kinds = ops.column("kind").combine_chunks()
        books = pc.or_(
            pc.equal(kinds, COMMISSION),
            pc.and_(pc.less(kinds, REMOVE), ops.column("has_commission").combine_chunks()),
        )
        at = np.flatnonzero(books.to_numpy(zero_copy_only=False))
        if not len(at):
            n = ops.num_rows
            return decimals(np.full(n, self.total)), pa.array(np.full(n, self.foreign), pa.int32())
        totals, foreign = self._booked(ops.take(pa.array(at, pa.int64())))
        # Each operation shows the position after the last report at or before it.
        last = np.searchsorted(at, np.arange(ops.num_rows), side="right") - 1
        before = last < 0
        total_col = np.where(before, self.total, totals[np.maximum(last, 0)])
        foreign_col = np.where(before, self.foreign, foreign[np.maximum(last, 0)])
        self.total, self.foreign = int(totals[-1]), int(foreign[-1])
        return decimals(total_col), pa.array(foreign_col, pa.int32())

    def _booked(self, reports: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """The commission and the count of foreign reports after each report."""
        amount, valid = scaled(reports.column("commission").combine_chunks())
        currency = reports.column("commission_currency").combine_chunks()
        home = pc.or_(pc.equal(currency, ""), pc.equal(currency, self.currency))
        home = home.to_numpy(zero_copy_only=False)
        mine = np.where(valid & home, amount, 0)
        theirs = (valid & ~home).astype(np.int64)
        bases = reports.column("base").combine_chunks().dictionary_encode()
        codes = bases.indices.to_numpy(zero_copy_only=False)
        prior_mine, prior_theirs = self._prior(codes, bases.dictionary, mine, theirs)
        if np.abs(mine).sum() + np.abs(prior_mine).sum() + abs(self.total) >= LIMIT:
            raise Unbookable
        totals = self.total + np.cumsum(mine - prior_mine)
        foreign = self.foreign + np.cumsum(theirs - prior_theirs)
        return totals, foreign

    def _prior(
        self, codes: np.ndarray, bases: pa.Array, mine: np.ndarray, theirs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each report's fill's previous report (home amount, foreign): the one before it
        among these, else the one carried from earlier operations; then carry the last.
        ``bases`` are the distinct execId bases, ``codes`` each report's among them."""
        order = np.argsort(codes, kind="stable")
        ranked = codes[order]
        prior_mine = np.empty_like(mine)
        prior_theirs = np.empty_like(theirs)
        prior_mine[order[1:]] = mine[order[:-1]]
        prior_theirs[order[1:]] = theirs[order[:-1]]
        # Every base is among the codes, so the first and last report of base k are the k-th
        # places where the ranked codes begin and end a run.
        first = np.ones(len(order), bool)
        first[1:] = ranked[1:] != ranked[:-1]
        firsts = order[first]
        carried = pc.index_in(bases, value_set=self.carried).fill_null(-1).to_numpy(False)
        found = carried >= 0
        prior_mine[firsts] = 0
        prior_theirs[firsts] = 0
        prior_mine[firsts[found]] = self.carried_mine[carried[found]]
        prior_theirs[firsts[found]] = self.carried_theirs[carried[found]]
        last = np.ones(len(order), bool)
        last[:-1] = ranked[1:] != ranked[:-1]
        lasts = order[last]
        kept = ~np.isin(np.arange(len(self.carried)), carried[found])
        self.carried = pa.concat_arrays([self.carried.filter(pa.array(kept)), bases])
        self.carried_mine = np.concatenate([self.carried_mine[kept], mine[lasts]])
        self.carried_theirs = np.concatenate([self.carried_theirs[kept], theirs[lasts]])
        return prior_mine, prior_theirs
