"""The trail service: the one front door for commands and facts.

* Commands (place, submit, cancel, modify, deny; ``commands.py``) raise ``CommandRefused``
  and record nothing.
* Facts (``domain.facts``) enter through one method, ``record(key, fact)``: routed to their order
  by our client order id (orderRef), the session alias (clientId, orderId) or the permId, and
  idempotent — a repeat stores nothing. A fact whose order is not known yet waits in the one
  waiting room (``waiting.py``) and is recorded as soon as it is.
* A save that loses an optimistic-concurrency race (another writer appended first) is retried
  on a freshly loaded order.
* ``with trail.batch():`` widens the unit of work to many facts (``unit_of_work.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import EventStore, IntegrityError, Mapper

from ordertrail.adapters.store.codec import EventMapper
from ordertrail.adapters.store.config import StoreConfig, opening
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import fold_orders
from ordertrail.adapters.store.sealed import LogEventStore
from ordertrail.adapters.trail.batching import Batching
from ordertrail.adapters.trail.commands import Commands
from ordertrail.adapters.trail.indexes import OrderIndex
from ordertrail.adapters.trail.keys import FactKey, OrderNotFound
from ordertrail.adapters.trail.unit_of_work import Batch, BatchNotSaved, Carried
from ordertrail.adapters.trail.waiting import Waiting, WaitingRoom
from ordertrail.domain.facts import (
    CommissionReported,
    OpenOrderReport,
    OrderFact,
    OrderObserved,
    OutboundRequest,
    SessionError,
)
from ordertrail.domain.identity import is_client_order_id, order_id_for, order_key, order_uuid
from ordertrail.domain.order import Order
from ordertrail.domain.session import SessionLog, session_log_id
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import CommissionReport, exec_base_id

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]
RETRIES = 5
Fact = OrderFact | OrderObserved | SessionError
# Facts after which an order may have become findable (a new order, a new alias or permId).
_INTRODUCING = (OrderObserved, OpenOrderReport, OutboundRequest)


def utc_now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=4096)  # IB echoes an order's orderRef in every openOrder and execution
def _our_order(order_ref: str) -> UUID | None:
    """The order an orderRef names when it is one of our client order ids."""
    return order_uuid(client_order_id=order_ref) if is_client_order_id(order_ref) else None


def _decide(order: Order, fact: OrderFact, clock: Clock) -> bool:
    # The clock is read here, once the order is loaded: a save that lost a race decides the
    # fact again, at the time of the retry, as a command is.
    return order.record(fact, ts_recorded=clock())


class OrderTrail(Commands, Batching, Application[UUID]):
    name = "ordertrail"

    def __init__(self, config: StoreConfig | None = None, *, clock: Clock = utc_now) -> None:
        self.config = config or StoreConfig.resolve()
        self.clock = clock
        with opening(self.config):
            super().__init__(env=self.config.eventsourcing_env())
        self._aliases: dict[tuple[int, int], UUID] = {}
        self._index = OrderIndex(EventLog.on(self.recorder))
        self._pending_commissions: dict[str, CommissionReport] = {}
        self.waiting = WaitingRoom()
        self._batch: Batch | None = None
        self._carried: Carried | None = None

    def construct_mapper(self) -> Mapper[UUID]:
        return EventMapper()

    def construct_event_store(self) -> EventStore[UUID]:
        return LogEventStore(self.mapper, self.recorder)

    # ---- loading, saving, retrying --------------------------------------------------------------

    def get(self, aggregate_id: UUID) -> Order:
        order: Order = self._load(aggregate_id)
        return order

    def _change(self, aggregate_id: UUID, decide: Callable[..., T], *args: Any) -> T:
        """``decide(aggregate, *args)`` on the aggregate, saved (in a batch: kept for the
        batch's save)."""
        batch = self._batch
        if batch is not None:
            aggregate = self._load(aggregate_id)
            version = aggregate.version
            try:
                result = decide(aggregate, *args)
            except BaseException:
                if aggregate.version != version:
                    batch.broken = f"a fact failed half way on {aggregate_id}"
                raise
            batch.collect(aggregate)  # ``_load`` put it in the batch
            self._learn(aggregate_id, aggregate)
            return result
        for attempt in range(RETRIES):
            aggregate = self._load(aggregate_id)
            result = decide(aggregate, *args)
            try:
                self.save(aggregate)
            except IntegrityError:
                if attempt == RETRIES - 1:
                    raise
                continue
            self._learn(aggregate_id, aggregate)
            return result
        raise AssertionError("unreachable")

    def _create(self, aggregate: A) -> bool:
        """Save a new aggregate; False when another writer created the same one first (same
        uuid5, same order)."""
        if self._batch is not None:
            self._batch.keep(aggregate)
            self._learn(aggregate.id, aggregate)
            return True
        try:
            self.save(aggregate)
        except IntegrityError:
            return False
        self._learn(aggregate.id, aggregate)
        return True

    def _learn(self, oid: UUID, aggregate: Any) -> None:
        index = self._index
        index.ids.add(oid)
        if not isinstance(aggregate, Order):
            return
        s = aggregate.state
        # What IB may name the order by next: its permId, an execution (a commission report
        # names nothing else), a (clientId, orderId). Written here rather than through a
        # method of the index: this runs for every fact.
        if s.perm_id:
            index.perm[s.perm_id] = oid
        execs = index.execs
        for base in s.executions:
            execs[base] = oid
        aliases = self._aliases
        for alias in s.aliases:
            if alias not in aliases:
                aliases[alias] = oid

    def _ensure_index(self) -> None:
        """Bring the permId and execId indexes up to the end of the log, reading only what was
        appended since the last time (other writers' orders are found on the next miss; in a
        batch, on the next batch's first miss)."""
        batch = self._batch
        if batch is not None:
            if batch.indexed:
                return
            batch.indexed = True
        self._index.catch_up()
        if batch is not None and batch.absent:
            # The index may now name orders another process wrote after the batch found them
            # absent: loaded when asked for, so the save ends in a conflict, not in an order
            # the index names and the batch cannot find.
            batch.absent = {a for a in batch.absent if a not in self._index.ids}

    # ---- finding orders -------------------------------------------------------------------------

    def resolve(self, key: FactKey) -> UUID | None:
        if key.order is not None:
            return key.order if self.exists(key.order) else None
        # ``client_order_id`` and ``alias`` read inline: every fact is routed here.
        coid = key.order_ref
        if coid:
            oid = _our_order(coid)
            if oid is not None and self.exists(oid):
                return oid
        client_id, order_id = key.client_id, key.order_id
        if client_id is not None and order_id:  # orderId 0 and unset ids are not aliases
            known = self._aliases.get((client_id, order_id))
            if known is not None:
                return known
        if key.perm_id:
            if key.perm_id in self._index.perm:
                return self._index.perm[key.perm_id]
            oid = order_uuid(perm_id=key.perm_id)
            if self.exists(oid):
                return oid
            self._ensure_index()
            return self._index.perm.get(key.perm_id)
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

    # ---- facts: the one entrance -------------------------------------------------------------

    def record(self, key: FactKey | None, fact: Fact, *, at: datetime | None = None) -> bool | None:
        """Record one fact. True: recorded; False: a repeat, nothing stored; None: its order (or,
        for a commission report, its execution) is not known yet, so it waits and is recorded as
        soon as it is. ``at``: the recording time, when it is not now (a fact that waited)."""
        if at is not None:
            clock, self.clock = self.clock, lambda: at
            try:
                return self.record(key, fact)
            finally:
                self.clock = clock
        if isinstance(fact, SessionError):
            return self._record_session(fact)
        if isinstance(fact, OrderObserved):
            created = self._find_observed(fact) is None
            if created:
                self._create(Order.observe(fact, ts_recorded=self.clock()))
            self._release_waiting()
            return created
        if isinstance(fact, CommissionReported):
            return self._record_commission(fact)
        key = key or FactKey()
        oid = self.resolve(key)
        if oid is None:
            self.waiting.add(Waiting(key, fact, arrived=self.clock()))
            return None
        recorded = self._record_on(oid, fact)
        if isinstance(fact, _INTRODUCING):
            self._release_waiting()
        return recorded

    def _record_on(self, oid: UUID, fact: OrderFact) -> bool:
        recorded: bool = self._change(oid, _decide, fact, self.clock)
        execution = getattr(fact, "execution", None)
        if execution is not None:
            base = exec_base_id(execution.exec_id)
            self._index.execs[base] = oid
            pending = self._pending_commissions.pop(base, None)
            if pending is not None:
                self._record_commission(CommissionReported(pending))
        return recorded

    def observe(self, fact: OrderObserved, then: OrderFact | None = None) -> UUID:
        """The order ``fact`` tells of, created if this store has never seen it. ``then`` is
        what the rest of the same IB message says of it (an openOrder's identifiers): a new
        order is saved with it in one transaction, so that a kill between the two cannot leave
        an order without what its first message said."""
        known = self._find_observed(fact)
        if known is None:
            order = Order.observe(fact, ts_recorded=self.clock())
            if then is not None:
                order.record(then, ts_recorded=self.clock())
            if self._create(order):
                self._release_waiting()
                return order.id
            known = order.id  # another writer created it first (the same uuid5)
        if then is not None:
            self._record_on(known, then)
            self._release_waiting()
        return known

    def _find_observed(self, fact: OrderObserved) -> UUID | None:
        if fact.client_order_id is None and fact.perm_id:
            # An order we placed in an earlier session comes back by permId alone (completed
            # orders after a reconnect, a Flex statement): the log knows whose permId it is.
            if fact.perm_id not in self._index.perm:
                self._ensure_index()
            if fact.perm_id in self._index.perm:
                return self._index.perm[fact.perm_id]
        key = order_key(
            client_order_id=fact.client_order_id, perm_id=fact.perm_id, sent_as=fact.sent_as
        )
        oid = order_id_for(key)
        return oid if self.exists(oid) else None

    def _record_commission(self, fact: CommissionReported) -> bool | None:
        """IB sends commission reports before or after the execution, and again with
        ``reqExecutions`` after a reconnect: one whose execution is not known yet waits."""
        report = fact.report
        base = exec_base_id(report.exec_id)
        oid = self._index.execs.get(base)
        if oid is None:
            self._ensure_index()
            oid = self._index.execs.get(base)
        if oid is None:
            self._pending_commissions[base] = report
            return None
        recorded: bool = self._change(oid, _decide, fact, self.clock)
        return recorded

    def _record_session(self, fact: SessionError) -> bool:
        now = self.clock()
        log_id = session_log_id(fact.client_id, now.date())
        if not self.exists(log_id):
            self._create(SessionLog.open(client_id=fact.client_id, day=now.date(), ts_recorded=now))
        recorded: bool = self._change(log_id, lambda log: log.record(fact, ts_recorded=now))
        return recorded

    def _release_waiting(self) -> None:
        for waiting in self.waiting:
            oid = self.resolve(waiting.key)
            if oid is not None:
                self.waiting.remove(waiting)
                self._record_on(oid, waiting.fact)

    def take_waiting(self, fact_type: type) -> list[Waiting]:
        """Remove and return the waiting facts of one type (errors whose order never came go
        to the session log when a session ends)."""
        taken = [w for w in self.waiting if isinstance(w.fact, fact_type)]
        for waiting in taken:
            self.waiting.remove(waiting)
        return taken

    @property
    def pending_commissions(self) -> list[CommissionReport]:
        return list(self._pending_commissions.values())

    # ---- reading ---------------------------------------------------------------------------------

    def states(self) -> dict[UUID, OrderState]:
        """Every order's current state, by the fast rebuild."""
        states, _ = fold_orders(self.recorder)
        return states

    def history(self, oid: UUID) -> list[Any]:
        """Every stored event of one aggregate, oldest first."""
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
