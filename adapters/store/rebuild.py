"""The fast rebuild: read stored events in log order and fold them with the same pure apply
functions the aggregate uses, without loading aggregates one ``repository.get`` at a time.

Events are streamed from the read-only ``EventLog`` a page at a time, so memory grows with the
number of orders, not with the number of events; with ``open_only`` only with the orders that
are still open.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache, partial
from itertools import chain
from typing import Any, TypeAlias
from uuid import UUID, SafeUUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic

from ordertrail.adapters.store.codec import event_decoder, event_reader
from ordertrail.adapters.store.eventlog import EventLog, Row
from ordertrail.adapters.store.logsources import SqliteSource
from ordertrail.adapters.store.typed_decode import struct_decoder
from ordertrail.domain.events import OrderCreated, OrderEvent
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import DONE

Source: TypeAlias = EventLog | ApplicationRecorder
Reload: TypeAlias = Callable[[UUID, int], OrderState | None]


@contextmanager
def reading(source: Source) -> Iterator[EventLog]:
    """The log of ``source``: itself, or one opened on a recorder and closed afterwards."""
    if isinstance(source, EventLog):
        yield source
        return
    log = EventLog.on(source)
    try:
        yield log
    finally:
        log.close()


def stored_rows(source: Source, start: int = 0) -> Iterator[Row]:
    """(notification id, originator id, version, topic, state) in log order after ``start``."""
    with reading(source) as log:
        yield from log.rows(start)


def stored_events(source: Source, start: int = 0) -> Iterator[tuple[int, Any]]:
    """(notification id, domain event) in log order, decoded by the event classes' types."""
    with reading(source) as log:
        yield from log.events(start)


def stored_events_with_payload(source: Source, start: int = 0) -> Iterator[tuple[int, Any, str]]:
    """(notification id, domain event, stored JSON text): for read models that keep the raw."""
    with reading(source) as log:
        for entry in log.after(start):
            yield entry.id, entry.event, entry.state.decode()


def decode_rows(rows: Iterable[Row], with_payload: bool) -> Iterator[tuple[int, Any, str]]:
    """Stored rows (``stored_rows``' shape) as (notification id, domain event, stored JSON or
    "")."""
    decoders: dict[str, Callable[[bytes], tuple[type, dict[str, Any]]]] = {}
    # An order's events share one id: parse its UUID once (SQLite stores the hex text). Bounded,
    # so a long log does not keep one entry per order it ever saw.
    ids: dict[Any, UUID] = {}
    new = object.__new__
    put = object.__setattr__
    for nid, oid, version, topic, state in rows:
        decode = decoders.get(topic)
        if decode is None:
            decode = decoders[topic] = event_decoder(topic)
        cls, d = decode(state)
        uid = ids.get(oid)
        if uid is None:
            if len(ids) >= 100_000:
                ids.clear()
            uid = ids[oid] = oid if isinstance(oid, UUID) else UUID(oid)
        d["originator_id"] = uid
        d["originator_version"] = version
        event: Any = new(cls)
        put(event, "__dict__", d)
        yield nid, event, bytes(state).decode() if with_payload else ""


def fold_events(
    events: Iterable[Any],
    states: dict[UUID, OrderState] | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    reload: Reload | None = None,
) -> dict[UUID, OrderState]:
    """The fast path: each event's own ``fold`` (the one the aggregate applies) into plain
    OrderStates, no aggregates constructed.

    With ``reload`` only open orders stay in memory: an order is dropped when its status is
    done, and ``reload(order id, version)`` gives back its state before that version should
    IB say more about it later (a late fill after a cancel, an order that was Inactive while
    held for a locate); the result is every order not done."""
    out: dict[UUID, OrderState] = {} if states is None else states
    created = OrderCreated
    done = DONE if reload is not None else frozenset()
    count = 0
    with cyclic_gc_paused():
        for event in events:
            if progress is not None:
                count += 1
                if count % 10000 == 0:
                    progress(count)
            oid = event.originator_id
            state: OrderState | None
            if type(event) is created:
                state = out[oid] = event.new_state()
            else:
                state = out.get(oid)
                if state is None:
                    if not isinstance(event, OrderEvent):
                        continue
                    state = _reloaded(out, reload, oid, event.originator_version)
                    if state is None:
                        continue
                event.fold(state)
            if state.status in done:
                del out[oid]
    if progress is not None:
        progress(count)
    return out


