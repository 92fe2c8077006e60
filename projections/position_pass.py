"""The rebuild's positions pass (docs/adr/0050-streaming-rebuild.md): what the orders pass
left of each fill event (an ``Op``, in the bucket of its position), folded bucket by bucket and
position by position, in log order, through the same ``Position`` methods the update runs. It
gives each position's history rows, its row, and each fill's effect, written into the bucket's
fill rows.

A position depends only on its own operations in notification order, which is why it can be
folded after every order, on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.fold import Projection
from ordertrail.projections.positions import FillEffect, Position, PositionFill
from ordertrail.projections.records import PositionKey, Row
from ordertrail.projections.rows import EFFECT_NAMES
from ordertrail.projections.schema import FILLS, POSITION_HISTORY, _decimals
from ordertrail.projections.spill import RangeSpill, SpillFolder, TableSpill, read_spill

ADD, REPLACE, REMOVE, COMMISSION = range(4)

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


class OpSpill:
    """One bucket's position operations: kept in memory up to a limit, then appended to a
    file as one msgpack frame per flush."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ops: list[Op] = []
        self.frames: list[int] = []  # byte length of each frame written

    def flush(self) -> None:
        if not self.ops:
            return
        data = _ENCODE(self.ops)
        with self.path.open("ab") as f:
            f.write(data)
        self.frames.append(len(data))
        self.ops = []

    def read(self) -> Iterator[Op]:
        """Every operation, in the order added."""
        if self.frames:
            with self.path.open("rb") as f:
                for size in self.frames:
                    yield from _OPS.decode(f.read(size))
        yield from self.ops


@dataclass
class PositionPass:
    """Positions folded from their operations, one bucket and one position at a time."""

    history_out: RangeSpill
    fills_out: TableSpill
    rows: list[Row] = field(default_factory=list)  # the positions table

    def bucket(self, ops: OpSpill, fills: TableSpill) -> None:
        by_key: dict[PositionKey, list[Op]] = {}
        for op in sorted(ops.read(), key=_nid):
            by_key.setdefault((op[2], op[3], op[4]), []).append(op)
        effects: dict[str, FillEffect] = {}
        for key in list(by_key):
            self._position(by_key.pop(key), effects)
        path = fills.close()
        if path is not None:
            self.fills_out.write_table(_with_effects(read_spill(path), effects))

    def _position(self, ops: list[Op], effects: dict[str, FillEffect]) -> None:
        first = ops[0]
        pos = Position(*first[2:9])
        columns = Projection._position_columns
        history = self.history_out
        nid = 0
        ts: Any = None
        for op in ops:
            (nid, kind, *_, base, ts_ib, qty, price, has_c, amount, ccy,
             cause, exec_id, ts_event, ts) = op  # fmt: skip
            if kind == COMMISSION:
                pos.set_commission(base, amount, ccy)
            elif kind == REMOVE:
                pos.set_commission(base, None, "")
                pos.remove(base)
            else:
                fill = PositionFill(base, (ts_ib, base), qty, price)
                if kind == ADD:
                    pos.add(fill)
                else:
                    pos.replace(fill)
                if has_c:
                    pos.set_commission(base, amount, ccy)
            history.add((*columns(pos), nid, cause, exec_id, ts_event, ts, ts.date()))
        self.rows.append((*columns(pos), ts, nid, pos.running_state()))
        effects.update(pos.effects)


def _nid(op: Op) -> int:
    return op[0]


def _with_effects(table: pa.Table, effects: dict[str, FillEffect]) -> pa.Table:
    bases = table.column("exec_base_id").to_pylist()
    found = [effects[b] for b in bases]
    for name, attr in zip(EFFECT_NAMES, FillEffect.__slots__, strict=True):
        i = table.schema.get_field_index(name)
        values = _decimals([getattr(e, attr) for e in found])
        table = table.set_column(i, table.schema.field(i), values)
    return table


def positions_pass(ops: list[OpSpill], fills: list[TableSpill], spill: SpillFolder) -> PositionPass:
    """Every bucket's positions folded; their fill rows, history rows and rows."""
    positions = PositionPass(
        RangeSpill(spill, POSITION_HISTORY), TableSpill(spill.file("fills.arrow"), FILLS)
    )
    for bucket_ops, bucket_fills in zip(ops, fills, strict=True):
        positions.bucket(bucket_ops, bucket_fills)
    return positions
