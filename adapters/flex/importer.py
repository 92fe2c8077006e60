"""Flex rows to facts: orders, executions, commissions and execution cancels.

* Orders are grouped by IB's order id (``ibOrderID``/``orderID``). When ``orderReference`` is
  one of our client order ids the order is keyed by it, as live; otherwise by the IB order id
  used as the permId (docs/adr/0005-flex-parser.md). A fill without an IB order id (an expiry,
  or a query without ``ibOrderID``) is an order of its own, keyed by a negative number no real
  permId can equal (identity.py).
* A fill is named by IB's execId, else its tradeID, else a key derived from its content
  (docs/adr/0040-flex-identity-without-ids.md). A fill already recorded (live, or by an
  earlier or overlapping statement) is recorded nowhere again; one whose key cannot be compared
  with the stored fill's merges with it when the content match is unambiguous, and is reported,
  not recorded, when it is not.
* The same execId with other content is a conflict, not a repeat: the row is kept as an
  execution of its own and an anomaly names the fields that differ
  (docs/adr/0041-flex-conflicts-are-facts.md).
* A whole file is one transaction: every fact is decided on aggregates in memory and saved
  with one ``save`` call, so a file is recorded completely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.flex.identity import (
    ContentIndex,
    conflict_id,
    differing_fields,
    order_key,
)
from ordertrail.adapters.flex.recorded import RecordedFill, RecordedFills
from ordertrail.adapters.flex.rows import Cancel, Fill, FlexFile, RawRow
from ordertrail.adapters.flex.writer import TrailWriter, execution_of
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.identity import is_client_order_id, order_uuid
from ordertrail.domain.values import (
    CommissionReport,
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
    executions_matched: int = 0
    executions_ambiguous: int = 0
    execution_conflicts: int = 0
    cancels_applied: int = 0
    cancels_already_applied: int = 0
    cancels_unmatched: int = 0
    commissions_recorded: int = 0
    rollup_rows_skipped: int = 0
    quantity_moves: int = 0
    implausible_values: int = 0

    def add(self, other: ImportCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class FileImport:
    counts: ImportCounts
    warnings: list[str] = field(default_factory=list)


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
    return (fill.account, order_key(fill))


def _when(fill: Fill) -> datetime:
    # A fill without a time of day sorts at the start of its trade date.
    return fill.time or datetime.combine(fill.day, datetime.min.time(), UTC)


class FlexImporter:
    """Records the facts of Flex files into an ``OrderTrail``, each file all or nothing."""

    def __init__(self, trail: OrderTrail) -> None:
        self.trail = trail

    def import_file(
        self, flex: FlexFile, progress: Callable[[int], None] | None = None
    ) -> FileImport:
        writer = TrailWriter(self.trail)
        with writer.recording(flex.path):
            run = _Run(writer, flex, progress)
            run.record()
        return run.result


@dataclass(slots=True)
class _Conflict:
    held: RecordedFill | Fill
    fields: list[str]


class _Run:
    """One file's import, decided in memory against what the store already knows."""

    def __init__(
        self, writer: TrailWriter, flex: FlexFile, progress: Callable[[int], None] | None
    ) -> None:
        self.flex = flex
        self.progress = progress
        self.writer = writer
        self.known = RecordedFills.read(writer.trail.recorder)
        self.index = ContentIndex(self.known.fills.values())
        self.result = FileImport(ImportCounts(), list(flex.warnings))
        self.counts = self.result.counts
        self.order_rows: dict[tuple[str, int], RawRow] = {}
        self.conflicts: dict[int, _Conflict] = {}  # by id() of the re-keyed fill

    def load(self, oid: UUID) -> UUID | None:
        return self.writer.find(oid)

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
        for fill in self.identify(sorted(fills, key=_when)):
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

    def identify(self, fills: list[Fill]) -> list[Fill]:
        """The file's fills with repeats and conflicts told apart and rows matched by content
        to stored fills: what is left is recorded (or found already recorded) by its key."""
        out: list[Fill] = []
        in_file: dict[str, Fill] = {}
        # A stored fill a row names by its own key is that row's: no other row claims it.
        for fill in fills:
            held = self.known.fills.get(exec_base_id(fill.exec_id))
            if held is not None and held.execution.exec_id == fill.exec_id:
                self.index.claimed.add(held.execution.base_id)
        for fill in fills:
            first = in_file.setdefault(fill.exec_id, fill)
            held = self.known.fills.get(exec_base_id(fill.exec_id))
            if first is not fill:
                differs = differing_fields(first.content, fill.content)
                if not differs:
                    # The same fill twice in one file (overlapping statements in one response).
                    self.counts.executions_already_recorded += 1
                    continue
                out.append(self.conflict(fill, first, differs))
            elif held is not None and held.execution.exec_id == fill.exec_id:
                differs = differing_fields(_content(held), fill.content)
                out.append(self.conflict(fill, held, differs) if differs else fill)
            elif held is None and not self.by_content(fill):
                out.append(fill)
            elif held is not None:
                out.append(fill)  # another revision of a held fill: IB's correction
        return out

    def conflict(self, fill: Fill, held: RecordedFill | Fill, differs: list[str]) -> Fill:
        kept = replace(fill, exec_id=conflict_id(fill))
        self.conflicts[id(kept)] = _Conflict(held, differs)
        return kept

    def by_content(self, fill: Fill) -> bool:
        """True when the row was settled by matching it to a stored fill (merged or reported as
        ambiguous); False when it is a fill of its own."""
        found = self.index.candidates(fill)
        if not found:
            return False
        if len(found) > 1:
            self.counts.executions_ambiguous += 1
            ids = ", ".join(sorted(h.execution.exec_id for h in found))
            self.warn(
                fill.row.line,
                f"{fill.side.value} {fill.shares} conid {fill.contract.con_id} @ {fill.price} "
                f"keyed by {fill.identity.value} matches {len(found)} recorded fills ({ids}): "
                "not recorded, not merged; import a statement with ibExecID to settle it",
            )
            return True
        (held,) = found
        self.index.claimed.add(held.execution.base_id)
        self.counts.executions_matched += 1
        if fill.trade_id:
            self.known.by_trade_id[fill.trade_id] = held.execution.exec_id
        self.commission(fill, held)
        return True

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
                self.record_fill(order, f)
        for f in group:
            self.commission(f, self.known.fills.get(exec_base_id(f.exec_id)))
        if self.progress is not None:
            self.progress(len(group))

    def is_new(self, fill: Fill) -> bool:
        held = self.known.fills.get(exec_base_id(fill.exec_id))
        # The same execId is the same fill (a busted one stays busted); another revision of a
        # held fill is IB's correction, and the domain decides which revision wins.
        return held is None or held.execution.exec_id != fill.exec_id

    def record_fill(self, order: UUID, f: Fill) -> None:
        corrects = exec_base_id(f.exec_id) in self.writer.state(order).executions
        prov = f.row.provenance(self.flex.name, f.identity)
        execution = execution_of(f)
        if not self.writer.execution(order, execution, prov):
            self.counts.executions_already_recorded += 1
            return
        if corrects:
            self.counts.executions_corrected += 1
        else:
            self.counts.executions_recorded += 1
        self.known.add(order, execution, prov, f.contract.con_id, f.account)
        where = f"{self.flex.name} line {f.row.line}"
        for kind, message in f.flags:
            self.counts.implausible_values += 1
            self.writer.anomaly(
                order,
                kind,
                expected="a value a real fill can have",
                received=f"{where}: execution {f.exec_id}: {message}",
                ts_event=f.time,
            )
        conflict = self.conflicts.get(id(f))
        if conflict is not None:
            self.counts.execution_conflicts += 1
            original = f.row.attrs.get("ibExecID") or f.row.attrs.get("execID") or f.exec_id
            message = (
                f"{where}: execution {original} again with other content "
                f"({'; '.join(conflict.fields)}); kept as {f.exec_id}"
            )
            self.writer.anomaly(
                order,
                "exec_id_conflict",
                expected=f"execution {original} as first recorded",
                received=message,
                ts_event=f.time,
            )
            self.warn(f.row.line, message)

    def commission(self, fill: Fill, held: RecordedFill | None) -> None:
        if fill.commission is None or held is None:
            return
        base = held.execution.base_id
        if base in self.known.commissioned:
            return
        owner = self.load(held.order_id)
        if owner is None:
            return
        # IB may never have sent the live commission report: the statement fills it in, and a
        # report already held (live or from another statement) is left as it is.
        report = CommissionReport(
            held.execution.exec_id, fill.commission, fill.commission_currency, fill.realized_pnl
        )
        if self.writer.commission(owner, report):
            self.counts.commissions_recorded += 1
        self.known.commissioned.add(base)

    def order_for(self, key: tuple[str, int], group: list[Fill], fresh: list[Fill]) -> UUID:
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
        order = self.writer.discover(
            contract=first.contract,
            spec=spec_of(fresh),
            ts_event=first.time,
            perm_id=perm_id,
            client_order_id=coid,
            provenance=row.provenance(self.flex.name),
        )
        self.known.orders.add(order)
        self.known.by_perm_id[perm_id] = order
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
        # provenance's reportDate: a correction is dated on both axes.
        if self.writer.cancel(order, exec_id, reason=reason, ts_event=c.time, prov=prov):
            self.counts.cancels_applied += 1
        self.known.cancelled(exec_base_id(exec_id), c.reported_on or date.min)


def _content(held: RecordedFill) -> tuple[object, ...]:
    x = held.execution
    return (held.account, held.con_id, x.side, x.shares, x.price, x.time)
