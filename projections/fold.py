"""The projection: one pure fold from the notification log to the rows of every table.

``Projection.feed`` takes events in log order. It keeps each order's state (the domain's own
fold), the current executions, the positions and the group indexes, and notes which rows each
event touched together with the notification id that touched them last. ``Projection.batches``
turns those notes into rows for the tables that have not yet committed that notification, so a
table that committed further than another before a crash is never written twice.

No I/O here: the projector (``projector.py``) reads the log and writes Delta tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ordertrail.domain.events import (
    AnomalyRecorded,
    CommissionReported,
    ErrorReported,
    ExecutionCancelled,
    ExecutionCorrected,
    ExecutionRecorded,
    IdentifiersBound,
    ModificationAcknowledged,
    ModificationRequested,
    OrderCreated,
    RiskDenied,
    StatusReported,
    SubmissionRequested,
)
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, exec_base_id
from ordertrail.projections.brackets import Member, bracket_rows, oca_rows
from ordertrail.projections.positions import Position, PositionFill
from ordertrail.projections.schema import (
    BRACKETS,
    EVENTS,
    FILLS,
    ORDERS,
    POSITION_HISTORY,
    POSITIONS,
    dec,
)

Row = dict[str, Any]
GroupKey = tuple[str, str]  # (kind, group key)


@dataclass(slots=True)
class OrderExtra:
    """What the projection knows of an order beyond its ``OrderState``."""

    order_id: UUID
    created_ib: datetime | None
    first_fill: tuple[datetime, int] | None = None
    first_fill_ib: datetime | None = None
    first_fill_recorded: datetime | None = None
    order_ref: str = ""
    events: int = 0
    notification_id: int = 0


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
    """Rows touched since the last flush, each with the last notification id that touched it."""

    events: list[Row] = field(default_factory=list)
    history: list[Row] = field(default_factory=list)
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

    rows: list[Row]
    deletes: list[tuple[Any, ...]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rows or self.deletes)


def summary(event: Any) -> str:
    """One human line per event for the timeline."""
    t = type(event)
    if t is OrderCreated:
        s = event.spec
        price = f" {s.limit_price}" if s.limit_price is not None else ""
        stop = f" stop {s.stop_price}" if s.stop_price is not None else ""
        return (
            f"{event.origin}: {s.action.value} {s.quantity} {event.contract.symbol} "
            f"{s.order_type.value}{price}{stop} {s.tif.value}"
        )
    if t is SubmissionRequested:
        return f"submit as clientId {event.client_id} orderId {event.order_id}"
    if t is RiskDenied:
        return f"{event.rule}: {event.reason}"
    if t is StatusReported:
        return (
            f"{event.raw_status} filled={event.filled} remaining={event.remaining} "
            f"avg={event.avg_fill_price}" + (f" whyHeld={event.why_held}" if event.why_held else "")
        )
    if t is ExecutionRecorded or t is ExecutionCorrected:
        x = event.execution
        text = f"{x.side.value} {x.shares} @ {x.price} {x.exec_id}"
        return text + (f" corrects {event.replaces_exec_id}" if t is ExecutionCorrected else "")
    if t is ExecutionCancelled:
        return f"execution {event.exec_id} cancelled: {event.reason}"
    if t is CommissionReported:
        r = event.report
        return f"commission {r.commission} {r.currency} for {r.exec_id}"
    if t is ErrorReported:
        return f"error {event.code}: {event.message}"
    if t is AnomalyRecorded:
        return f"anomaly {event.kind}: expected {event.expected}; received {event.received}"
    if t is ModificationRequested or t is ModificationAcknowledged:
        s = event.spec
        return f"quantity={s.quantity} limit={s.limit_price} stop={s.stop_price}"
    if t is IdentifiersBound:
        return f"permId={event.perm_id} clientId={event.client_id} orderId={event.order_id}"
    return ""


class Projection:
    """The state of every read model at notification ``head``."""

    def __init__(self) -> None:
        self.head = 0
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

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["changes"] = Changes()
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)

    # ---- folding -----------------------------------------------------------------------------

    def feed(self, nid: int, event: Any, payload: str | None = None) -> None:
        oid: UUID = event.originator_id
        t = type(event)
        if t is OrderCreated:
            state = event.new_state()
            self.orders[oid] = state
            self.extras[oid] = OrderExtra(
                oid, event.ts_event, order_ref=state.client_order_id or ""
            )
            self.by_key[state.order_key] = oid
            if state.parent_key:
                self.children.setdefault(state.parent_key, []).append(state.order_key)
            if state.spec.oca_group:
                self.oca.setdefault(self._oca_key(state), []).append(state.order_key)
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
        if state.spec.oca_group:
            ch.groups[("oca", self._oca_key(state))] = nid
        ts = event.timestamp
        ch.events.append(
            {
                "notification_id": nid,
                "order_id": str(oid),
                "order_key": key,
                "version": event.originator_version,
                "event_type": t.__name__,
                "ts_event": event.ts_event,
                "ts_recorded": ts,
                "day": ts.date(),
                "status": state.status.value,
                "filled": dec(state.filled),
                "summary": summary(event),
                "payload": payload,
            }
        )
        self.head = nid

    @staticmethod
    def _oca_key(state: OrderState) -> str:
        return f"{state.spec.account}/{state.spec.oca_group}"

    def _position(self, rec: FillRecord) -> Position:
        key = rec.position_key
        pos = self.positions.get(key)
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
        extra = self.extras[event.originator_id]
        if x.order_ref and not extra.order_ref:
            extra.order_ref = x.order_ref
        if extra.first_fill is None:
            extra.first_fill = (rec.ts_ib, nid)
            extra.first_fill_ib = x.time
            extra.first_fill_recorded = event.timestamp

    def _bust_position(self, nid: int, event: Any, rec: FillRecord) -> None:
        pos = self.positions[rec.position_key]
        base = rec.execution.base_id
        pos.set_commission(base, None, "")
        for b in pos.remove(base):
            self.changes.fills[b] = nid
        self._position_changed(nid, event, pos, rec.execution.exec_id)

    def _bust(self, nid: int, event: Any) -> None:
        base = exec_base_id(event.exec_id)
        rec = self.fills.pop(base, None)
        if rec is None:
            return
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
        pos = self.positions[rec.position_key]
        pos.set_commission(base, report.commission, report.currency)
        self.changes.fills[base] = nid
        self._position_changed(nid, event, pos, report.exec_id)

    def _position_changed(self, nid: int, event: Any, pos: Position, exec_id: str) -> None:
        ts = event.timestamp
        self.position_updates[pos.key] = (ts, nid)
        self.changes.positions[pos.key] = nid
        row = self._position_row(pos)
        row.update(
            notification_id=nid,
            cause=type(event).__name__,
            exec_id=exec_id,
            ts_event=event.ts_event,
            ts_recorded=ts,
            day=ts.date(),
        )
        self.changes.history.append(row)

    # ---- rows --------------------------------------------------------------------------------

    @staticmethod
    def _position_row(pos: Position) -> Row:
        return {
            "account": pos.account,
            "con_id": pos.con_id,
            "symbol": pos.symbol,
            "sec_type": pos.sec_type,
            "currency": pos.currency,
            "multiplier": dec(pos.multiplier),
            "quantity": dec(pos.quantity),
            "avg_cost": dec(pos.avg_cost),
            "fifo_cost": dec(pos.fifo_cost),
            "realized_pnl": dec(pos.realized_pnl),
            "realized_pnl_avg": dec(pos.realized_pnl_avg),
            "commission": dec(pos.commission),
            "foreign_commissions": len(pos.foreign_commissions),
            "fills": len(pos.fills),
            "last_fill_ib": pos.last_fill_time,
        }

    def order_row(self, oid: UUID) -> Row:
        s = self.orders[oid]
        e = self.extras[oid]
        c, sp = s.contract, s.spec
        return {
            "order_key": s.order_key,
            "order_id": str(oid),
            "client_order_id": s.client_order_id,
            "order_ref": e.order_ref or None,
            "perm_id": s.perm_id,
            "origin": s.origin,
            "account": sp.account,
            "con_id": c.con_id,
            "symbol": c.symbol,
            "sec_type": c.sec_type,
            "currency": c.currency,
            "multiplier": dec(c.multiplier),
            "action": sp.action.value,
            "order_type": sp.order_type.value,
            "quantity": dec(sp.quantity),
            "limit_price": dec(sp.limit_price),
            "stop_price": dec(sp.stop_price),
            "reference_price": dec(sp.reference_price),
            "tif": sp.tif.value,
            "oca_group": sp.oca_group or None,
            "oca_type": sp.oca_type,
            "parent_key": s.parent_key,
            "group_id": s.group_id,
            "status": s.status.value,
            "filled": dec(s.filled),
            "remaining": dec(s.remaining),
            "avg_fill_price": dec(s.avg_fill_price),
            "commission": dec(s.commission_total),
            "cancel_requested": s.cancel_requested,
            "errors": s.errors,
            "last_error": f"{s.last_error[0]}: {s.last_error[1]}" if s.last_error else None,
            "anomalies": ",".join(s.anomalies),
            "aliases": ",".join(f"{c}/{o}" for c, o in s.aliases),
            "created_ib": e.created_ib,
            "created_recorded": s.created_at,
            "updated_recorded": s.updated_at,
            "first_fill_ib": e.first_fill_ib,
            "first_fill_recorded": e.first_fill_recorded,
            "events": e.events,
            "notification_id": e.notification_id,
        }

    def fill_row(self, base: str) -> Row:
        r = self.fills[base]
        x = r.execution
        pos = self.positions[r.position_key]
        eff = pos.effects[base]
        sign = x.side.sign
        c = r.commission
        state = self.orders[r.order_id]
        return {
            "exec_base_id": base,
            "exec_id": x.exec_id,
            "replaces_exec_id": r.replaces_exec_id,
            "order_id": str(r.order_id),
            "order_key": r.order_key,
            "client_order_id": state.client_order_id,
            "order_ref": x.order_ref or None,
            "perm_id": x.perm_id or state.perm_id,
            "ib_order_id": x.order_id,
            "client_id": x.client_id,
            "account": r.account,
            "con_id": r.contract.con_id,
            "symbol": r.contract.symbol,
            "sec_type": r.contract.sec_type,
            "currency": r.contract.currency,
            "multiplier": dec(r.contract.multiplier),
            "exchange": x.exchange,
            "side": x.side.value,
            "quantity": dec(x.shares),
            "price": dec(x.price),
            "ts_event": x.time,
            "ts_ib": r.ts_ib,
            "ts_recorded": r.ts_recorded,
            "first_recorded": r.first_recorded,
            "commission": dec(c.commission) if c is not None else None,
            "commission_currency": c.currency if c is not None else None,
            "ib_realized_pnl": dec(c.realized_pnl) if c is not None else None,
            "realized_pnl": dec(eff.realized_pnl),
            "realized_pnl_avg": dec(eff.realized_pnl_avg),
            "limit_price": dec(r.limit_price),
            "reference_price": dec(r.reference_price),
            # Positive slippage is a cost: bought above, or sold below, the price we meant.
            "slippage_vs_limit": (
                dec((x.price - r.limit_price) * sign) if r.limit_price is not None else None
            ),
            "slippage_vs_reference": (
                dec((x.price - r.reference_price) * sign) if r.reference_price is not None else None
            ),
            "position_quantity": dec(eff.quantity),
            "position_avg_cost": dec(eff.avg_cost),
            "position_fifo_cost": dec(eff.fifo_cost),
            "position_realized_pnl": dec(eff.cum_realized_pnl),
            "position_realized_pnl_avg": dec(eff.cum_realized_pnl_avg),
            "notification_id": r.notification_id,
        }

    def position_row(self, key: tuple[str, int]) -> Row:
        pos = self.positions[key]
        row = self._position_row(pos)
        ts, nid = self.position_updates[key]
        row.update(updated_recorded=ts, notification_id=nid)
        return row

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
            return bracket_rows(key, self.member(key), members) if members else []
        members = [m for k in self.oca.get(key, []) if (m := self.member(k))]
        return oca_rows(key, members)

    def batches(self, since: Mapping[str, int]) -> dict[str, Batch]:
        """Rows of the pending changes for each table, leaving out what a table has already
        committed (its notification id ``since``)."""
        ch = self.changes
        out: dict[str, Batch] = {}
        v = since.get(EVENTS.name, 0)
        out[EVENTS.name] = Batch([r for r in ch.events if r["notification_id"] > v])
        v = since.get(POSITION_HISTORY.name, 0)
        out[POSITION_HISTORY.name] = Batch([r for r in ch.history if r["notification_id"] > v])
        v = since.get(ORDERS.name, 0)
        out[ORDERS.name] = Batch(
            [self.order_row(self.by_key[k]) for k, n in ch.orders.items() if n > v]
        )
        v = since.get(FILLS.name, 0)
        rows, deletes = [], []
        for base, n in ch.fills.items():
            if n <= v:
                continue
            if base in self.fills:
                rows.append(self.fill_row(base))
            else:
                deletes.append((base,))
        out[FILLS.name] = Batch(rows, deletes)
        v = since.get(POSITIONS.name, 0)
        out[POSITIONS.name] = Batch(
            [self.position_row(k) for k, n in ch.positions.items() if n > v]
        )
        v = since.get(BRACKETS.name, 0)
        out[BRACKETS.name] = Batch(
            [r for g, n in ch.groups.items() if n > v for r in self.group_rows(g)]
        )
        return out
