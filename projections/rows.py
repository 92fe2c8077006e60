"""The projection's rows: tuples in their table's column order, built from the fold's state and
turned into Arrow column by column (``schema.arrow_table``): a dict per row and
``pa.Table.from_pylist`` cost more than the fold itself. The keyed tables' rows are built
once, when they are written."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any
from uuid import UUID

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.domain.state import OrderState
from ordertrail.projections.brackets import Member, bracket_rows, oca_rows
from ordertrail.projections.positions import FillEffect, Position
from ordertrail.projections.records import (
    Changes,
    FillRecord,
    GroupKey,
    OrderExtra,
    PositionKey,
    Row,
    book_of,
    origin_of,
)
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

# Rows converted to Arrow at a time (``Batch.of``).
ROWS_PER_CHUNK = 16_384


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
_FILL_ORIGIN = FILLS.schema.get_field_index("origin")
EFFECT_NAMES = (
    "realized_pnl",
    "realized_pnl_avg",
    "position_quantity",
    "position_avg_cost",
    "position_fifo_cost",
    "position_realized_pnl",
    "position_realized_pnl_avg",
)  # in FillEffect's field order
_EFFECT_COLUMNS = tuple(FILLS.schema.get_field_index(name) for name in EFFECT_NAMES)


class TableRows:
    """The rows of every table, from the state ``Projection`` folds (its attributes below)."""

    orders: dict[UUID, OrderState]
    extras: dict[UUID, OrderExtra]
    by_key: dict[str, UUID]
    children: dict[str, list[str]]
    oca: dict[str, list[str]]
    fills: dict[str, FillRecord]
    stored_fills: dict[str, Row]
    positions: dict[PositionKey, Position]
    position_updates: dict[PositionKey, tuple[datetime, int]]
    changes: Changes

    # ---- rows (tuples in their table's column order) -----------------------------------------

    @staticmethod
    def _position_columns(pos: Position) -> Row:
        run = pos.run
        q = run.quantity
        return (
            pos.account,
            pos.con_id,
            pos.origin,
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
            pos.foreign_count,
            pos.fill_count,
            pos.last_fill_time,
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
            origin_of(s.origin),
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
            s.fills_not_seen,
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
        eff = self.effect(r, base)
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
            r.origin,
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

    def effect(self, rec: FillRecord, base: str) -> FillEffect:
        """What the fill did to its position."""
        return self.positions[rec.position_key].effects[base]

    def _stored_fill_row(self, base: str) -> Row:
        """A stored journal row with its effect columns recomputed (its position changed)."""
        row = list(self.stored_fills[base])
        key = (row[_FILL_ACCOUNT], row[_FILL_CON_ID], book_of(row[_FILL_ORIGIN]))
        eff = self.positions[key].effects[base]
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

    def position_row(self, key: PositionKey) -> Row:
        ts, nid = self.position_updates[key]
        pos = self.positions[key]
        return (*self._position_columns(pos), ts, nid, pos.running_state())

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
