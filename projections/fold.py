"""The projection: one pure fold from the notification log to the rows of every table.

``Projection.feed`` takes events in log order. It keeps each order's state (the domain's own
fold), the current executions, the positions and the group indexes, and notes which rows each
event touched together with the notification id that touched them last. ``Projection.batches``
turns those notes into rows for the tables that have not yet committed that notification, so a
table that committed further than another before a crash is never written twice.

Rows are tuples in their table's column order and go to Arrow column by column
(``schema.arrow_table``): a dict per row and ``pa.Table.from_pylist`` cost more than the fold
itself. Decimals are kept as computed and brought to the tables' scale only when they are
converted, and the keyed tables' rows are built once, when they are written.

No I/O here: the projector (``projector.py``) reads the log and writes Delta tables.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any
from uuid import UUID

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.domain.events import (
    CommissionReported,
    ExecutionCancelled,
    ExecutionCorrected,
    ExecutionRecorded,
    OrderCreated,
)
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, exec_base_id
from ordertrail.projections.brackets import Member, bracket_rows, oca_rows
from ordertrail.projections.describe import summary
from ordertrail.projections.positions import Position, PositionFill
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

# A row: its table's columns in schema order. Decimals may carry more than the tables' scale;
# ``arrow_table`` rounds them the way ``schema.dec`` does.
Row = tuple[Any, ...]
GroupKey = tuple[str, str]  # (kind, group key)
# Rows converted to Arrow at a time (``Batch.of``).
ROWS_PER_CHUNK = 16_384
PositionKey = tuple[str, int]  # (account, conId)
# Gives the stored state of a position the fold has not seen (None for a new one).
PositionLoader = Callable[[PositionKey], "Position | None"]


@dataclass(slots=True)
class OrderExtra:
    """What the projection knows of an order beyond its ``OrderState``."""

    order_id: UUID
    created_ib: datetime | None
    # str(order_id), once: every event row carries it and UUID.__str__ is not free.
    order_id_text: str = ""
    first_fill: tuple[datetime, int] | None = None
    first_fill_ib: datetime | None = None
    first_fill_recorded: datetime | None = None
    order_ref: str = ""
    events: int = 0
    notification_id: int = 0
    # The OCA group the order joined when it was created. Fixed then: IB fills in the account of
    # an order sent without one later (openOrder), and a group must not change its key.
    oca_key: str = ""


@dataclass(slots=True)
class FillRecord:
    """A current execution and what the journal says about it."""

    execution: Execution
    order_id: UUID
    order_key: str
    account: str
    contract: ContractRef
    # The order's terms when the fill was recorded: slippage is measured against them.
    limit_price: Decimal | None
    reference_price: Decimal | None
    ts_recorded: datetime
    first_recorded: datetime
    replaces_exec_id: str | None
    notification_id: int
    commission: CommissionReport | None = None

    @property
    def ts_ib(self) -> datetime:
        return self.execution.time or self.first_recorded

    @property
    def position_key(self) -> tuple[str, int]:
        return (self.account, self.contract.con_id)


@dataclass(slots=True)
class Changes:
    """Rows touched since the last flush, each with the last notification id that touched it.
    The append-only tables' rows are kept as they are made, in notification order."""

    events: list[Row] = field(default_factory=list)  # EVENTS' columns
    history: list[Row] = field(default_factory=list)  # POSITION_HISTORY's columns
    orders: dict[str, int] = field(default_factory=dict)
    fills: dict[str, int] = field(default_factory=dict)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    groups: dict[GroupKey, int] = field(default_factory=dict)

    def clear_appends(self) -> None:
        self.events = []
        self.history = []

    @property
    def size(self) -> int:
        return len(self.events) + len(self.history)


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows to upsert (or append) and keys to delete in one table."""

    table: pa.Table
    deletes: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def of(
        cls, spec: TableSpec, rows: Iterable[Row], deletes: list[tuple[Any, ...]] | None = None
    ) -> Batch:
        """Rows (a list or a generator) go to Arrow ``ROWS_PER_CHUNK`` at a time, so the Python
        tuples of a large batch never all exist at once."""
        it = iter(rows)
        parts = []
        while chunk := list(itertools.islice(it, ROWS_PER_CHUNK)):
            parts.append(arrow_table(spec.schema, chunk))
        if not parts:
            table = spec.schema.empty_table()
        elif len(parts) == 1:
            table = parts[0]
        else:
            table = pa.concat_tables(parts)
        return cls(table, deletes or [])

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (tests and debugging; the projector writes ``table``)."""
        rows: list[dict[str, Any]] = self.table.to_pylist()
        return rows

    def __bool__(self) -> bool:
        return bool(self.table.num_rows or self.deletes)


