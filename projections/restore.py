"""What an incremental update reads before it folds the new events: the state of the keys those
events touch, and nothing else.

* the touched orders, and every member of the brackets and OCA groups they belong to, refolded
  from their own stored events up to the tables' position (an index lookup per order);
* the positions their fills, corrections, busts and commissions land in, refolded from the
  fill journal's current rows of that position (so a late fill or a correction is slotted in
  among the stored fills, and every later fill's effect is recomputed);
* the journal rows of other orders' fills whose effect a late fact changed (only their effect
  columns are rewritten).

Everything is read from one version of each table: the version whose position the update
starts from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import decode_rows
from ordertrail.domain.events import (
    CommissionReported,
    ExecutionCancelled,
    ExecutionCorrected,
    ExecutionRecorded,
    OrderCreated,
)
from ordertrail.domain.identity import order_id_for
from ordertrail.domain.values import Side, exec_base_id
from ordertrail.projections.fold import PositionKey, Projection
from ordertrail.projections.positions import FillEffect, MissingStoredFill, Position, PositionFill
from ordertrail.projections.records import book_of, origin_of
from ordertrail.projections.rows import EFFECT_NAMES
from ordertrail.projections.schema import BRACKETS, FILLS, POSITIONS
from ordertrail.projections.tables import TableState

_POSITION_FILL_COLUMNS = (
    "account",
    "con_id",
    "origin",
    "exec_base_id",
    "ts_ib",
    "side",
    "quantity",
    "price",
    "commission",
    "commission_currency",
)
_FILL_EVENTS = (ExecutionRecorded, ExecutionCorrected)
_EFFECTS = tuple(FILLS.schema.get_field_index(name) for name in EFFECT_NAMES)
LogEvent = tuple[int, Any, str]  # (notification id, domain event, stored JSON)


def _frame(state: TableState) -> pl.LazyFrame | None:
    return None if state.table is None else pl.scan_delta(state.table)


class Restorer:
    """Reads one update's keys from the log and from the tables' versions in ``states``."""

    def __init__(self, log: EventLog, states: dict[str, TableState], position: int) -> None:
        self.log = log
        self.states = states
        self.position = position

    def projection(self, events: list[LogEvent]) -> Projection:
        """A projection at ``position`` holding the state ``events`` will touch."""
        projection = Projection(load_position=self._one_position, load_fills=self._with_fills)
        projection.head = self.position
        touched = {e.originator_id for _, e, _ in events}
        past = self._of_orders(touched)
        created = [e.new_state() for _, e, _ in (*past, *events) if type(e) is OrderCreated]
        groups: set[tuple[str, str]] = set()
        parents: set[str] = set()
        for s in created:
            groups.add(("bracket", s.order_key))
            if s.parent_key:
                groups.add(("bracket", s.parent_key))
                parents.add(s.parent_key)
            if s.spec.oca_group:
                groups.add(("oca", Projection._oca_key(s)))
        more = {order_id_for(k) for k in self._members(groups) | parents} - touched
        if more:
            past = sorted([*past, *self._of_orders(more)], key=lambda e: e[0])
        projection.restore(past)
        for key, pos in self._positions(self._position_keys(projection, events)).items():
            projection.positions[key] = pos
        return projection

    def _of_orders(self, ids: set[Any]) -> list[LogEvent]:
        """These orders' events up to the tables' position, in log order."""
        return list(decode_rows(self.log.orders_rows(ids, self.position), True))

    def journal_rows(self, projection: Projection) -> None:
        """Load the stored rows of changed fills whose order was not restored, and the stored
        figures of fills whose commission alone changed."""
        bases = projection.unrecorded_fills()
        figures = projection.unfolded_effects()
        frame = _frame(self.states[FILLS.name])
        if not (bases or figures) or frame is None:
            return
        rows = frame.filter(pl.col("exec_base_id").is_in([*bases, *figures])).collect()
        for row in rows.select(FILLS.schema.names).iter_rows():
            if row[0] in figures:
                figures.pop(row[0]).effects[row[0]] = FillEffect(*(row[i] for i in _EFFECTS))
            else:
                projection.stored_fills[row[0]] = row
        if figures:
            # The row was left out of the journal (an identifier past 64 bits): the tables
            # are recomputed from the log, which has every fill.
            raise MissingStoredFill(next(iter(figures)))

    # ---- groups ------------------------------------------------------------------------------

    def _members(self, groups: set[tuple[str, str]]) -> set[str]:
        frame = _frame(self.states[BRACKETS.name])
        if not groups or frame is None:
            return set()
        keys = sorted({k for _, k in groups})
        found = (
            frame.filter(pl.col("group_key").is_in(keys))
            .select("group_kind", "group_key", "order_key")
            .collect()
        )
        return {m for kind, key, m in found.iter_rows() if (kind, key) in groups}

    # ---- positions ---------------------------------------------------------------------------

    @staticmethod
    def _position_keys(projection: Projection, events: list[LogEvent]) -> set[PositionKey]:
        """The positions the events' fills, busts and commissions land in (a guess that may
        include more: a position it misses is loaded when the fold first asks for it)."""
        keys: set[PositionKey] = set()
        states = {e.originator_id: e.new_state() for _, e, _ in events if type(e) is OrderCreated}
        for _, event, _ in events:
            t = type(event)
            if t in _FILL_EVENTS:
                base = event.execution.base_id
                state = projection.orders.get(event.originator_id) or states.get(
                    event.originator_id
                )
                if state is not None:
                    account = event.execution.account or state.spec.account
                    keys.add((account, state.contract.con_id, book_of(origin_of(state.origin))))
            elif t is ExecutionCancelled:
                base = exec_base_id(event.exec_id)
            elif t is CommissionReported:
                base = exec_base_id(event.report.exec_id)
            else:
                continue
            rec = projection.fills.get(base)
            if rec is not None:
                keys.add(rec.position_key)
        return keys

    def _one_position(self, key: PositionKey) -> Position | None:
        return self._positions({key}).get(key)

    def _heads(self, wanted: set[PositionKey]) -> dict[PositionKey, tuple[Position, str | None]]:
        """Each stored position, empty, with its running state."""
        frame = _frame(self.states[POSITIONS.name])
        if not wanted or frame is None:
            return {}
        columns = ("account", "con_id", "origin", "symbol", "sec_type", "currency", "multiplier")
        rows = _of_keys(frame, wanted).select(*columns, "running_state").collect()
        out = {}
        for *head, state in rows.iter_rows():
            pos = Position(*head)
            if pos.key in wanted:
                out[pos.key] = (pos, state)
        return out

    def _positions(self, keys: Iterable[PositionKey]) -> dict[PositionKey, Position]:
        """Positions resumed from their running state (one row each, no fills read)."""
        out = {}
        for key, (pos, state) in self._heads(set(keys)).items():
            if state is None:
                refolded = self._with_fills(key)
                if refolded is not None:
                    out[key] = refolded
                continue
            pos.resume(state)
            out[key] = pos
        return out

    def _with_fills(self, key: PositionKey) -> Position | None:
        """The position refolded from its current fills in the journal."""
        heads, fills = self._heads({key}), _frame(self.states[FILLS.name])
        if key not in heads or fills is None:
            return None
        pos = heads[key][0]
        rows = _of_keys(fills, {key}).select(_POSITION_FILL_COLUMNS).collect()
        _refold(pos, [r for r in rows.iter_rows() if (r[0], r[1], book_of(r[2])) == key])
        return pos


def _of_keys(frame: pl.LazyFrame, keys: set[PositionKey]) -> pl.LazyFrame:
    accounts = sorted({a for a, _, _ in keys})
    con_ids = sorted({c for _, c, _ in keys})
    return frame.filter(pl.col("account").is_in(accounts) & pl.col("con_id").is_in(con_ids))


def _refold(pos: Position, rows: list[Any]) -> None:
    """The position folded afresh from its current fills, in execution order: what the fold
    that wrote them holds (a position is the fold of its current fills, whatever order they
    arrived in)."""
    rows.sort(key=lambda r: (r[4], r[3]))
    for _, _, _, base, ts_ib, side, quantity, price, commission, currency in rows:
        pos.add(PositionFill(base, (ts_ib, base), quantity * Side(side).sign, price))
        if commission is not None:
            pos.set_commission(base, commission, currency or "")