def fold_orders(
    source: Source,
    *,
    start: int = 0,
    states: dict[UUID, OrderState] | None = None,
    progress: Callable[[int], None] | None = None,
    open_only: bool = False,
) -> tuple[dict[UUID, OrderState], int]:
    """Every order's state, folded from the log; returns (states, last notification id).
    ``open_only``: only the orders not done, holding no more than those in memory.

    Rows are decoded by msgspec into structs that carry the events' own ``fold`` and
    ``new_state`` (typed_decode.py): the same functions the aggregate applies, without the
    general codec's per-field conversions in Python."""
    if isinstance(source, EventLog):  # no context to leave: see _fold_log on allocations
        return _fold_log(source, start, states, progress, open_only=open_only)
    with reading(source) as log:
        return _fold_log(log, start, states, progress, open_only=open_only)


def _fold_log(
    log: EventLog,
    start: int,
    states: dict[UUID, OrderState] | None,
    progress: Callable[[int], None] | None,
    *,
    open_only: bool,
) -> tuple[dict[UUID, OrderState], int]:
    reload = _reloader(log) if open_only else None
    paged = log.sqlite_file()
    run: Callable[[], int]
    if paged is not None and progress is None:
        # SQLite stores the originator id as its hex text (what the per-order query asks for),
        # read here as its bytes (``SqliteSource.cursor``).
        fold = _Fold(_hex_bytes, states or {}, reload)
        run = partial(fold.pages, SqliteSource(*paged), log, start)
    else:
        rows = log.rows(start)
        first = next(rows, None)
        if first is None:
            return ({} if states is None else states), start
        fold = _Fold(_key_form(first[1]), states or {}, reload)
        run = partial(_fold_rest, fold, first, rows, start, progress)
    # The cyclic collector paused as in cyclic_gc_paused, without its generator: ending one
    # allocates (StopIteration), and the first tracked allocation after the pause has the
    # collector traverse every object the fold made, a sixth of the rebuild's time (measured
    # with gc.callbacks). So the result is made inside the pause and nothing is allocated
    # after it: the traversal is left to the caller's next collection, and only a caller that
    # keeps the states pays it (``ordertrail bench`` reports it apart).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        position = run()
        result = (fold.states(), position)
    finally:
        if was_enabled:
            gc.enable()
    if states is None:
        return result
    states.clear()
    states.update(result[0])
    return states, position


def _fold_rest(
    fold: _Fold,
    first: Row,
    rows: Iterator[Row],
    start: int,
    progress: Callable[[int], None] | None,
) -> int:
    if progress is None:  # the first row apart: chaining it back costs a step a row
        return fold.rows(rows, fold.rows((first,), start)[0])[0]
    return fold.rows(_counted(first, rows, progress), start)[0]


class _Fold:
    """One rebuild's states, held by the originator id as the store gives it (SQLite's hex
    text): a UUID key would cost a Python-level ``__hash__`` on every lookup, so the UUIDs are
    made at the end, once for each order still held."""

    def __init__(
        self, key_of: Callable[[UUID], Any], states: dict[UUID, OrderState], reload: Reload | None
    ) -> None:
        self.out: dict[Any, OrderState] = {key_of(uid): s for uid, s in states.items()}
        self.reload = reload

    def pages(self, source: SqliteSource, log: EventLog, position: int) -> int:
        """Fold the SQLite log after ``position`` a page at a time, each page's cursor
        iterated by ``rows`` itself; returns the last notification id read."""
        size = source.page_size()
        while True:
            with source.cursor(position, size, text_as_bytes=True) as page:
                position, count = self.rows(page, position)
            log.rows_read += count
            if count < size:
                return position

    def rows(self, rows: Iterable[Row], position: int) -> tuple[int, int]:
        """Fold ``rows``; returns the last notification id read (``position`` if none) and
        how many rows were read."""
        out, reload = self.out, self.reload
        topics = _TopicTable()
        general = event_reader()
        count = 0
        # The steps of fold_events, on rows rather than decoded events: this loop runs once
        # per stored event, and every call or lookup it avoids is a measurable share of it.
        for position, oid, version, topic, raw in rows:  # noqa: B007
            count += 1
            decode, creates = topics.get(topic) or topics.learn(topic)
            try:
                item = decode(raw)
            except Exception:  # a row msgspec refuses: the general codec decides
                item = general(_text(topic), raw, _uuid(oid), version)
            state: OrderState | None
            if creates:
                state = out[oid] = item.new_state()
            else:
                state = out.get(oid)
                if state is None and (state := self.reopened(oid, version, topic)) is None:
                    continue
                item.fold(state)
            if reload is not None and state.status in DONE:
                del out[oid]
        return position, count

    def reopened(self, oid: Any, version: int, topic: str | bytes) -> OrderState | None:
        """An order done (and dropped) earlier that IB says more about: its state before
        ``version``, folded from its own events (None: not an order, or no creation)."""
        if self.reload is None or not is_order_topic(_text(topic)):
            return None
        state = self.reload(_uuid(oid), version)
        if state is not None:
            self.out[oid] = state
        return state

    def states(self) -> dict[UUID, OrderState]:
        out = self.out
        if not out or isinstance(next(iter(out)), UUID):
            return dict(out)
        return {_uuid(oid): state for oid, state in out.items()}


