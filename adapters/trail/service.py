"""The application service: takes commands and facts, loads and saves orders.

* Commands (place, submit, cancel, modify, deny) raise ``CommandRefused`` and record nothing.
* Facts are routed to their order by our client order id (orderRef), the session alias
  (clientId, orderId) or the permId, and are idempotent: a repeat stores nothing.
* A save that loses an optimistic-concurrency race (another writer appended first) is retried
  on a freshly loaded order.
* ``with trail.batch():`` is a unit of work for bulk facts (replay): orders stay in memory, each
  loaded once, and everything is saved in one transaction when the block ends, or nothing is
  (docs/adr/0008-batched-facts.md). Outside a batch every fact is committed as it comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper

from ordertrail.adapters.store.codec import EventMapper
from ordertrail.adapters.store.config import StoreConfig, opening
from ordertrail.adapters.store.rebuild import fold_orders, stored_events
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.events import ExecutionCorrected, ExecutionRecorded
from ordertrail.domain.identity import is_client_order_id
from ordertrail.domain.order import Order
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderSpec,
    exec_base_id,
)

T = TypeVar("T")
Clock = Callable[[], datetime]
RETRIES = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FactKey:
    """Whatever IB gave us to find the order a fact is about."""

    order_ref: str | None = None
    perm_id: int | None = None
    client_id: int | None = None
    order_id: int | None = None

    @property
    def client_order_id(self) -> str | None:
        return self.order_ref if is_client_order_id(self.order_ref) else None

    @property
    def alias(self) -> tuple[int, int] | None:
        # orderId 0 (orders placed by hand in TWS) and unset ids are not aliases: they collide.
        if self.client_id is None or self.order_id is None or self.order_id == 0:
            return None
        return (self.client_id, self.order_id)


class OrderNotFound(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no order for {what}")


class BatchNotSaved(Exception):
    """A batch recorded nothing: another writer changed one of its orders first (``conflict``),
    or a fact failed half way through deciding, leaving an order it cannot save."""

    def __init__(self, reason: str, *, conflict: bool = False) -> None:
        super().__init__(f"batch not saved, nothing of it was recorded: {reason}")
        self.conflict = conflict


@dataclass(slots=True)
class _Batch:
    """The unit of work: every order loaded or created since the batch began (an identity map),
    the new events in the order they were decided (the log keeps that order, as when each fact
    is saved as it comes), and the session memory to put back if the batch is not saved."""

    aliases: dict[tuple[int, int], UUID]
    pending_commissions: dict[str, CommissionReport]
    orders: dict[UUID, Order] = field(default_factory=dict)
    absent: set[UUID] = field(default_factory=set)  # not in the store when the batch looked
    events: list[Any] = field(default_factory=list)
    indexed: bool = False  # the log was read into the indexes during this batch
    broken: str | None = None

    def keep(self, order: Order) -> None:
        self.orders[order.id] = order
        self.events.extend(order.collect_events())


class OrderTrail(Application[UUID]):
    name = "ordertrail"

    def __init__(self, config: StoreConfig | None = None, *, clock: Clock = utc_now) -> None:
        self.config = config or StoreConfig.resolve()
        self.clock = clock
        with opening(self.config):
            super().__init__(env=self.config.eventsourcing_env())
        self._aliases: dict[tuple[int, int], UUID] = {}
        self._perm_index: dict[int, UUID] = {}
        self._exec_index: dict[str, UUID] = {}
        self._indexed_to = -1
        self._pending_commissions: dict[str, CommissionReport] = {}
        self._batch: _Batch | None = None

    def construct_mapper(self) -> Mapper[UUID]:
        return EventMapper()

    # ---- loading, saving, retrying --------------------------------------------------------------

    def get(self, order_id: UUID) -> Order:
        batch = self._batch
        if batch is None:
            loaded: Order = self.repository.get(order_id)
            return loaded
        order = batch.orders.get(order_id)
        if order is None:
            if order_id in batch.absent:
                raise AggregateNotFoundError(order_id)
            try:
                order = batch.orders[order_id] = self.repository.get(order_id)
            except AggregateNotFoundError:
                batch.absent.add(order_id)
                raise
        return order

    def exists(self, order_id: UUID) -> bool:
        if self._batch is None:
            return order_id in self.repository
        try:
            self.get(order_id)  # a batch keeps what it loads: the fact that asked will want it
        except AggregateNotFoundError:
            return False
        return True

    @contextmanager
    def batch(self) -> Iterator[None]:
        """A unit of work for bulk facts. Inside it an order is loaded once and kept in memory
        (lookups and indexes see the orders created or changed earlier in the batch), nothing
        is committed per fact, and at the end all the new events are appended in the order they
        were decided, in one transaction. If the block raises, or the append loses an
        optimistic-concurrency race to another writer, nothing of the batch is recorded, the
        session memory (aliases, held commission reports) is put back as it was, and the error
        propagates (a conflict as :class:`BatchNotSaved`). A batch inside a batch joins it."""
        if self._batch is not None:
            yield
            return
        batch = self._batch = _Batch(dict(self._aliases), dict(self._pending_commissions))
        try:
            yield
            if batch.broken is not None:
                raise BatchNotSaved(batch.broken)
            if batch.events:
                try:
                    # What ``save`` does, minus its per-event Protocol checks (~10 µs an event)
                    # and its hooks for snapshots and followers, which this application has not.
                    # ``save(*orders)`` would group the events by order: the log keeps the
                    # order they were decided in, as when each fact is saved as it comes.
                    self.events.put(batch.events)
                except IntegrityError as e:
                    raise BatchNotSaved(
                        f"another writer changed these orders first ({e})", conflict=True
                    ) from e
        except BaseException:
            self._forget_batch(batch)
            raise
        finally:
            self._batch = None

    def _forget_batch(self, batch: _Batch) -> None:
        self._aliases = batch.aliases
        self._pending_commissions = batch.pending_commissions
        # The permId and execId indexes are caches of the log: rebuilt from it on the next miss.
        self._perm_index.clear()
        self._exec_index.clear()
        self._indexed_to = -1

    def _change(self, order_id: UUID, decide: Callable[[Order], T]) -> T:
        batch = self._batch
        if batch is not None:
            order = self.get(order_id)
            version = order.version
            try:
                result = decide(order)
            except BaseException:
                if order.version != version:
                    batch.broken = f"a fact failed half way on order {order_id}"
                raise
            batch.keep(order)
            self._learn(order)
            return result
        for attempt in range(RETRIES):
            order = self.get(order_id)
            result = decide(order)
            try:
                self.save(order)
            except IntegrityError:
                if attempt == RETRIES - 1:
                    raise
                continue
            self._learn(order)
            return result
        raise AssertionError("unreachable")

    def _learn(self, order: Order) -> None:
        s = order.state
        if s.perm_id:
            self._perm_index[s.perm_id] = order.id
        for alias in s.aliases:
            self._aliases.setdefault(alias, order.id)
        for base in s.executions:
            self._exec_index[base] = order.id

    def _ensure_index(self) -> None:
        """Bring the permId and execId indexes up to the end of the log, reading only what was
        appended since the last time (other writers' orders are found on the next miss; in a
        batch, on the next batch's first miss)."""
        if self._batch is not None:
            if self._batch.indexed:
                return
            self._batch.indexed = True
        for nid, event in stored_events(self.recorder, max(self._indexed_to, 0)):
            self._indexed_to = nid
            oid = event.originator_id
            if isinstance(event, ExecutionRecorded | ExecutionCorrected):
                self._exec_index.setdefault(event.execution.base_id, oid)
            perm = getattr(event, "perm_id", None)
            if perm:
                self._perm_index.setdefault(perm, oid)

    # ---- finding orders -------------------------------------------------------------------------

    def resolve(self, key: FactKey) -> UUID | None:
        coid = key.client_order_id
        if coid is not None:
            oid = Order.id_for(client_order_id=coid)
            if self.exists(oid):
                return oid
        alias = key.alias
        if alias is not None and alias in self._aliases:
            return self._aliases[alias]
        if key.perm_id:
            if key.perm_id in self._perm_index:
                return self._perm_index[key.perm_id]
            oid = Order.id_for(perm_id=key.perm_id)
            if self.exists(oid):
                return oid
            self._ensure_index()
            return self._perm_index.get(key.perm_id)
        return None

    def bind_alias(self, client_id: int, order_id: int, oid: UUID) -> None:
        """Session-local: IB reuses orderIds across sessions, so call ``forget_aliases`` when a
        session ends."""
        self._aliases[(client_id, order_id)] = oid

    def forget_aliases(self) -> None:
        self._aliases.clear()

    def require(self, key: FactKey) -> UUID:
        oid = self.resolve(key)
        if oid is None:
            raise OrderNotFound(repr(key))
        return oid

    # ---- commands --------------------------------------------------------------------------------

    def place(
        self,
        *,
        client_order_id: str,
        contract: ContractRef,
        spec: OrderSpec,
        parent_key: str | None = None,
        group_id: str | None = None,
    ) -> UUID:
        order = Order.place(
            client_order_id=client_order_id,
            contract=contract,
            spec=spec,
            ts_recorded=self.clock(),
            parent_key=parent_key,
            group_id=group_id,
        )
        # The client order id is the order's durable identity (IB echoes it in orderRef): a
        # second order under it would merge two orders' facts, so the command is refused.
        if self.exists(order.id):
            raise CommandRefused(
                "place", self.get(order.id).state.status.value, f"{client_order_id} is taken"
            )
        if self._batch is not None:
            self._batch.keep(order)
            self._learn(order)
            return order.id
        try:
            self.save(order)
        except IntegrityError:
            raise CommandRefused("place", "unknown", f"{client_order_id} is taken") from None
        self._learn(order)
        return order.id

    def submit(self, oid: UUID, *, client_id: int, order_id: int) -> None:
        self._change(
            oid,
            lambda o: o.submit(client_id=client_id, order_id=order_id, ts_recorded=self.clock()),
        )
        self._aliases[(client_id, order_id)] = oid

    def deny(self, oid: UUID, *, rule: str, reason: str) -> None:
        self._change(oid, lambda o: o.deny(rule=rule, reason=reason, ts_recorded=self.clock()))

    def request_cancel(self, oid: UUID) -> None:
        self._change(oid, lambda o: o.request_cancel(ts_recorded=self.clock()))

    def request_modify(self, oid: UUID, spec: OrderSpec) -> None:
        self._change(oid, lambda o: o.request_modify(spec, ts_recorded=self.clock()))

    # ---- facts ---------------------------------------------------------------------------------

    def discover(
        self,
        *,
        contract: ContractRef,
        spec: OrderSpec,
        perm_id: int | None = None,
        client_order_id: str | None = None,
        origin: str = "discovered",
        ts_event: datetime | None = None,
        parent_key: str | None = None,
        group_id: str | None = None,
        provenance: dict[str, str] | None = None,
    ) -> UUID:
        """The order IB told us about, created if this store has never seen it."""
        if client_order_id is None and perm_id:
            # An order we placed in an earlier session comes back by permId alone (completed
            # orders after a reconnect, a Flex statement): the log knows whose permId it is.
            if perm_id not in self._perm_index:
                self._ensure_index()
            if perm_id in self._perm_index:
                return self._perm_index[perm_id]
        oid = Order.id_for(client_order_id=client_order_id, perm_id=perm_id)
        if self.exists(oid):
            return oid
        order = Order.discover(
            contract=contract,
            spec=spec,
            perm_id=perm_id,
            client_order_id=client_order_id,
            origin=origin,
            ts_event=ts_event,
            ts_recorded=self.clock(),
            parent_key=parent_key,
            group_id=group_id,
            provenance=provenance,
        )
        if self._batch is not None:
            self._batch.keep(order)
            self._learn(order)
            return oid
        try:
            self.save(order)
        except IntegrityError:
            # Another writer discovered it first: same uuid5, same order.
            return oid
        self._learn(order)
        return oid

    def record_status(
        self,
        key: FactKey,
        *,
        raw_status: str,
        filled: Decimal | None,
        remaining: Decimal | None,
        avg_fill_price: Decimal | None,
        ts_event: datetime | None = None,
        last_fill_price: Decimal | None = None,
        why_held: str = "",
        mkt_cap_price: Decimal | None = None,
    ) -> bool:
        oid = self.require(key)
        return self._change(
            oid,
            lambda o: o.record_status(
                raw_status=raw_status,
                filled=filled,
                remaining=remaining,
                avg_fill_price=avg_fill_price,
                ts_event=ts_event,
                ts_recorded=self.clock(),
                last_fill_price=last_fill_price,
                why_held=why_held,
                perm_id=key.perm_id,
                mkt_cap_price=mkt_cap_price,
            ),
        )

    def record_open_order(self, key: FactKey, *, spec: OrderSpec) -> bool:
        oid = self.require(key)
        return self._change(
            oid,
            lambda o: o.record_open_order(
                spec=spec,
                ts_recorded=self.clock(),
                perm_id=key.perm_id,
                client_id=key.client_id,
                order_id=key.order_id,
            ),
        )

    def record_execution(
        self, key: FactKey, execution: Execution, *, provenance: dict[str, str] | None = None
    ) -> bool:
        oid = self.require(key)
        recorded = self._change(
            oid,
            lambda o: o.record_execution(
                execution, ts_recorded=self.clock(), provenance=provenance
            ),
        )
        self._exec_index[execution.base_id] = oid
        pending = self._pending_commissions.pop(execution.base_id, None)
        if pending is not None:
            self.record_commission(pending)
        return recorded

    def record_commission(self, report: CommissionReport) -> bool | None:
        """True: recorded; False: a repeat; None: its execution is not known yet, so the report
        is held until it arrives (IB sends commission reports before or after the execution,
        and again with ``reqExecutions`` after a reconnect)."""
        base = exec_base_id(report.exec_id)
        oid = self._exec_index.get(base)
        if oid is None:
            self._ensure_index()
            oid = self._exec_index.get(base)
        if oid is None:
            self._pending_commissions[base] = report
            return None
        return self._change(oid, lambda o: o.record_commission(report, ts_recorded=self.clock()))

    def record_execution_cancel(
        self,
        key: FactKey,
        exec_id: str,
        *,
        reason: str,
        ts_event: datetime | None = None,
        provenance: dict[str, str] | None = None,
    ) -> bool:
        oid = self.require(key)
        return self._change(
            oid,
            lambda o: o.record_execution_cancel(
                exec_id,
                reason=reason,
                ts_recorded=self.clock(),
                ts_event=ts_event,
                provenance=provenance,
            ),
        )

    @property
    def pending_commissions(self) -> list[CommissionReport]:
        return list(self._pending_commissions.values())

    def record_error(
        self,
        key: FactKey,
        *,
        code: int,
        message: str,
        advanced_reject: str | None = None,
    ) -> bool:
        oid = self.require(key)
        return self._change(
            oid,
            lambda o: o.record_error(
                code=code,
                message=message,
                advanced_reject=advanced_reject,
                ts_recorded=self.clock(),
            ),
        )

    # ---- reading ---------------------------------------------------------------------------------

    def states(self) -> dict[UUID, OrderState]:
        """Every order's current state, by the fast rebuild."""
        states, _ = fold_orders(self.recorder)
        return states

    def history(self, oid: UUID) -> list[Any]:
        """Every stored event of one order, oldest first."""
        return list(self.events.get(oid))

    def order_ids(self) -> Iterable[UUID]:
        return self.states().keys()


__all__ = [
    "AggregateNotFoundError",
    "BatchNotSaved",
    "FactKey",
    "OrderNotFound",
    "OrderTrail",
    "utc_now",
]
