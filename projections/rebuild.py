"""The rebuild: every table recomputed from the first event, streamed, so that memory follows
one order and one position at a time, not the history (docs/adr/0050-streaming-rebuild.md).

1. **Orders pass.** The log is read order by order (the store's primary key: an order's events
   together, oldest first), up to the head read when the rebuild began. ``OrderPass`` runs the
   update's own fold (``Projection.feed``) over one order at a time; when the next order begins
   the order's ``events`` rows, its ``orders`` row and its fills' rows are final: they go to
   spill files and the order's state is dropped. What the positions need of each fill event
   (an ``Op``) goes to the bucket of its position; the members of brackets and OCA groups stay.
2. **Positions pass** (``position_pass.py``). Bucket by bucket, each position's operations in
   log order run through the same ``Position`` methods the update runs, giving its history
   rows, its row and each fill's effect, which is written into the bucket's fill rows.
3. **Commit.** Each table is written once, streamed from its spill file, with the log position
   the orders pass read up to; the tables final after the orders pass are written while the
   positions pass runs (``file_writes.py``,
   docs/adr/0117-rebuild-writes-files-beside-its-passes.md), and the ``events`` rows of a
   history of a few days while the orders pass makes them (``events_beside``,
   docs/adr/0161-events-written-beside-the-orders-pass.md).

It equals the update's fold because a position depends only on its own operations in log
order, and an order's operations only on that order's events: IB's execIds belong to one
order (a commission report or a bust is recorded on the order of its execution).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.adapters.store.columnar_log import decoded_chunks
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.projection_decode import decode_rows_for_projection
from ordertrail.domain.state import OrderState
from ordertrail.projections.columnar_brackets import GroupedMembers, group_table
from ordertrail.projections.columns import EventColumns
from ordertrail.projections.describe import summary
from ordertrail.projections.fold import FillRecord, Projection
from ordertrail.projections.handoff import HandOff
from ordertrail.projections.member_spill import MemberSpill
from ordertrail.projections.position_pass import (
    ADD,
    COMMISSION,
    REMOVE,
    REPLACE,
    Op,
    PositionInputs,
    positions_pass,
)
from ordertrail.projections.positions import ZERO, FillEffect
from ordertrail.projections.records import Row
from ordertrail.projections.schema import (
    BRACKETS,
    EVENTS,
    FILLS,
    ORDERS,
    POSITION_HISTORY,
    POSITIONS,
    TableSpec,
    arrow_table,
)
from ordertrail.projections.sorted_spill import key_sorted
from ordertrail.projections.spill import SpillFolder, TableSpill, read_spill

# The fill rows' effect columns are filled in by the positions pass.
_PENDING = FillEffect(ZERO, ZERO, ZERO, None, None, ZERO, ZERO)
Progress = Callable[[int], None]
# The log up to a head as decoded chunks of whole orders (``columnar_log.DecodedChunk``).
ChunkSource = Callable[[EventLog, int], Iterable[Any]]
# A rebuilt table and its rows, in chunks.
RebuiltTable = tuple[TableSpec, Iterable[pa.Table]]
# Rows per decoded chunk. A chunk's columns, frames and rows are what the columnar route holds
# besides the fold's own state, and each chunk pays the passes' fixed costs (about 130 small
# polars and Arrow calls): at 1,000,000 events chunks of 50,000 rows cost ~0.5 s less CPU than
# chunks of 25,000, and 100,000 ~1 s less again; the rebuild's peak at 10,000,000 events
# stayed within 704-753 MiB for all three (ADR 0126). With two chunks decoded at once, chunks of
# 100,000 rows raised the peak by ~190 MiB at 1,000,000 events and ~225 at 10,000,000, and
# chunks of 50,000 gave the same wall time at the peak of one chunk of 100,000 ahead
# (ADR 0143).
CHUNK_ROWS = 50_000
# The first chunk is smaller: until it is decoded, the passes have nothing to work on and the
# second core idles.
FIRST_CHUNK_ROWS = 25_000
# Chunks decoded at once, ahead of the orders pass: the decode of a chunk takes about twice
# the pass's work on it, so with one the main thread waited two thirds of the time and the
# orders pass was the decode's length (ADR 0143).
DECODE_THREADS = 2


def rebuild_chunks(log: EventLog, head: int) -> Iterable[Any]:
    """The log up to ``head`` as the rebuild reads it: decoded chunks of ``CHUNK_ROWS``, the
    first of ``FIRST_CHUNK_ROWS``, ``DECODE_THREADS`` decoded ahead at once."""
    return decoded_chunks(log, head, CHUNK_ROWS, FIRST_CHUNK_ROWS, DECODE_THREADS)


# The chunks a rebuild that names none reads (None: every order folded, the route before the
# columns); the benchmark sets it to measure both routes in one run.
DEFAULT_CHUNKS: ChunkSource | None = rebuild_chunks


class OrderPass(Projection):
    """The update's fold, one order at a time; positions are left to the positions pass."""

    def __init__(self, spill: SpillFolder, head: int, handed: HandOff | None = None) -> None:
        super().__init__()
        self.spill = spill
        self.events_out = EventColumns(spill, handed)
        out = self.events_out
        self._event_columns = (
            out.notification_id.append,
            out.order_id.append,
            out.order_key.append,
            out.version.append,
            out.event_type.append,
            out.ts_event.append,
            out.ts_recorded.append,
            out.status.append,
            out.filled.append,
            out.summary.append,
            out.payload_bytes.append,
        )
        self.created_nid = 0  # the current order's creation
        self.orders_out = TableSpill(spill.file("orders.arrow"), ORDERS)
        # What the positions pass folds: each fill event's operation and each fill row.
        self.position_inputs = PositionInputs(spill, head)
        # The members of brackets and OCA groups, with their creation notification ids.
        self.grouped = GroupedMembers()
        self.others = MemberSpill(spill.file("members.arrow"))  # orders in no group

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
        self.position_inputs.add_op(op)

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

    def _noted(self, nid: int, event: Any, state: OrderState, payload: str | bytes | None) -> None:
        """The event's row, a value per column; no change notes (every row is written once,
        when its order is finished)."""
        extra = self.extras[event.originator_id]
        extra.events += 1
        if extra.events == 1:
            self.created_nid = nid
        extra.notification_id = nid
        ts = event.timestamp
        a_nid, a_oid, a_key, a_ver, a_type, a_ts_ib, a_ts, a_status, a_filled, a_sum, a_pay = (
            self._event_columns
        )
        a_nid(nid)
        a_oid(extra.order_id_text)
        a_key(state.order_key)
        a_ver(event.originator_version)
        a_type(type(event).__name__)
        a_ts_ib(event.ts_event)
        a_ts(ts)
        a_status(state.status._value_)  # not ``.value``: enum's descriptor, once per event
        a_filled(state.filled)
        a_sum(summary(event))
        a_pay(payload)

    def _session_message(self, nid: int, event: Any, payload: str | bytes | None) -> None:
        a_nid, a_oid, a_key, a_ver, a_type, a_ts_ib, a_ts, a_status, a_filled, a_sum, a_pay = (
            self._event_columns
        )
        a_nid(nid)
        a_oid(str(event.originator_id))
        a_key(f"session:{event.client_id}")
        a_ver(event.originator_version)
        a_type("SessionMessageRecorded")
        a_ts_ib(event.ts_event)
        a_ts(event.timestamp)
        a_status("")
        a_filled(None)
        a_sum(summary(event))
        a_pay(payload)

    def finish(self, oid: UUID) -> None:
        """The order's rows are final: write them and forget the order."""
        if self.events_out.full():
            self.events_out.flush()
        created = self.created_nid
        state = self.orders.get(oid)
        if state is None:
            return
        key = state.order_key
        self.orders_out.add(self.order_row(oid))
        for base, rec in self.fills.items():
            self.position_inputs.add_fill_row(self.fill_row(base), rec.position_key)
        member = self.member(key)
        assert member is not None
        oca_key = self.extras[oid].oca_key
        if state.parent_key or oca_key:
            self.grouped.add(member, created, state.parent_key or "", oca_key)
        else:
            self.others.add(member)
        del self.orders[oid], self.extras[oid], self.by_key[key]
        self.fills.clear()
        self.pending_commissions.clear()
        self.changes.fills.clear()


