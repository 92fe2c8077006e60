"""One position's operations folded from Arrow columns, a segment at a time: the rebuild's
route for a position whose fills come in execution order (docs/adr/0107-columnar-positions-pass.md).

It takes what ``StreamedFold`` takes (fills after the last one, corrections of the last fill)
and gives the same history rows, effects and row, with less Python per operation:

* a commission report only books its amount (``book_commission``): its history row is the
  position's figures after the last fill, taken by index, with the commission columns beside;
* a fill runs ``LeanRun.apply``; its effect and the figures after it are converted to Arrow
  once and serve both the fill's effect and the history rows;
* what each operation brings to its history row (notification id, cause, execId, times) is
  taken from the operations' columns as they are, never converted to Python.

Anything else (a late fill, a correction of an earlier fill or one that moves it, a bust)
raises ``OutOfOrder``; the caller refolds the position with ``Position`` from its first
operation, writing what this route had not written (``done``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.commission_book import CommissionBook, units
from ordertrail.projections.lean_fifo import Folded, fold_fills
from ordertrail.projections.lean_run import Effect, LeanRun
from ordertrail.projections.position_run import ZERO
from ordertrail.projections.positions import running_state
from ordertrail.projections.records import Row
from ordertrail.projections.rows import EFFECT_NAMES
from ordertrail.projections.schema import DEC, POSITION_HISTORY, TS, decimal_array
from ordertrail.projections.streamed_position import ADD, REMOVE, OutOfOrder

# Operations folded and converted at once: what a position holds as Python objects.
SEGMENT_OPS = 32_768

# The columns that name a position: the operations' and the history's names alike.
KEY_NAMES = ("account", "con_id", "origin", "symbol", "sec_type", "currency", "multiplier")
_FIGURES = ("quantity", "avg_cost", "fifo_cost", "realized_pnl", "realized_pnl_avg")
# The figures after a fill: quantity, average cost, FIFO cost, realized PnL (FIFO, average),
# fills, the last fill's IB time.
Figures = tuple[Decimal, Decimal | None, Decimal | None, Decimal, Decimal, int, datetime | None]


def exact_decimals(column: pa.ChunkedArray | pa.Array) -> list[Decimal | None]:
    """A decimal(38, 10) column as Decimals with as few places as its values need: the same
    values, and their products keep few places too, so the figures convert back to Arrow
    without rounding (a value with more places than the tables' 10 must be rounded first).
    Made from the column's integers (Arrow's own conversion to Decimal costs ~2.5× more)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    low = units(array) if array.null_count == 0 else None
    if low is None:
        return array.to_pylist()  # type: ignore[no-any-return]
    places = 10
    for dropped in (10, 8, 6, 4, 2):
        if not (low % 10**dropped).any():
            low, places = low // 10**dropped, 10 - dropped
            break
    # Each distinct value made once (fills repeat their sizes and, tick by tick, their prices).
    distinct, at = np.unique(low, return_inverse=True)
    made = [Decimal(v).scaleb(-places) for v in distinct.tolist()]
    return [made[i] for i in at.tolist()]


def rounded(values: Sequence[Decimal | None]) -> pa.Array:
    """Decimals as decimal(38, 10), rounded half-even as ``schema.dec``, for a column of
    averages (28 digits): ``decimal_array`` would first try them as they are, and Arrow
    refuses such a column only after converting much of it (its first value, the position
    before the segment or a fill's price, often fits)."""
    return pa.array(
        [None if v is None else v.quantize(_QUANTUM, ROUND_HALF_EVEN) for v in values], DEC
    )


# How each field of an effect becomes a column: the averages rounded at once (``rounded``);
# quantities and FIFO PnL, which keep the few places of the fills' values, as they are.
_CONVERT = (decimal_array, rounded, decimal_array, rounded, rounded, decimal_array, rounded)
_QUANTUM = Decimal(1).scaleb(-10)


