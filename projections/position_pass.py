"""The rebuild's positions pass (docs/adr/0050-streaming-rebuild.md): what the orders pass
left of each fill event (an ``Op``, in the bucket of its position), folded bucket by bucket and
position by position, in log order, through the same position arithmetic the update runs:
``StreamedPosition`` while the fills come in execution order, else ``Position``, which refolds
(docs/adr/0094-streamed-positions.md). It gives each position's history rows, its row, and each
fill's effect, written into the bucket's fill rows.

A position depends only on its own operations in notification order, which is why it can be
folded after every order, on its own. What it holds stays bounded as the log grows
(docs/adr/0075-bounded-positions-pass.md): a position's operations come from sorted runs merged
as they are read, its history rows go to the spill as they are made, and each fill's effect
goes to a columnar buffer as it is computed, joined to the fill rows a chunk at a time.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.fold import Projection
from ordertrail.projections.history_batch import HistoryBatch
from ordertrail.projections.positions import FillEffect, Position, PositionFill
from ordertrail.projections.records import PositionKey, Row
from ordertrail.projections.rows import EFFECT_NAMES
from ordertrail.projections.schema import FILLS, POSITION_HISTORY, decimal_array
from ordertrail.projections.sorted_spill import RangeFiles
from ordertrail.projections.spill import SpillFolder, TableSpill, gathered
from ordertrail.projections.streamed_position import (
    ADD,
    COMMISSION,
    REMOVE,
    REPLACE,
    OutOfOrder,
    StreamedFold,
    StreamedPosition,
)

__all__ = ["ADD", "COMMISSION", "REMOVE", "REPLACE", "Op", "OpSpill", "PositionPass",
           "positions_pass"]  # fmt: skip


# What a position needs of one fill event (the orders pass builds them):
# (notification id, kind, account, conId, origin, symbol, sec type, currency, multiplier,
#  execId base, IB time, signed quantity, price, has commission, commission, commission currency,
#  cause, execId, ts_event, ts_recorded)
Op = tuple[
    int, int, str, int, str, str, str, str, Decimal, str, datetime, Decimal, Decimal, bool,
    Decimal | None, str, str, str, datetime | None, datetime,
]  # fmt: skip
_OPS = msgspec.msgpack.Decoder(list[Op])
_ENCODE = msgspec.msgpack.Encoder().encode

# Operations per msgpack frame of a sorted run: the merge holds one frame of each run at once.
FRAME_OPS = 512
# Fill effects held as Python objects before they become Arrow columns.
EFFECT_CHUNK = 16_384
# History rows a streamed position converts to Arrow at once (each conversion has a fixed cost
# per column, and the rows are small).
HISTORY_BATCH = 8_192
# Fill rows joined to their effects at once.
JOIN_ROWS = 65_536

# (byte offset, byte length) of each frame of one position's operations in one run.
Frames = list[tuple[int, int]]


class OpSpill:
    """One bucket's position operations: kept in memory up to a limit, then appended to a
    file as a sorted run (each position's operations in notification order, in frames of
    ``FRAME_OPS``), so that a position's operations are read back as a merge of its runs,
    a frame of each at a time, never all at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ops: list[Op] = []
        self.runs: list[dict[PositionKey, Frames]] = []
        # Operations kept in memory, by position: those of a position whose conId msgpack
        # cannot carry (beyond 64 bits: IB documents no width; the tables leave such rows out
        # and name them, and the position is folded all the same).
        self.held: dict[PositionKey, list[Op]] = {}
        self._end = 0  # the file's length

    def flush(self) -> None:
        if not self.ops:
            return
        run: dict[PositionKey, Frames] = {}
        with self.path.open("ab") as f:
            for key, ops in self._by_position().items():
                try:
                    run[key] = self._write(f, ops)
                except OverflowError:
                    self.held.setdefault(key, []).extend(ops)
        if run:
            self.runs.append(run)

    def _by_position(self) -> dict[PositionKey, list[Op]]:
        by_key: dict[PositionKey, list[Op]] = {}
        for op in self.ops:
            by_key.setdefault((op[2], op[3], op[4]), []).append(op)
        self.ops = []
        for ops in by_key.values():
            ops.sort(key=_nid)
        return by_key

    def _write(self, f: BinaryIO, ops: list[Op]) -> Frames:
        encoded = [_ENCODE(ops[i : i + FRAME_OPS]) for i in range(0, len(ops), FRAME_OPS)]
        frames = []
        for data in encoded:
            f.write(data)
            frames.append((self._end, len(data)))
            self._end += len(data)
        return frames

    def position_keys(self) -> list[PositionKey]:
        """The positions with operations here, in key order (after ``flush``)."""
        return sorted({key for run in self.runs for key in run} | set(self.held))

    def position(self, key: PositionKey) -> Generator[Op]:
        """One position's operations in notification order (after ``flush``)."""
        parts = [run[key] for run in self.runs if key in run]
        held = sorted(self.held.get(key, []), key=_nid)
        fd = os.open(self.path, os.O_RDONLY) if parts else -1
        try:
            streams = [_frames(fd, frames) for frames in parts]
            if held:
                streams.append(iter([held]))
            yield from _merged(streams)
        finally:
            if fd >= 0:
                os.close(fd)

    def forget(self, key: PositionKey) -> None:
        """The position is folded: its operations held in memory go."""
        self.held.pop(key, None)


