"""The projection: one pure fold from the notification log to the state of every read model.

``Projection.feed`` takes events in log order. It keeps each order's state (the domain's own
fold), the current executions, the positions and the group indexes, and notes which rows each
event touched together with the notification id that touched them last. ``batches`` (in
``rows.py``) turns those notes into rows for the tables that have not yet committed that
notification, so a table that committed further than another before a crash is never written
twice.

No I/O here: the projector (``projector.py``) reads the log and writes Delta tables, and an
update hands the fold what it restored from them (``restore.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from ordertrail.domain.events import (
    CommissionReported,
    ExecutionCancelled,
    ExecutionCorrected,
    ExecutionRecorded,
    OrderCreated,
)
from ordertrail.domain.session import SessionMessageRecorded
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import CommissionReport, Execution, exec_base_id
from ordertrail.projections.describe import summary
from ordertrail.projections.positions import Position, PositionFill
from ordertrail.projections.records import (
    Changes,
    FillRecord,
    OrderExtra,
    PositionKey,
    PositionLoader,
    Row,
    book_of,
    origin_of,
)
from ordertrail.projections.rows import TableRows

__all__ = ["Changes", "FillRecord", "OrderExtra", "PositionKey", "Projection", "Row"]


class Projection(TableRows):
    """The state of the read models at notification ``head``: of every key when folded from
    the first event (a rebuild), or of the keys an update touches, restored from the store
    (``restore``) and the tables (``load_position``, ``stored_fills``)."""

    def __init__(
        self,
        load_position: PositionLoader | None = None,
        load_fills: PositionLoader | None = None,
    ) -> None:
        self.head = 0
        # An update's positions: resumed from their running state, and, when a late fact needs
        # them, refolded from their stored fills.
        self.load_position = load_position
        self.load_fills = load_fills
        # Journal rows of current fills whose order was not restored, by execId base: a late
        # fact of their position rewrites their effect columns only.
        self.stored_fills: dict[str, Row] = {}
        # Fills whose row changes while their figures do not (a commission of a fill stored by
        # an earlier update): their figures are read from the journal after the fold.
        self.stored_effects: set[str] = set()
        self._restoring = False
        self.orders: dict[UUID, OrderState] = {}
        self.extras: dict[UUID, OrderExtra] = {}
        self.by_key: dict[str, UUID] = {}
        self.children: dict[str, list[str]] = {}
        self.oca: dict[str, list[str]] = {}
        self.fills: dict[str, FillRecord] = {}
        self.pending_commissions: dict[str, CommissionReport] = {}
        self.positions: dict[PositionKey, Position] = {}
        self.position_updates: dict[PositionKey, tuple[datetime, int]] = {}
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

    def unfolded_effects(self) -> dict[str, Position]:
        """Fills whose row changes but whose figures this update did not fold (only their
        commission moved), with the position their stored figures go to."""
        out = {}
        for base in self.stored_effects:
            rec = self.fills.get(base)
            pos = None if rec is None else self.positions.get(rec.position_key)
            if pos is not None and base not in pos.effects:
                out[base] = pos
        return out

    # ---- folding -----------------------------------------------------------------------------

    def feed(self, nid: int, event: Any, payload: str | bytes | None = None) -> None:
        state = self._fold(nid, event, payload)
        if state is not None:
            self._noted(nid, event, state, payload)
        self.head = nid

    def _fold(self, nid: int, event: Any, payload: str | bytes | None) -> OrderState | None:
        """The event applied to its order's state (None: it has no order to fold into)."""
        oid: UUID = event.originator_id
        t = type(event)
        if t is OrderCreated:
            state: OrderState = event.new_state()
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
            return state
        found = self.orders.get(oid)
        if found is None:
            if t is SessionMessageRecorded:
                self._session_message(nid, event, payload)
            # An event of an order whose creation is not in the log: nothing to fold into.
            return None
        event.fold(found)
        if t is ExecutionRecorded or t is ExecutionCorrected:
            self._fill(nid, event, found)
        elif t is ExecutionCancelled:
            self._bust(nid, event)
        elif t is CommissionReported:
            self._commission(nid, event)
        return found

    def _noted(self, nid: int, event: Any, state: OrderState, payload: str | bytes | None) -> None:
        """What the event changed: its order's row, its groups' rows, and its own row."""
        extra = self.extras[event.originator_id]
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
                type(event).__name__,
                event.ts_event,
                ts,
                ts.date(),
                # The member's own attribute: ``.value`` goes through enum's descriptor, and
                # this runs once per event of the log.
                state.status._value_,
                state.filled,
                summary(event),
                payload,
            )
        )

    def _session_message(self, nid: int, event: Any, payload: str | bytes | None) -> None:
        """IB's messages about no order land in ``events`` beside the orders' own, keyed by the
        session (client id) rather than an order, so the errors view lists them too."""
        ts = event.timestamp
        self.changes.events.append(
            (
                nid,
                str(event.originator_id),
                f"session:{event.client_id}",
                event.originator_version,
                "SessionMessageRecorded",
                event.ts_event,
                ts,
                ts.date(),
                "",
                None,
                summary(event),
                payload,
            )
        )

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
            pos = Position(
                rec.account,
                c.con_id,
                book_of(rec.origin),
                c.symbol,
                c.sec_type,
                c.currency,
                c.multiplier,
            )
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
            origin=origin_of(state.origin),
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
        if pos.needs_fills(pf.sort_key, base if old is not None else None):
            pos = self._with_fills(pos)
        changed = pos.add(pf) if old is None else pos.replace(pf)
        if rec.commission is not None:
            c = rec.commission
            pos.set_commission(base, c.commission, c.currency)
        for b in changed:
            self.changes.fills[b] = nid
        self.changes.fills[base] = nid
        self._position_changed(nid, event, pos, x.exec_id)

    def _with_fills(self, pos: Position) -> Position:
        """The position refolded from its stored fills, with what this update added since."""
        assert self.load_fills is not None
        full = self.load_fills(pos.key)
        if full is None:
            raise LookupError(f"position {pos.key} has a running state but no stored row")
        pos.replay_onto(full)
        self.positions[pos.key] = full
        return full

    def _bust_position(self, nid: int, event: Any, rec: FillRecord) -> None:
        pos = self._position(rec)
        base = rec.execution.base_id
        if pos.needs_fills(base_id=base):
            pos = self._with_fills(pos)
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
        if not self._restoring:
            # Before the record takes it: the position moves from what the record held.
            self._position_commission(nid, event, rec, base)
        rec.commission = report

    def _position_commission(self, nid: int, event: Any, rec: FillRecord, base: str) -> None:
        report: CommissionReport = event.report
        pos = self._position(rec)
        if pos.needs_fills(base_id=base):
            # A fill an earlier update stored: its figures stay, only the commission moves (its
            # order's events say what was booked); its row's figures come from the journal.
            was = rec.commission
            booked = None if was is None else (was.commission, was.currency)
            pos.rebook(base, booked, report.commission, report.currency)
            self.stored_effects.add(base)
        else:
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