class LeanPosition:
    """One position's running state between segments."""

    def __init__(self, first: pa.Table) -> None:
        self.key = first.select(list(KEY_NAMES))  # one row: the position's naming columns
        self.key_values: Row = tuple(
            exact_decimals(first.column(n))[0] if n == "multiplier" else first.column(n)[0].as_py()
            for n in KEY_NAMES
        )  # fmt: skip
        self.multiplier: Decimal = self.key_values[6]
        self.run = LeanRun()
        self.last: tuple[int, str] | None = None  # (IB time in µs, execId base) of the last fill
        self.before_last: tuple[int, str] | None = None
        self.fills = 0
        self.book = CommissionBook(self.key_values[5])
        self.figures: Figures = (ZERO, None, None, ZERO, ZERO, 0, None)
        self.done = 0  # operations whose history row and effects were given
        self.nid = 0
        self.ts: datetime | None = None

    def fold(self, ops: pa.Table) -> tuple[pa.Table, pa.Table]:
        """A segment's operations (``OP_SCHEMA``, in log order): its history rows and its
        fills' effects (notification id, execId base, ``EFFECT_NAMES``)."""
        kinds = ops.column("kind")
        if pc.any(pc.equal(kinds, REMOVE)).as_py():
            raise OutOfOrder("a bust")
        is_fill = pc.less(kinds, REMOVE)
        fills = ops.filter(is_fill)
        commission, foreign = self.book.columns(ops)
        folded = None
        if fills.num_rows:
            folded = fold_fills(fills, self.run, self.multiplier, self.last, self.before_last)
        if folded is None:  # values the integer route does not take: fill after fill
            figures, realized = self._figures(self._steps(fills), fills)
        else:
            figures, realized = self._folded(folded, fills)
        at = pc.cumulative_sum(pc.cast(is_fill, pa.int32()))
        history = self._history(ops, figures, at, commission, foreign)
        effect_table = pa.Table.from_arrays(
            [fills.column("nid"), fills.column("base"), *realized,
             *(f.slice(1) for f in figures[:5])],
            names=["notification_id", "exec_base_id", *EFFECT_NAMES],
        )  # fmt: skip
        self.done += ops.num_rows
        self.nid = ops.column("nid")[-1].as_py()
        self.ts = ops.column("ts_recorded")[-1].as_py()
        return history, effect_table

    def _steps(self, fills: pa.Table) -> list[tuple[Decimal | int | None, ...]]:
        """Each fill's effect and the count of fills after it."""
        kinds = fills.column("kind").to_pylist()
        bases = fills.column("base").to_pylist()
        qtys = exact_decimals(fills.column("quantity"))
        prices = exact_decimals(fills.column("price"))
        times = fills.column("ts_ib").cast(pa.int64()).to_pylist()
        step = self._fill
        return [
            (*step(kind, base, ts, qty, price), self.fills)  # type: ignore[arg-type]
            for kind, base, ts, qty, price in zip(kinds, bases, times, qtys, prices, strict=True)
        ]

    def _fill(self, kind: int, base: str, ts: int, qty: Decimal, price: Decimal) -> Effect:
        """``StreamedPosition.add`` / ``replace``."""
        key = (ts, base)
        run = self.run
        if kind == ADD:
            last = self.last
            if last is not None and not last < key:
                raise OutOfOrder(base)
            effect = run.apply(qty, price, self.multiplier)
            self.before_last, self.last = last, key
            self.fills += 1
            return effect
        before = self.before_last
        last_base = self.last[1] if self.last is not None else None
        if base != last_base or run.undo is None or (before is not None and not before < key):
            raise OutOfOrder(base)
        run.revert()
        effect = run.apply(qty, price, self.multiplier)
        self.last = key
        return effect

    def _figures(
        self, effects: list[tuple[Decimal | int | None, ...]], fills: pa.Table
    ) -> tuple[list[pa.Array], list[pa.Array]]:
        """The figures before the segment and after each fill (quantity, costs, realized PnL,
        fills, last fill's IB time) as columns, and each fill's realized PnL (FIFO, average)."""
        prior = self.figures
        columns = list(zip(*effects, strict=True)) if effects else [()] * 8
        figures = [
            convert([prior[k], *columns[2 + k]])  # type: ignore[list-item]
            for k, convert in enumerate(_CONVERT[2:])
        ]
        figures.append(pa.array([prior[5], *columns[7]], pa.int64()))
        figures.append(
            pa.concat_arrays([pa.array([prior[6]], TS), fills.column("ts_ib").combine_chunks()])
        )
        if effects:
            last = effects[-1]
            ts_ib = fills.column("ts_ib")[-1].as_py()
            self.figures = (*last[2:7], self.fills, ts_ib)
        realized = [_CONVERT[0](columns[0]), _CONVERT[1](columns[1])]
        return figures, realized

    def _folded(self, folded: Folded, fills: pa.Table) -> tuple[list[pa.Array], list[pa.Array]]:
        """``_figures`` from the fills folded at once (``lean_fifo``)."""
        prior = self.figures
        columns = (folded.quantity, folded.avg_cost, folded.fifo_cost, folded.cum_realized,
                   folded.cum_realized_avg)  # fmt: skip
        figures = [
            pa.concat_arrays([convert([prior[k]]), column])  # type: ignore[list-item]
            for k, (convert, column) in enumerate(zip(_CONVERT[2:], columns, strict=True))
        ]
        counts = self.fills + np.cumsum(folded.is_add)
        figures.append(pa.array(np.concatenate([[prior[5]], counts]), pa.int64()))
        figures.append(
            pa.concat_arrays([pa.array([prior[6]], TS), fills.column("ts_ib").combine_chunks()])
        )
        self.run, self.last, self.before_last = folded.run, folded.last, folded.before_last
        self.fills = int(counts[-1])
        self.figures = (*folded.last_effect[2:7], self.fills, fills.column("ts_ib")[-1].as_py())
        return figures, [folded.realized, folded.realized_avg]

    def _history(
        self, ops: pa.Table, figures: list[pa.Array], index: pa.Array, commission: pa.Array,
        foreign: pa.Array,
    ) -> pa.Table:  # fmt: skip
        same = pa.array(np.zeros(ops.num_rows, np.int32))
        columns = {name: self.key.column(name).take(same) for name in KEY_NAMES}
        columns |= {name: f.take(index) for name, f in zip(_FIGURES, figures, strict=False)}
        columns["commission"] = commission
        columns["foreign_commissions"] = foreign
        columns["fills"] = figures[5].take(index)
        columns["last_fill_ib"] = figures[6].take(index)
        columns["notification_id"] = ops.column("nid")
        for name in ("cause", "exec_id", "ts_event", "ts_recorded"):
            columns[name] = ops.column(name)
        columns["day"] = ops.column("ts_recorded").cast(pa.date32())
        schema = POSITION_HISTORY.schema
        return pa.Table.from_arrays([columns[n] for n in schema.names], schema=schema)

    def row(self) -> Row:
        """The ``positions`` row after the last operation."""
        figures, foreign, commission = self.figures, self.book.foreign, self.book.commission
        last = None if self.last is None else (figures[6], self.last[1])
        state = running_state(self.run.as_run(), commission, foreign, self.fills, last)  # type: ignore[arg-type]
        return (*self.key_values, *figures[:5], commission, foreign, *figures[5:], self.ts,
                self.nid, state)  # fmt: skip