def spill_groups(orders: OrderPass, spill: SpillFolder) -> Path | None:
    """The groups' rows (``columnar_brackets``: computed in columns, parents in no group
    looked up in the spill of the others) written to a spill file, then the members dropped."""
    out = TableSpill(spill.file("brackets.arrow"), BRACKETS)
    table = group_table(orders.grouped.table(), orders.others.find_table)
    if table.num_rows:
        out.write_table(table)
    orders.grouped.clear()
    # The fold's own groups (its orders' keys by bracket and OCA group, kept as it folds their
    # creations) are not read here: the members' rows say the same.
    orders.children.clear()
    orders.oca.clear()
    return out.close()


def fold_orders(fold: OrderPass, rows: Iterable[Row], progress: Progress | None = None) -> int:
    """Stored rows, each order's together in version order, through the fold, each order
    finished when the next begins; the events folded."""
    current: UUID | None = None
    count = 0
    for nid, event, payload in decode_rows_for_projection(rows):
        oid = event.originator_id
        # The decoder hands an order's events one UUID object: identity says the order changed
        # (equality would call UUID.__eq__ once per event).
        if oid is not current:
            if current is not None:
                fold.finish(current)
            current = oid
        fold.feed(nid, event, payload)
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    if current is not None:
        fold.finish(current)
    return count


