"""One bucket's position operations (``Op`` tuples) kept in memory up to a limit, then written
to a file as sorted runs, and read back one position at a time as a merge of its runs
(docs/adr/0075-bounded-positions-pass.md)."""

from __future__ import annotations

import bisect
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.records import PositionKey
from ordertrail.projections.schema import DEC, TS

# What a position needs of one fill event (the orders pass builds them):
# (notification id, kind, account, conId, origin, symbol, sec type, currency, multiplier,
#  execId base, IB time, signed quantity, price, has commission, commission, commission currency,
#  cause, execId, ts_event, ts_recorded)
Op = tuple[
    int, int, str, int, str, str, str, str, Decimal, str, datetime, Decimal, Decimal, bool,
    Decimal | None, str, str, str, datetime | None, datetime,
]  # fmt: skip

# The same, as Arrow columns (names and order of the tuple's fields).
OP_SCHEMA = pa.schema(
    [
        ("nid", pa.int64()),
        ("kind", pa.int8()),
        ("account", pa.string()),
        ("con_id", pa.int64()),
        ("origin", pa.string()),
        ("symbol", pa.string()),
        ("sec_type", pa.string()),
        ("currency", pa.string()),
        ("multiplier", DEC),
        ("base", pa.string()),
        ("ts_ib", TS),
        ("quantity", DEC),
        ("price", DEC),
        ("has_commission", pa.bool_()),
        ("commission", DEC),
        ("commission_currency", pa.string()),
        ("cause", pa.string()),
        ("exec_id", pa.string()),
        ("ts_event", TS),
        ("ts_recorded", TS),
    ]
)

_OPS = msgspec.msgpack.Decoder(list[Op])
_ENCODE = msgspec.msgpack.Encoder().encode

# Operations per msgpack frame of a sorted run: the merge holds one frame of each run at once.
FRAME_OPS = 512

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


def ops_table(ops: list[Op]) -> tuple[pa.Table, list[Op]]:
    """Operations as Arrow (``OP_SCHEMA``), and those the columns cannot hold exactly: a
    decimal with more than the tables' 10 places (a commission IB sent as a double), or a
    conId past 64 bits (IB documents no width). Those stay tuples, folded as before."""
    try:
        return _strict(ops), []
    except (pa.ArrowInvalid, OverflowError):
        pass
    fits, misfits = [], []
    for op in ops:
        try:
            _strict([op])
        except (pa.ArrowInvalid, OverflowError):
            misfits.append(op)
        else:
            fits.append(op)
    return _strict(fits), misfits


def _strict(ops: list[Op]) -> pa.Table:
    if not ops:
        return OP_SCHEMA.empty_table()
    columns = zip(*ops, strict=True)
    arrays = [pa.array(c, f.type) for c, f in zip(columns, OP_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=OP_SCHEMA)


def op_tuples(ops: pa.Table, rows: int = 4096) -> Iterator[Op]:
    """Arrow operations as ``Op`` tuples, ``rows`` at a time."""
    for batch in ops.to_batches(rows):
        columns = [batch.column(name).to_pylist() for name in OP_SCHEMA.names]
        yield from zip(*columns, strict=True)