# Where the notification id sits in the append-only tables' rows.
_EVENT_NID = itemgetter(EVENTS.schema.get_field_index("notification_id"))
_HISTORY_NID = itemgetter(POSITION_HISTORY.schema.get_field_index("notification_id"))
_BRACKET_COLUMNS = tuple(BRACKETS.schema.names)
# The fill journal's columns a late fill, correction or bust of another fill of the position
# changes: the fill's own effect and the position right after it.
_FILL_ACCOUNT = FILLS.schema.get_field_index("account")
_FILL_CON_ID = FILLS.schema.get_field_index("con_id")
_EFFECT_COLUMNS = tuple(
    FILLS.schema.get_field_index(name)
    for name in (
        "realized_pnl",
        "realized_pnl_avg",
        "position_quantity",
        "position_avg_cost",
        "position_fifo_cost",
        "position_realized_pnl",
        "position_realized_pnl_avg",
    )
)


class Projection:
    """The state of the read models at notification ``head``: of every key when folded from
    the first event (a rebuild), or of the keys an update touches, restored from the store
    (``restore``) and the tables (``load_position``, ``stored_fills``)."""

    def __init__(self, load_position: PositionLoader | None = None) -> None:
        self.head = 0
        self.load_position = load_position
        # Journal rows of current fills whose order was not restored, by execId base: a late
        # fact of their position rewrites their effect columns only.
        self.stored_fills: dict[str, Row] = {}
        self._restoring = False
        self.orders: dict[UUID, OrderState] = {}
        self.extras: dict[UUID, OrderExtra] = {}
        self.by_key: dict[str, UUID] = {}
        self.children: dict[str, list[str]] = {}
        self.oca: dict[str, list[str]] = {}
        self.fills: dict[str, FillRecord] = {}
        self.pending_commissions: dict[str, CommissionReport] = {}
        self.positions: dict[tuple[str, int], Position] = {}
        self.position_updates: dict[tuple[str, int], tuple[datetime, int]] = {}
        self.changes = Changes()

    def restore(self, events: Iterable[tuple[int, Any, str]]) -> None:
        """Bring back the state of some orders (their fills, pending commissions and groups)
        from their stored events, up to the tables' position. Positions are not touched (they
        come from the tables) and no row is produced."""
        head, changes = self.head, self.changes
        self._restoring = True
        self.changes = Changes()
        try:
            for nid, event, _ in events:
                self.feed(nid, event)
        finally:
            self._restoring = False
            self.head, self.changes = head, changes

    def unrecorded_fills(self) -> list[str]:
        """Changed fills whose journal row must come from the table (their order was not
        restored): a late fact of their position changed their effect."""
        fills, stored = self.fills, self.stored_fills
        positions = self.positions.values()
        return [
            b
            for b in self.changes.fills
            if b not in fills and b not in stored and any(b in p.effects for p in positions)
        ]

    # ---- folding -----------------------------------------------------------------------------

    def feed(self, nid: int, event: Any, payload: str | None = None) -> None:
        oid: UUID = event.originator_id
        t = type(event)
        if t is OrderCreated:
            state = event.new_state()
            self.orders[oid] = state
            self.extras[oid] = OrderExtra(
                oid, event.ts_event, str(oid), order_ref=state.client_order_id or ""
            )
            self.by_key[state.order_key] = oid
            if state.parent_key:
                self.children.setdefault(state.parent_key, []).append(state.order_key)
            if state.spec.oca_group:
                oca_key = self._oca_key(state)
                self.extras[oid].oca_key = oca_key
                self.oca.setdefault(oca_key, []).append(state.order_key)
        else:
            found = self.orders.get(oid)
            if found is None:
                # An event of an order whose creation is not in the log: nothing to fold into.
                self.head = nid
                return
            state = found
            event.fold(state)
            if t is ExecutionRecorded or t is ExecutionCorrected:
                self._fill(nid, event, state)
            elif t is ExecutionCancelled:
                self._bust(nid, event)
            elif t is CommissionReported:
                self._commission(nid, event)
        extra = self.extras[oid]
        extra.events += 1
        extra.notification_id = nid
        key = state.order_key
        ch = self.changes
        ch.orders[key] = nid
        if key in self.children:
            ch.groups[("bracket", key)] = nid
        if state.parent_key:
            ch.groups[("bracket", state.parent_key)] = nid
        if extra.oca_key:
            ch.groups[("oca", extra.oca_key)] = nid
        ts = event.timestamp
        ch.events.append(
            (
                nid,
                extra.order_id_text,
                key,
                event.originator_version,
                t.__name__,
                event.ts_event,
                ts,
                ts.date(),
                state.status.value,
                state.filled,
                summary(event),
                payload,
            )
        )
        self.head = nid

    @staticmethod
    def _oca_key(state: OrderState) -> str:
        return f"{state.spec.account}/{state.spec.oca_group}"

    def _position(self, rec: FillRecord) -> Position:
        key = rec.position_key
        pos = self.positions.get(key)
        if pos is None and self.load_position is not None:
            pos = self.load_position(key)
            if pos is not None:
                self.positions[key] = pos
        if pos is None:
            c = rec.contract
            pos = Position(rec.account, c.con_id, c.symbol, c.sec_type, c.currency, c.multiplier)
            self.positions[key] = pos
        return pos

    def _fill(self, nid: int, event: Any, state: OrderState) -> None:
        x: Execution = event.execution
        base = x.base_id
        old = self.fills.get(base)
        rec = FillRecord(
            execution=x,
            order_id=event.originator_id,
            order_key=state.order_key,
            account=x.account or state.spec.account,
            contract=state.contract,
            limit_price=state.spec.limit_price,
            reference_price=state.spec.reference_price,
            ts_recorded=event.timestamp,
            first_recorded=old.first_recorded if old is not None else event.timestamp,
            replaces_exec_id=getattr(event, "replaces_exec_id", None),
            notification_id=nid,
            commission=old.commission if old is not None else None,
        )
        pending = self.pending_commissions.pop(base, None)
        if pending is not None:
            rec.commission = pending
        self.fills[base] = rec
        if not self._restoring:
            self._fill_position(nid, event, rec, old)
        extra = self.extras[event.originator_id]
        if x.order_ref and not extra.order_ref:
            extra.order_ref = x.order_ref
        if extra.first_fill is None:
            extra.first_fill = (rec.ts_ib, nid)
            extra.first_fill_ib = x.time
            extra.first_fill_recorded = event.timestamp

    def _fill_position(self, nid: int, event: Any, rec: FillRecord, old: FillRecord | None) -> None:
        x = rec.execution
        base = x.base_id
        pf = PositionFill(base, (rec.ts_ib, base), x.shares * x.side.sign, x.price)
        if old is not None and old.position_key != rec.position_key:
            self._bust_position(nid, event, old)
            old = None
        pos = self._position(rec)
        changed = pos.add(pf) if old is None else pos.replace(pf)
        if rec.commission is not None:
            c = rec.commission
            pos.set_commission(base, c.commission, c.currency)
        for b in changed:
            self.changes.fills[b] = nid
        self.changes.fills[base] = nid
        self._position_changed(nid, event, pos, x.exec_id)

    def _bust_position(self, nid: int, event: Any, rec: FillRecord) -> None:
        pos = self._position(rec)
        base = rec.execution.base_id
        pos.set_commission(base, None, "")
        for b in pos.remove(base):
            self.changes.fills[b] = nid
        self._position_changed(nid, event, pos, rec.execution.exec_id)

    def _bust(self, nid: int, event: Any) -> None:
        base = exec_base_id(event.exec_id)
        rec = self.fills.pop(base, None)
        if rec is None or self._restoring:
            return
        self.stored_fills.pop(base, None)
        self.changes.fills[base] = nid
        self._bust_position(nid, event, rec)

    def _commission(self, nid: int, event: Any) -> None:
        report: CommissionReport = event.report
        base = exec_base_id(report.exec_id)
        rec = self.fills.get(base)
        if rec is None:
            self.pending_commissions[base] = report
            return
        rec.commission = report
        if self._restoring:
            return
        pos = self._position(rec)
        pos.set_commission(base, report.commission, report.currency)
        self.changes.fills[base] = nid
        self._position_changed(nid, event, pos, report.exec_id)

    def _position_changed(self, nid: int, event: Any, pos: Position, exec_id: str) -> None:
        ts = event.timestamp
        key = pos.key
        self.position_updates[key] = (ts, nid)
        self.changes.positions[key] = nid
        self.changes.history.append(
            (
                *self._position_columns(pos),
                nid,
                type(event).__name__,
                exec_id,
                event.ts_event,
                ts,
                ts.date(),
            )
        )

    # ---- rows (tuples in their table's column order) -----------------------------------------

    @staticmethod
    def _position_columns(pos: Position) -> Row:
        run = pos.run
        q = run.quantity
        return (
            pos.account,
            pos.con_id,
            pos.symbol,
            pos.sec_type,
            pos.currency,
            pos.multiplier,
            q,
            run.avg_cost if q else None,
            run.lots_notional / q if q else None,
            run.realized,
            run.realized_avg,
            pos.commission,
            len(pos.foreign_commissions),
            len(pos.fills),
            pos.fills[-1].sort_key[0] if pos.fills else None,
        )

    def order_row(self, oid: UUID) -> Row:
        s = self.orders[oid]
        e = self.extras[oid]
        c, sp = s.contract, s.spec
        return (
            s.order_key,
            e.order_id_text,
            s.client_order_id,
            e.order_ref or None,
            s.perm_id,
            s.origin,
            sp.account,
            c.con_id,
            c.symbol,
            c.sec_type,
            c.currency,
            c.multiplier,
            sp.action.value,
            sp.order_type.value,
            sp.quantity,
            sp.limit_price,
            sp.stop_price,
            sp.reference_price,
            sp.tif.value,
            sp.oca_group or None,
            sp.oca_type,
            s.parent_key,
            s.group_id,
            s.status.value,
            s.filled,
            s.remaining,
            s.avg_fill_price,
            s.commission_total,
            s.cancel_requested,
            s.errors,
            f"{s.last_error[0]}: {s.last_error[1]}" if s.last_error else None,
            ",".join(s.anomalies),
            ",".join(f"{c}/{o}" for c, o in s.aliases),
            e.created_ib,
            s.created_at,
            s.updated_at,
            e.first_fill_ib,
            e.first_fill_recorded,
            e.events,
            e.notification_id,
        )

    def fill_row(self, base: str) -> Row:
        r = self.fills.get(base)
        if r is None:
            return self._stored_fill_row(base)
        x = r.execution
        eff = self.positions[r.position_key].effects[base]
        sign = x.side.sign
        c = r.commission
        state = self.orders[r.order_id]
        contract = r.contract
        limit, reference = r.limit_price, r.reference_price
        return (
            base,
            x.exec_id,
            r.replaces_exec_id,
            self.extras[r.order_id].order_id_text,
            r.order_key,
            state.client_order_id,
            x.order_ref or None,
            x.perm_id or state.perm_id,
            x.order_id,
            x.client_id,
            r.account,
            contract.con_id,
            contract.symbol,
            contract.sec_type,
            contract.currency,
            contract.multiplier,
            x.exchange,
            x.side.value,
            x.shares,
            x.price,
            x.time,
            x.time or r.first_recorded,  # ts_ib
            r.ts_recorded,
            r.first_recorded,
            c.commission if c is not None else None,
            c.currency if c is not None else None,
            c.realized_pnl if c is not None else None,
            eff.realized_pnl,
            eff.realized_pnl_avg,
            limit,
            reference,
            # Positive slippage is a cost: bought above, or sold below, the price we meant.
            (x.price - limit) * sign if limit is not None else None,
            (x.price - reference) * sign if reference is not None else None,
            eff.quantity,
            eff.avg_cost,
            eff.fifo_cost,
            eff.cum_realized_pnl,
            eff.cum_realized_pnl_avg,
            r.notification_id,
        )

    def _stored_fill_row(self, base: str) -> Row:
        """A stored journal row with its effect columns recomputed (its position changed)."""
        row = list(self.stored_fills[base])
        account, con_id = row[_FILL_ACCOUNT], row[_FILL_CON_ID]
        eff = self.positions[(account, con_id)].effects[base]
        values = (
            eff.realized_pnl,
            eff.realized_pnl_avg,
            eff.quantity,
            eff.avg_cost,
            eff.fifo_cost,
            eff.cum_realized_pnl,
            eff.cum_realized_pnl_avg,
        )
        for i, value in zip(_EFFECT_COLUMNS, values, strict=True):
            row[i] = value
        return tuple(row)

    def position_row(self, key: tuple[str, int]) -> Row:
        ts, nid = self.position_updates[key]
        return (*self._position_columns(self.positions[key]), ts, nid)

    def member(self, order_key: str) -> Member | None:
        oid = self.by_key.get(order_key)
        if oid is None:
            return None
        s = self.orders[oid]
        return Member(
            order_key,
            s.status,
            s.spec.quantity,
            s.filled,
            s.spec.oca_type,
            self.extras[oid].first_fill,
        )

    def group_rows(self, group: GroupKey) -> list[Row]:
        kind, key = group
        if kind == "bracket":
            members = [m for k in self.children.get(key, []) if (m := self.member(k))]
            rows = bracket_rows(key, self.member(key), members) if members else []
        else:
            members = [m for k in self.oca.get(key, []) if (m := self.member(k))]
            rows = oca_rows(key, members)
        return [tuple(r[c] for c in _BRACKET_COLUMNS) for r in rows]

    def batches(
        self, since: Mapping[str, int], tables: Collection[str] | None = None
    ) -> dict[str, Batch]:
        """Rows of the pending changes for each table (or only ``tables``), leaving out what a
        table has already committed (its notification id ``since``)."""
        ch = self.changes
        out: dict[str, Batch] = {}

        def wanted(spec: TableSpec) -> int | None:
            if tables is not None and spec.name not in tables:
                return None
            return since.get(spec.name, 0)

        # The append-only rows are in notification order: skip the committed prefix.
        if (v := wanted(EVENTS)) is not None:
            rows = ch.events[bisect.bisect_right(ch.events, v, key=_EVENT_NID) :]
            out[EVENTS.name] = Batch.of(EVENTS, rows)
        if (v := wanted(POSITION_HISTORY)) is not None:
            rows = ch.history[bisect.bisect_right(ch.history, v, key=_HISTORY_NID) :]
            out[POSITION_HISTORY.name] = Batch.of(POSITION_HISTORY, rows)
        if (v := wanted(ORDERS)) is not None:
            by_key = self.by_key
            order_rows = (self.order_row(by_key[k]) for k, n in ch.orders.items() if n > v)
            out[ORDERS.name] = Batch.of(ORDERS, order_rows)
        if (v := wanted(FILLS)) is not None:
            fills, stored = self.fills, self.stored_fills
            changed = [b for b, n in ch.fills.items() if n > v]
            deletes = [(b,) for b in changed if b not in fills and b not in stored]
            fill_rows = (self.fill_row(b) for b in changed if b in fills or b in stored)
            out[FILLS.name] = Batch.of(FILLS, fill_rows, deletes)
        if (v := wanted(POSITIONS)) is not None:
            pos_rows = (self.position_row(k) for k, n in ch.positions.items() if n > v)
            out[POSITIONS.name] = Batch.of(POSITIONS, pos_rows)
        if (v := wanted(BRACKETS)) is not None:
            group_rows = (r for g, n in ch.groups.items() if n > v for r in self.group_rows(g))
            out[BRACKETS.name] = Batch.of(BRACKETS, group_rows)
        return out