def orders_pass(
    log: EventLog,
    head: int,
    spill: SpillFolder,
    progress: Progress | None,
    handed: HandOff | None = None,
) -> tuple[OrderPass, int]:
    """Every order folded, one at a time; (the pass, events read)."""
    fold = OrderPass(spill, head, handed)
    count = fold_orders(fold, log.rows_by_order(head), progress)
    fold.head = head
    return fold, count


def columnar_orders_pass(
    log: EventLog,
    head: int,
    spill: SpillFolder,
    progress: Progress | None,
    chunks: Iterable[Any],
    columns: bool = True,
    handed: HandOff | None = None,
) -> tuple[OrderPass, int]:
    """Every order, a decoded chunk at a time: through the columns where they reproduce the
    fold exactly, else folded (``columns`` False: every order folded); (the pass, events
    read)."""
    from ordertrail.projections.columnar_pass import take_chunk

    fold = OrderPass(spill, head, handed)
    count = 0
    for chunk in chunks:
        count += take_chunk(fold, chunk, log, head, columns)
        if progress is not None:
            progress(count)
    fold.head = head
    return fold, count


@dataclass
class Rebuild:
    """Every table's rows from the first event up to ``head``. ``tables`` gives each table's
    rows as Arrow tables of at most about ``WRITE_ROWS`` rows, each table as soon as its rows
    are final: ``events``, ``orders`` and ``brackets`` when the orders pass ends (a consumer
    may write them on another thread while the positions pass runs), then
    ``position_history``, ``positions`` and ``fills``. With ``events_beside``, ``events``
    comes first, before the orders pass, as the ``HandOff`` its rows are handed to: its chunks
    must be taken on another thread while the tables that follow are asked for. ``spilled``
    gives the same, its spill files kept until the block ends; ``tables`` removes them once
    the last table is taken."""

    log: EventLog
    head: int
    scratch: Path | None = None  # where the spill files go (see ``SpillFolder``)
    events: int = 0
    # The log as decoded chunks (docs/adr/0105-orders-pass-from-columns.md): the orders the
    # columns cover go through them, the others through the fold (``columns`` False: every
    # order). None: every order is read, decoded and folded one event at a time.
    chunks: ChunkSource | None = field(default_factory=lambda: DEFAULT_CHUNKS)
    columns: bool = True
    # ``events`` given first, before the orders pass, as a ``HandOff`` its rows are handed to
    # as the pass makes them: for a consumer that writes each table on a thread of its own
    # (``file_writes.commit_rebuilt``), never for one that reads the tables in turn.
    events_beside: bool = False

    def _orders_pass(
        self, spill: SpillFolder, progress: Progress | None, handed: HandOff | None
    ) -> tuple[OrderPass, int]:
        if self.chunks is None:
            return orders_pass(self.log, self.head, spill, progress, handed)
        chunks = self.chunks(self.log, self.head)
        return columnar_orders_pass(
            self.log, self.head, spill, progress, chunks, self.columns, handed
        )

    def tables(self, progress: Progress | None) -> Generator[RebuiltTable]:
        with self.spilled(progress) as tables:
            yield from tables

    @contextmanager
    def spilled(self, progress: Progress | None) -> Iterator[Iterator[RebuiltTable]]:
        """The tables as ``tables`` gives them; their chunks can be read, on any thread,
        until the block ends, which removes the spill files."""
        spill = SpillFolder(self.scratch)
        try:
            yield self._tables(spill, progress)
        finally:
            spill.remove()

    def _tables(self, spill: SpillFolder, progress: Progress | None) -> Iterator[RebuiltTable]:
        handed = HandOff() if self.events_beside else None
        try:
            if handed is not None:
                yield EVENTS, handed
            fold, self.events = self._orders_pass(spill, progress, handed)
            fold.events_out.flush()
        except BaseException:  # the pass failed, or its consumer stopped asking
            if handed is not None:
                handed.abandon()  # the writer stops waiting for rows
            raise
        groups = spill_groups(fold, spill)
        events = fold.events_out.chunks()
        if handed is not None:
            handed.end(events)  # what was spilled after all follows the rows handed
        orders = key_sorted(fold.orders_out.close(), ORDERS, spill)
        inputs = fold.position_inputs
        del fold
        if handed is None:
            yield EVENTS, events
        yield ORDERS, orders
        yield BRACKETS, _group_chunks(groups)
        positions = positions_pass(inputs, spill)
        del inputs
        # Taken in this order by the threads that write them: the history's one file a day
        # first, beside the ranges of fills, which the threads share (docs/adr/0117).
        yield POSITION_HISTORY, positions.history_out.chunks()
        yield POSITIONS, [arrow_table(POSITIONS.schema, positions.rows)]
        yield FILLS, positions.fills_out.chunks()


def _group_chunks(path: Path | None) -> Iterator[pa.Table]:
    """The groups' rows from their spill file (deleted once read), when they are taken."""
    if path is None:
        yield BRACKETS.schema.empty_table()
        return
    table = read_spill(path)
    path.unlink(missing_ok=True)
    yield table
