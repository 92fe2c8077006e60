"""Flex rows to facts: orders, executions, commissions and execution cancels.

* Orders are grouped by IB's order id (``ibOrderID``/``orderID``). When ``orderReference`` is
  one of our client order ids the order is keyed by it, as live; otherwise by the IB order id
  used as the permId (docs/adr/0005-flex-parser.md). A book entry without an IB order (option
  expiry) is keyed by minus its tradeID, which no real permId can equal.
* Executions are keyed by execId across the whole store: a fill already recorded (live, or by
  an earlier or overlapping statement) is recorded nowhere again, and the statement's other
  fills of the same order join the order that holds it.
* A whole file is one transaction: every fact is decided on aggregates in memory and saved
  with one ``save`` call, so a file is recorded completely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ordertrail.adapters.flex.recorded import RecordedFills
from ordertrail.adapters.flex.statement import Cancel, Fill, FlexFile, RawRow
from ordertrail.adapters.flex.xmltree import FlexFileError
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionBust,
    ExecutionReport,
    OrderObserved,
    Origin,
)
from ordertrail.domain.identity import is_client_order_id, order_uuid
from ordertrail.domain.order import Order
from ordertrail.domain.values import (
    CommissionReport,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
    exec_base_id,
)


@dataclass(slots=True)
class ImportCounts:
    statements: int = 0
    orders_created: int = 0
    executions_recorded: int = 0
    executions_corrected: int = 0
    executions_already_recorded: int = 0
    cancels_applied: int = 0
    cancels_already_applied: int = 0
    cancels_unmatched: int = 0
    commissions_recorded: int = 0
    rollup_rows_skipped: int = 0
    quantity_moves: int = 0

    def add(self, other: ImportCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class FileImport:
    counts: ImportCounts
    warnings: list[str] = field(default_factory=list)


def execution_of(fill: Fill) -> Execution:
    return Execution(
        exec_id=fill.exec_id,
        time=fill.time,
        account=fill.account,
        exchange=fill.exchange,
        side=fill.side,
        shares=fill.shares,
        price=fill.price,
        perm_id=fill.ib_order_id,
        order_ref=fill.order_ref,
    )


def spec_of(fills: list[Fill]) -> OrderSpec:
    """What Flex says of an order's terms: its side, the quantity filled in the statement, its
    account and IB's order type. Flex carries no limit or stop price, and an order's total
    quantity only as the sum of the fills it reports."""
    first = fills[0]
    action = OrderAction.BUY if first.side is Side.BOUGHT else OrderAction.SELL
    quantity = sum((f.shares for f in fills), Decimal(0))
    try:
        order_type = OrderType(first.order_type)
    except ValueError:
        # MOC, REL, MIDPRICE, book entries (no type): not in OrderType. The raw orderType stays
        # in the provenance; MKT is a placeholder that needs no price we do not have.
        order_type = OrderType.MARKET
    # Flex has no limit or stop price: the terms are observed, not commanded (values.py).
    return OrderSpec(action, quantity, order_type, account=first.account, observed=True)


def _group_key(fill: Fill) -> tuple[str, int]:
    # IB order ids are account-wide; a book entry without an order stands alone.
    return (fill.account, fill.ib_order_id or -int(fill.trade_id))


class FlexImporter:
    """Records the facts of Flex files into an ``OrderTrail``, each file all or nothing."""

    def __init__(self, trail: OrderTrail) -> None:
        self.trail = trail

    def import_file(
        self, flex: FlexFile, progress: Callable[[int], None] | None = None
    ) -> FileImport:
        run = _Run(self.trail, flex, progress)
        run.record()
        pending = [o for o in run.touched.values() if o.pending_events]
        try:
            self.trail.save(*pending)
        except IntegrityError:
            raise FlexFileError(
                flex.path, ["another writer changed these orders during the import; run it again"]
            ) from None
        return run.result


class _Run:
    """One file's import, decided in memory against what the store already knows."""

    def __init__(
        self, trail: OrderTrail, flex: FlexFile, progress: Callable[[int], None] | None
    ) -> None:
        self.trail = trail
        self.flex = flex
        self.progress = progress
        self.known = RecordedFills.read(trail.recorder)
        self.result = FileImport(ImportCounts(), list(flex.warnings))
        self.counts = self.result.counts
        self.touched: dict[UUID, Order] = {}
        self.order_rows: dict[tuple[str, int], RawRow] = {}

    def load(self, oid: UUID) -> Order | None:
        if oid not in self.touched and oid in self.known.orders:
            self.touched[oid] = self.trail.get(oid)
        return self.touched.get(oid)

    def warn(self, line: int, message: str) -> None:
        self.result.warnings.append(f"{self.flex.name}: line {line}: {message}")

    def record(self) -> None:
        fills: list[Fill] = []
        cancels: list[Cancel] = []
        for st in self.flex.statements:
            self.counts.statements += 1
            self.counts.rollup_rows_skipped += st.skipped_rollups
            self.counts.quantity_moves += len(st.moves)
            fills.extend(st.fills)
            cancels.extend(st.cancels)
            self.order_rows.update({(st.account, k): v for k, v in st.order_rows.items()})
        groups: dict[tuple[str, int], list[Fill]] = {}
        seen: set[str] = set()
        for fill in sorted(fills, key=lambda f: f.time):
            if fill.exec_id in seen:
                # The same fill twice in one file (overlapping statements in one response).
                self.counts.executions_already_recorded += 1
                continue
            seen.add(fill.exec_id)
            groups.setdefault(_group_key(fill), []).append(fill)
        # A TradeCancel of a fill already in the store goes first, so that a replacement fill
        # in the same statement does not look like an overfill; cancels of this file's own
        # fills go after them.
        ordered = sorted(cancels, key=lambda c: c.time)
        early = [c for c in ordered if c.orig_trade_id in self.known.by_trade_id]
        for c in early:
            self.cancel(c)
        for key, group in groups.items():
            self.record_order(key, group)
        done = {id(c) for c in early}
        for c in ordered:
            if id(c) not in done:
                self.cancel(c)

    def is_new(self, fill: Fill) -> bool:
        held = self.known.fills.get(exec_base_id(fill.exec_id))
        # The same execId is the same fill (a busted one stays busted); another revision of a
        # held fill is IB's correction, and the domain decides which revision wins.
        return held is None or held.execution.exec_id != fill.exec_id

    def record_order(self, key: tuple[str, int], group: list[Fill]) -> None:
        fresh = [f for f in group if self.is_new(f)]
        self.counts.executions_already_recorded += len(group) - len(fresh)
        if fresh:
            order = self.order_for(key, group, fresh)
            if len({f.contract.con_id for f in group}) > 1:
                self.warn(
                    group[0].row.line,
                    f"IB order {key[1]} fills several contracts (a combo): the order records "
                    "the first leg's contract; positions use each row's conid",
                )
            for f in fresh:
                corrects = exec_base_id(f.exec_id) in order.state.executions
                prov = f.row.provenance(self.flex.name)
                execution = execution_of(f)
                if not order.record(
                    ExecutionReport(execution, provenance=prov), ts_recorded=self.trail.clock()
                ):
                    self.counts.executions_already_recorded += 1
                    continue
                if corrects:
                    self.counts.executions_corrected += 1
                else:
                    self.counts.executions_recorded += 1
                self.known.add(order.id, execution, prov, f.contract.con_id, f.account)
        for f in group:
            self.commission(f)
        if self.progress is not None:
            self.progress(len(group))

    def commission(self, fill: Fill) -> None:
        base = exec_base_id(fill.exec_id)
        held = self.known.fills.get(base)
        if fill.commission is None or base in self.known.commissioned or held is None:
            return
        owner = self.load(held.order_id)
        if owner is None:
            return
        # IB may never have sent the live commission report: the statement fills it in, and a
        # report already held (live or from another statement) is left as it is.
        report = CommissionReport(
            fill.exec_id, fill.commission, fill.commission_currency, fill.realized_pnl
        )
        if owner.record(CommissionReported(report), ts_recorded=self.trail.clock()):
            self.counts.commissions_recorded += 1
        self.known.commissioned.add(base)

    def order_for(self, key: tuple[str, int], group: list[Fill], fresh: list[Fill]) -> Order:
        # A fill of this order already in the store names the order, whatever its key.
        for f in group:
            held = self.known.fills.get(exec_base_id(f.exec_id))
            found = None if held is None else self.load(held.order_id)
            if found is not None:
                return found
        first = group[0]
        coid = first.order_ref if is_client_order_id(first.order_ref) else None
        perm_id = key[1]
        if coid is None and perm_id in self.known.by_perm_id:
            found = self.load(self.known.by_perm_id[perm_id])
            if found is not None:
                return found
        found = self.load(order_uuid(client_order_id=coid, perm_id=perm_id))
        if found is not None:
            return found
        # The ORDER row, when the query includes it, is the order's own provenance.
        row = self.order_rows.get((first.account, first.ib_order_id), first.row)
        order = Order.observe(
            OrderObserved(
                contract=first.contract,
                spec=spec_of(fresh),
                origin=Origin.FLEX,
                ts_event=first.time,
                perm_id=perm_id,
                client_order_id=coid,
                provenance=row.provenance(self.flex.name),
            ),
            ts_recorded=self.trail.clock(),
        )
        self.touched[order.id] = order
        self.known.orders.add(order.id)
        self.known.by_perm_id[perm_id] = order.id
        self.counts.orders_created += 1
        return order

    def cancel(self, c: Cancel) -> None:
        exec_id = self.known.by_trade_id.get(c.orig_trade_id)
        held = None if exec_id is None else self.known.fills.get(exec_base_id(exec_id))
        if exec_id is None or held is None:
            self.counts.cancels_unmatched += 1
            self.warn(
                c.row.line,
                f"TradeCancel of tradeID {c.orig_trade_id} not applied: that trade is in "
                "neither this file nor the store (import the statement that holds it first)",
            )
            return
        if held.con_id != c.con_id or held.account != c.account:
            self.counts.cancels_unmatched += 1
            self.warn(
                c.row.line,
                f"TradeCancel of tradeID {c.orig_trade_id} not applied: it names conid "
                f"{c.con_id} in {c.account}, the trade was conid {held.con_id} in {held.account}",
            )
            return
        if held.cancelled_on is not None or held.execution.exec_id != exec_id:
            # Busted already, or superseded by a later revision the cancel does not name.
            self.counts.cancels_already_applied += 1
            return
        order = self.load(held.order_id)
        if order is None:
            return
        prov = c.row.provenance(self.flex.name)
        reason = f"Flex TradeCancel tradeID {c.row.attrs.get('tradeID', '?')}"
        # ts_event is the cancel row's dateTime (trade time); the report time stays in the
        # provenance's reportDate: the two axes of a correction (flex-facts.md).
        bust = ExecutionBust(exec_id, reason=reason, ts_event=c.time, provenance=prov)
        if order.record(bust, ts_recorded=self.trail.clock()):
            self.counts.cancels_applied += 1
        held.cancelled_on = c.reported_on or date.min
