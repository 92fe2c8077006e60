"""The rebuild's positions pass (docs/adr/0050-streaming-rebuild.md): what the orders pass
left of each fill event (an operation, in the bucket of its position: ``PositionInputs``),
folded bucket by bucket and position by position, in log order, through the same position
arithmetic the update runs: ``LeanPosition`` on the operations' Arrow columns while the fills
come in execution order (docs/adr/0107-columnar-positions-pass.md), ``StreamedPosition`` for a
position some of whose operations the columns cannot hold (docs/adr/0094-streamed-positions.md),
else ``Position``, which refolds. It gives each position's history rows, its row, and each
fill's effect, written into the bucket's fill rows.

A position depends only on its own operations in notification order, which is why it can be
folded after every order, on its own. What it holds stays bounded as the log grows
(docs/adr/0075-bounded-positions-pass.md): a bucket's operations are read once and a position's
taken a segment at a time, its history rows go to the spill as they are made, and each fill's
effect goes to a columnar buffer as it is computed, joined to the fill rows a chunk at a time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.fold import Projection
from ordertrail.projections.history_batch import HistoryBatch
from ordertrail.projections.lean_fold import SEGMENT_OPS, LeanPosition
from ordertrail.projections.op_spill import FRAME_OPS, OP_SCHEMA, Op, OpSpill
from ordertrail.projections.position_inputs import BucketOps, PositionInputs
from ordertrail.projections.position_ops import PositionOps, positions_of
from ordertrail.projections.positions import FillEffect, Position, PositionFill
from ordertrail.projections.records import PositionKey, Row
from ordertrail.projections.rows import EFFECT_NAMES
from ordertrail.projections.schema import FILLS, POSITION_HISTORY, decimal_array
from ordertrail.projections.sorted_spill import KeyRanges, RangeFiles
from ordertrail.projections.spill import SpillFolder, gathered, read_spill
from ordertrail.projections.streamed_position import (
    ADD,
    COMMISSION,
    REMOVE,
    REPLACE,
    OutOfOrder,
    StreamedFold,
    StreamedPosition,
)

__all__ = ["ADD", "COMMISSION", "OP_SCHEMA", "REMOVE", "REPLACE", "Op", "OpSpill", "PositionInputs",
           "PositionPass", "PositionsResult", "positions_pass"]  # fmt: skip


# Fill effects held as Python objects before they become Arrow columns.
EFFECT_CHUNK = 16_384
# History rows a streamed position converts to Arrow at once (each conversion has a fixed cost
# per column, and the rows are small).
HISTORY_BATCH = 8_192
# History rows split by range of ids at once.
HISTORY_ROWS = 65_536
# Fill rows joined to their effects at once.
JOIN_ROWS = 65_536


class EffectSpill:
    """Each fill's effect as the fold computes it, in Arrow columns, with the notification id
    of the operation that computed it. A fill has several when a later operation refolds it (a
    late fill before it, a correction, a bust); the one of the latest operation counts. A
    correction that moves a fill to another position (IB changed its account or contract)
    leaves the old position's effects behind, and positions are folded in key order, not log
    order: only the notification id says which came last."""

    def __init__(self) -> None:
        self.nids: list[int] = []
        self.bases: list[str] = []
        self.effects: list[FillEffect] = []
        self.tables: list[pa.Table] = []

    def add(self, nid: int, base: str, effect: FillEffect) -> None:
        self.nids.append(nid)
        self.bases.append(base)
        self.effects.append(effect)
        if len(self.bases) >= EFFECT_CHUNK:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Effects already in Arrow (the columns ``flush`` makes), after those added before."""
        self.flush()
        self.tables.append(table)

    def flush(self) -> None:
        if not self.bases:
            return
        columns = [pa.array(self.nids, pa.int64()), pa.array(self.bases, pa.string())] + [
            decimal_array(values) for values in zip(*self.effects, strict=True)
        ]
        names = ["notification_id", "exec_base_id", *EFFECT_NAMES]
        self.tables.append(pa.Table.from_arrays(columns, names=names))
        self.nids, self.bases, self.effects = [], [], []

    def last(self) -> pa.Table:
        """Every effect, the latest first (a lookup then finds a fill's last effect): by the
        notification id of its operation, then by the order they came in (a stable sort)."""
        self.flush()
        table = pa.concat_tables(self.tables)
        self.tables = []
        order = pc.sort_indices(table, sort_keys=[("notification_id", "ascending")])
        latest_first = order.take(pa.array(range(len(order) - 1, -1, -1), pa.int64()))
        return table.take(latest_first)


