"""The rebuild: every table recomputed from the first event, streamed, so that memory follows
one order and one position at a time, not the history (docs/adr/0050-streaming-rebuild.md).

1. **Orders pass.** The log is read order by order (the store's primary key: an order's events
   together, oldest first), up to the head read when the rebuild began. ``OrderPass`` runs the
   update's own fold (``Projection.feed``) over one order at a time; when the next order begins
   the order's ``events`` rows, its ``orders`` row and its fills' rows are final: they go to
   spill files and the order's state is dropped. What the positions need of each fill event
   (an ``Op``) goes to the bucket of its position; the members of brackets and OCA groups stay.
2. **Positions pass.** Bucket by bucket, each position's operations in log order run through
   the same ``Position`` methods the update runs, giving its history rows, its row and each
   fill's effect, which is written into the bucket's fill rows.
3. **Commit.** Each table is written once, streamed from its spill file, with the log position
   the orders pass read up to.

It equals the update's fold because a position depends only on its own operations in log
order, and an order's operations only on that order's events: IB's execIds belong to one
order (a commission report or a bust is recorded on the order of its execution).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.adapters.store.eventlog import EventLog, Row
from ordertrail.adapters.store.rebuild import decode_rows
from ordertrail.domain.identity import order_id_for
from ordertrail.projections.brackets import Member, bracket_rows, oca_rows
from ordertrail.projections.fold import FillRecord, Projection
from ordertrail.projections.positions import ZERO, FillEffect, Position, PositionFill
from ordertrail.projections.records import PositionKey
from ordertrail.projections.rows import EFFECT_NAMES
from ordertrail.projections.schema import (
    BRACKETS,
    EVENTS,
    FILLS,
    ORDERS,
    POSITION_HISTORY,
    POSITIONS,
    TABLES,
    TableSpec,
    _decimals,
    arrow_table,
)
from ordertrail.projections.spill import (
    Op,
    OpSpill,
    RangeSpill,
    SpillFolder,
    TableSpill,
    read_spill,
    sorted_chunks,
)

# Operations per bucket the positions pass holds in memory at once (a bucket's operations are
# read and sorted together): the number of buckets grows with the log.
OPS_PER_BUCKET = 50_000
# Position operations held in memory (all buckets together) before they go to their files.
OPS_IN_MEMORY = 100_000
# Fill rows a bucket holds before it writes them.
BUCKET_CHUNK = 256
ADD, REPLACE, REMOVE, COMMISSION = range(4)
# The fill rows' effect columns are filled in by the positions pass.
_PENDING = FillEffect(ZERO, ZERO, ZERO, None, None, ZERO, ZERO)
_BRACKET_COLUMNS = tuple(BRACKETS.schema.names)
Progress = Callable[[int], None]


class OrderPass(Projection):
    """The update's fold, one order at a time; positions are left to the positions pass."""

    def __init__(self, spill: SpillFolder, head: int) -> None:
        super().__init__()
        # About one operation per event: enough buckets that each holds OPS_PER_BUCKET.
        self.buckets = max(16, head // OPS_PER_BUCKET)
        self.spill = spill
        self.events_out = RangeSpill(spill, EVENTS)
        self.orders_out = TableSpill(spill.file("orders.arrow"), ORDERS)
        self.fills_out = [
            TableSpill(spill.file(f"fills-{b}.arrow"), FILLS, BUCKET_CHUNK)
            for b in range(self.buckets)
        ]
        self.ops = [OpSpill(spill.file(f"ops-{b}.msgpack")) for b in range(self.buckets)]
        self.held = 0
        self.members: dict[str, Member] = {}
        self.created: dict[str, int] = {}  # a group member's creation notification id

    def _bucket(self, key: PositionKey) -> int:
        return hash(key) % self.buckets

    # ---- what the positions get instead of being folded here --------------------------------

    def _op(self, rec: FillRecord, nid: int, event: Any, kind: int, exec_id: str,
            commission: Any = None, has_commission: bool = False) -> None:  # fmt: skip
        x, c = rec.execution, rec.contract
        account, con_id, origin = rec.position_key
        op: Op = (
            nid, kind, account, con_id, origin, c.symbol, c.sec_type, c.currency, c.multiplier,
            x.base_id, rec.ts_ib, x.shares * x.side.sign, x.price, has_commission,
            commission.commission if has_commission else None,
            commission.currency if has_commission else "",
            type(event).__name__, exec_id, event.ts_event, event.timestamp,
        )  # fmt: skip
        spill = self.ops[self._bucket((account, con_id, origin))]
        spill.ops.append(op)
        self.held += 1
        if self.held >= OPS_IN_MEMORY:
            for s in self.ops:
                s.flush()
            self.held = 0

    def _fill_position(self, nid: int, event: Any, rec: FillRecord, old: FillRecord | None) -> None:
        if old is not None and old.position_key != rec.position_key:
            self._bust_position(nid, event, old)
            old = None
        c = rec.commission
        kind = ADD if old is None else REPLACE
        self._op(rec, nid, event, kind, rec.execution.exec_id, c, c is not None)

    def _bust_position(self, nid: int, event: Any, rec: FillRecord) -> None:
        self._op(rec, nid, event, REMOVE, rec.execution.exec_id)

    def _position_commission(self, nid: int, event: Any, rec: FillRecord, base: str) -> None:
        report = event.report
        self._op(rec, nid, event, COMMISSION, report.exec_id, report, True)

    def effect(self, rec: FillRecord, base: str) -> FillEffect:
        return _PENDING

    # ---- one order at a time -----------------------------------------------------------------

    def finish(self, oid: UUID) -> None:
        """The order's rows are final: write them and forget the order."""
        ch = self.changes
        created = ch.events[0][0] if ch.events else 0
        self.events_out.extend(ch.events)
        ch.events = []
        state = self.orders.get(oid)
        if state is None:
            return
        key = state.order_key
        self.orders_out.add(self.order_row(oid))
        for base, rec in self.fills.items():
            self.fills_out[self._bucket(rec.position_key)].add(self.fill_row(base))
        if state.parent_key or self.extras[oid].oca_key:
            member = self.member(key)
            assert member is not None
            self.members[key] = member
            self.created[key] = created
        del self.orders[oid], self.extras[oid], self.by_key[key]
        self.fills.clear()
        self.pending_commissions.clear()
        ch.orders.clear()
        ch.fills.clear()
        ch.groups.clear()


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


def group_rows(orders: OrderPass, log: EventLog, head: int) -> list[Row]:
    """The brackets' and OCA groups' rows, from the members kept and, for parents that are in
    no group themselves, their own events read again."""
    members = orders.members
    missing = [k for k in orders.children if k not in members]
    if missing:
        members.update(_members_of(log, {order_id_for(k) for k in missing}, head))
    created = orders.created

    def member(key: str) -> Member | None:
        return members.get(key)

    def in_log_order(keys: list[str]) -> list[Member]:
        keys = sorted(keys, key=lambda k: created.get(k, 0))
        return [m for k in keys if (m := member(k)) is not None]

    out: list[Row] = []
    for key, children in orders.children.items():
        found = in_log_order(children)
        if found:
            out.extend(_tuples(bracket_rows(key, member(key), found)))
    for key, keys in orders.oca.items():
        out.extend(_tuples(oca_rows(key, in_log_order(keys))))
    return out


def _tuples(rows: list[dict[str, Any]]) -> Iterator[Row]:
    return (tuple(r[c] for c in _BRACKET_COLUMNS) for r in rows)


def _members_of(log: EventLog, ids: set[UUID], head: int) -> dict[str, Member]:
    fold = Projection()
    for nid, event, payload in decode_rows(log.orders_rows(ids, head), False):
        fold.feed(nid, event, payload)
    return {key: m for key in fold.by_key if (m := fold.member(key)) is not None}


def orders_pass(
    log: EventLog, head: int, spill: SpillFolder, progress: Progress | None
) -> tuple[OrderPass, int]:
    """Every order folded, one at a time; (the pass, events read)."""
    fold = OrderPass(spill, head)
    current: UUID | None = None
    count = 0
    for nid, event, payload in decode_rows(log.rows_by_order(head), True):
        oid = event.originator_id
        if oid != current:
            if current is not None:
                fold.finish(current)
            current = oid
        fold.feed(nid, event, payload)
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    if current is not None:
        fold.finish(current)
    fold.head = head
    return fold, count


def positions_pass(fold: OrderPass, spill: SpillFolder) -> PositionPass:
    positions = PositionPass(
        RangeSpill(spill, POSITION_HISTORY), TableSpill(spill.file("fills.arrow"), FILLS)
    )
    for ops, fills in zip(fold.ops, fold.fills_out, strict=True):
        positions.bucket(ops, fills)
    return positions


@dataclass
class Rebuild:
    """Every table's rows from the first event up to ``head``. ``tables`` gives each table's
    rows as Arrow tables of at most about ``WRITE_ROWS`` rows, to be committed in that order;
    it removes the spill files once the last is taken."""

    log: EventLog
    head: int
    scratch: Path | None = None  # where the spill files go (see ``SpillFolder``)
    events: int = 0

    def tables(self, progress: Progress | None) -> Generator[tuple[TableSpec, Iterator[pa.Table]]]:
        spill = SpillFolder(self.scratch)
        try:
            fold, self.events = orders_pass(self.log, self.head, spill, progress)
            fold.events_out.close()
            positions = positions_pass(fold, spill)
            chunks = {
                EVENTS.name: fold.events_out.chunks(),
                ORDERS.name: sorted_chunks(fold.orders_out.close(), ORDERS),
                FILLS.name: sorted_chunks(positions.fills_out.close(), FILLS),
                POSITION_HISTORY.name: positions.history_out.chunks(),
                POSITIONS.name: iter([arrow_table(POSITIONS.schema, positions.rows)]),
                BRACKETS.name: iter(
                    [arrow_table(BRACKETS.schema, group_rows(fold, self.log, self.head))]
                ),
            }
            del fold, positions
            for spec in TABLES:
                yield spec, chunks.pop(spec.name)
        finally:
            spill.remove()