def _uuid(oid: Any) -> UUID:
    if isinstance(oid, UUID):
        return oid
    if len(oid) != 32:
        return UUID(_text(oid))
    # SQLite's hex text, once an order: the UUID made from its integer as ``UUID(int=…)``
    # makes it (the same two slots), without its keyword parsing and range check, which a
    # 32-digit hex number always passes; three times faster, a tenth of a rebuild's overhead.
    uid = _NEW(UUID)
    _PUT(uid, "int", int(oid, 16))
    _PUT(uid, "is_safe", _UNKNOWN)
    return uid


_NEW = object.__new__
_PUT = object.__setattr__
# Bound once: in Python 3.11 an enum member read off its class goes through the slot of
# ``EnumType.__getattr__`` (0.2-0.5 µs a read here, against 0.02 for a bound name).
_UNKNOWN = SafeUUID.unknown


def _counted(first: Row, rows: Iterator[Row], progress: Callable[[int], None]) -> Iterator[Row]:
    count = 0
    for row in chain((first,), rows):
        yield row
        count += 1
        if count % 10000 == 0:
            progress(count)
    progress(count)


def _hex(uid: UUID) -> str:
    return uid.hex


def _hex_bytes(uid: UUID) -> bytes:
    return uid.hex.encode()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key_form(stored: Any) -> Callable[[UUID], Any]:
    """An order id in the form the store gives it: eventsourcing's SQLite stores the hex text
    (the form ``EventLog``'s own per-order query asks for), PostgreSQL a UUID."""
    if isinstance(stored, UUID):
        return lambda uid: uid
    return _hex


class _TopicTable(dict[str | bytes, tuple[Callable[[bytes], Any], bool]]):
    """Per topic (its text, or its bytes as SQLite holds it): how the fold decodes a row, and
    whether the event creates an order."""

    def learn(self, topic: str | bytes) -> tuple[Callable[[bytes], Any], bool]:
        text = _text(topic)
        decode = struct_decoder(text) or _refuse
        creates = text == CREATED_TOPIC
        self[topic] = (decode, creates)
        return decode, creates


def _refuse(raw: bytes) -> Any:
    raise TypeError("no typed decoder: the general codec reads this topic")


CREATED_TOPIC = get_topic(OrderCreated)


@cache
def is_order_topic(topic: str) -> bool:
    """Whether a topic is an order's event (the log also holds other aggregates', e.g. the
    session log's messages, which no order state folds)."""
    cls = resolve_topic(topic)
    return isinstance(cls, type) and issubclass(cls, OrderEvent | OrderCreated)


def _reloaded(
    out: dict[UUID, OrderState], reload: Reload | None, oid: UUID, version: int
) -> OrderState | None:
    state = None if reload is None else reload(oid, version)
    if state is not None:
        out[oid] = state
    return state


def order_state(log: EventLog, oid: UUID, below_version: int) -> OrderState | None:
    """One order's state before ``below_version``, folded from its own events (None: the log
    holds no creation for it)."""
    earlier = log.order_events(oid, below_version)
    if not earlier or type(earlier[0]) is not OrderCreated:
        return None
    state: OrderState = earlier[0].new_state()
    for event in earlier[1:]:
        event.fold(state)
    return state


def _reloader(log: EventLog) -> Reload:
    return lambda oid, version: order_state(log, oid, version)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The fold allocates millions of short-lived, acyclic objects while the dict of states
    grows; the cyclic collector would rescan that dict every few thousand allocations (a third
    of the rebuild's time, measured with ``ordertrail bench``). Reference counting still frees
    everything the fold drops, so pausing the cyclic collector costs no memory."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