@dataclass
class PositionPass:
    """Positions folded from their operations, one bucket and one position at a time."""

    history_out: RangeFiles
    fills_out: KeyRanges
    rows: list[Row] = field(default_factory=list)  # the positions table
    # History tables held until they are split by range together: each split writes a part
    # per range of ids, and a position's rows span them all.
    held: list[pa.Table] = field(default_factory=list)
    held_rows: int = 0

    def bucket(self, ops: BucketOps, fills: Path | None) -> None:
        ops.flush()
        effects = EffectSpill()
        columnar = dict(positions_of(ops.table()))
        misfits = ops.misfits
        held = set(misfits.position_keys())
        for key in sorted(columnar.keys() | held):
            part = columnar.pop(key, None)
            if key in held:  # some of its operations are tuples: the tuple route
                self._position(partial(_merged, part, misfits.position, key), effects)
                misfits.forget(key)
            else:
                assert part is not None
                self._lean(part, effects)
        if fills is not None:
            self._with_effects(fills, effects.last())

    def _lean(self, ops: PositionOps, effects: EffectSpill) -> None:
        """The columnar route, a segment at a time; a position it cannot take is folded
        again by ``Position``, which writes only what the columnar route had not."""
        position = LeanPosition(ops.part(0, 1))
        try:
            for start in range(0, len(ops), SEGMENT_OPS):
                history, done = position.fold(ops.part(start, SEGMENT_OPS))
                self._history_table(history)
                effects.add_table(done)
        except OutOfOrder:
            self._refolded(ops.tuples(), effects, position.done)
        else:
            self.rows.append(position.row())

    def _position(self, ops: Callable[[], Generator[Op]], effects: EffectSpill) -> None:
        """The streamed route of ``Op`` tuples; a position it cannot take is folded again by
        ``Position``, which writes only what the streamed route had not."""
        stream = ops()
        first = next(stream)
        position = StreamedPosition(*first[2:9])
        fold = StreamedFold(position, effects.add, self._history, HISTORY_BATCH)
        try:
            fold.run(chain((first,), stream))
        except OutOfOrder:
            stream.close()
            self._refolded(ops(), effects, fold.done)
        else:
            self.rows.append(fold.row())

    def _history(self, batch: HistoryBatch) -> None:
        table = batch.table()
        if table is None:
            self.history_out.extend(batch.rows())
        else:
            self._history_table(table)

    def _history_table(self, table: pa.Table) -> None:
        self.held.append(table)
        self.held_rows += table.num_rows
        if self.held_rows >= HISTORY_ROWS:
            self.flush_history()

    def flush_history(self) -> None:
        if self.held:
            self.history_out.write_table(pa.concat_tables(self.held))
        self.held, self.held_rows = [], 0

    def _refolded(self, ops: Iterator[Op], effects: EffectSpill, written: int) -> None:
        first = next(ops)
        pos = Position(*first[2:9])
        columns = Projection._position_columns
        out = self.history_out
        history: list[Row] = []  # handed to the spill a frame's worth at a time
        nid = 0
        ts: Any = None
        for n, op in enumerate(chain((first,), ops)):
            (nid, kind, *_, base, ts_ib, qty, price, has_c, amount, ccy,
             cause, exec_id, ts_event, ts) = op  # fmt: skip
            changed: list[str] = []
            if kind == COMMISSION:
                pos.set_commission(base, amount, ccy)
            elif kind == REMOVE:
                pos.set_commission(base, None, "")
                changed = pos.remove(base)
            else:
                fill = PositionFill(base, (ts_ib, base), qty, price)
                changed = pos.add(fill) if kind == ADD else pos.replace(fill)
                if has_c:
                    pos.set_commission(base, amount, ccy)
            # Each effect goes out as it is made: the position keeps none of them.
            for b in changed:
                effect = pos.effects.pop(b)
                if n >= written:
                    effects.add(nid, b, effect)
            if n < written:  # the streamed route wrote this operation's row and effects
                continue
            history.append((*columns(pos), nid, cause, exec_id, ts_event, ts, ts.date()))
            if len(history) >= FRAME_OPS:
                out.extend(history)
                history = []
        out.extend(history)
        self.rows.append((*columns(pos), ts, nid, pos.running_state()))

    def _with_effects(self, path: Path, effects: pa.Table) -> None:
        """The bucket's fill rows with their effects, a chunk at a time."""
        bases = effects.column("exec_base_id")
        values = [effects.column(name) for name in EFFECT_NAMES]
        for table in gathered(path, JOIN_ROWS):
            at = pc.index_in(table.column("exec_base_id"), value_set=bases)
            if at.null_count:
                raise LookupError("a fill row has no effect on its position")
            for name, column in zip(EFFECT_NAMES, values, strict=True):
                i = table.schema.get_field_index(name)
                table = table.set_column(i, table.schema.field(i), column.take(at))
            self.fills_out.write_table(table)


# What the pass gives: the fill rows with their effects, the history rows, the positions' rows.
PositionsResult = PositionPass


def _merged(
    columnar: PositionOps | None, tuples: Callable[[PositionKey], Generator[Op]], key: PositionKey
) -> Generator[Op]:
    """A position's Arrow operations and its tuple operations, in log order."""
    if columnar is None:
        return tuples(key)
    return heapq.merge(columnar.tuples(), tuples(key), key=_nid)


def _nid(op: Op) -> int:
    return op[0]


def positions_pass(inputs: PositionInputs, spill: SpillFolder) -> PositionsResult:
    """Every bucket's positions folded; their fill rows (by range of keys: each bucket's go to
    their ranges' files as they get their effects), history rows and rows."""
    fills = [bucket.close() for bucket in inputs.fills]
    keys = [read_spill(path, *FILLS.keys).column(0) for path in fills if path is not None]
    every_key = pa.chunked_array(
        [chunk for key in keys for chunk in key.chunks], FILLS.schema.field(FILLS.keys[0]).type
    )
    del keys
    positions = PositionPass(
        RangeFiles(spill, POSITION_HISTORY), KeyRanges(spill, FILLS, every_key)
    )
    del every_key
    for bucket_ops, bucket_fills in zip(inputs.ops, fills, strict=True):
        positions.bucket(bucket_ops, bucket_fills)
    # The last history rows to their files now: the commits that follow need the memory.
    positions.flush_history()
    positions.history_out.flush()
    return positions