def _frames(fd: int, frames: Frames) -> Iterator[list[Op]]:
    for offset, size in frames:
        yield _OPS.decode(os.pread(fd, size, offset))


@dataclass(slots=True)
class _Head:
    """Where a run's merge stands: its current frame, the first operation not yet out."""

    frame: list[Op]
    start: int
    rest: Iterator[list[Op]]


def _merged(runs: list[Iterator[list[Op]]]) -> Iterator[Op]:
    """Operations of runs each in notification order, merged, a frame of each run at a time.
    Every operation up to the lowest of the current frames' last ids is final: those are
    sorted together in one go (a heap merge compared operations one by one in Python). Each
    round uses up at least one frame."""
    heads = [_Head(frame, 0, run) for run in runs if (frame := next(run, []))]
    while heads:
        bound = min(head.frame[-1][0] for head in heads)
        out: list[Op] = []
        for head in heads:
            frame, start = head.frame, head.start
            end = bisect.bisect_right(frame, bound, lo=start, key=_nid)
            out.extend(frame[start:end])
            if end == len(frame):
                head.frame, end = next(head.rest, []), 0
            head.start = end
        heads = [head for head in heads if head.frame]
        if len(runs) > 1:
            out.sort(key=_nid)
        yield from out


def _nid(op: Op) -> int:
    return op[0]


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
    fills_out: TableSpill
    rows: list[Row] = field(default_factory=list)  # the positions table

    def bucket(self, ops: OpSpill, fills: TableSpill) -> None:
        ops.flush()
        effects = EffectSpill()
        for key in ops.position_keys():
            self._position(ops, key, effects)
            ops.forget(key)
        path = fills.close()
        if path is not None:
            self._with_effects(path, effects.last())

    def _position(self, ops: OpSpill, key: PositionKey, effects: EffectSpill) -> None:
        """The streamed route first; a position it cannot take is folded again by
        ``Position``, which writes only what the streamed route had not."""
        stream = ops.position(key)
        first = next(stream)
        position = StreamedPosition(*first[2:9])
        fold = StreamedFold(position, effects.add, self._history, HISTORY_BATCH)
        try:
            fold.run(chain((first,), stream))
        except OutOfOrder:
            stream.close()
            self._refolded(ops.position(key), effects, fold.done)
        else:
            self.rows.append(fold.row())

    def _history(self, batch: HistoryBatch) -> None:
        table = batch.table()
        if table is None:
            self.history_out.extend(batch.rows())
        else:
            self.history_out.write_table(table)

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
            # One record batch per chunk: the next pass reads the file a batch at a time.
            self.fills_out.write_table(table.combine_chunks())


def positions_pass(ops: list[OpSpill], fills: list[TableSpill], spill: SpillFolder) -> PositionPass:
    """Every bucket's positions folded; their fill rows, history rows and rows."""
    positions = PositionPass(
        RangeFiles(spill, POSITION_HISTORY), TableSpill(spill.file("fills.arrow"), FILLS)
    )
    for bucket_ops, bucket_fills in zip(ops, fills, strict=True):
        positions.bucket(bucket_ops, bucket_fills)
    # The last history rows to their files now: the commits that follow need the memory.
    positions.history_out.flush()
    return positions
