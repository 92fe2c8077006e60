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
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from ordertrail.adapters.store.codec import UnreadableEvent, event_decoder
from ordertrail.adapters.store.eventlog import EventLog, Row
from ordertrail.adapters.store.order_fold import (
    OrderFold,
    Reload,
    hex_text,
    key_form,
)
from ordertrail.adapters.store.tagged_pages import read_ranges
from ordertrail.domain.events import OrderCreated, OrderEvent
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import DONE

Source: TypeAlias = EventLog | ApplicationRecorder


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
        try:
            decode = decoders.get(topic) or decoders.setdefault(topic, event_decoder(topic))
            cls, d = decode(state)
        except UnreadableEvent as e:
            raise e.at(oid, version, nid) from e.__cause__
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
    sqlite = log.sqlite_file()
    run: Callable[[], int]
    if sqlite is not None:
        # SQLite stores the originator id as its hex text: the states are held by it.
        fold = OrderFold(hex_text, states or {}, reload)
        run = partial(_fold_ranges, fold, log, sqlite, start, progress)
    else:
        rows = log.rows(start)
        first = next(rows, None)
        if first is None:
            return ({} if states is None else states), start
        fold = OrderFold(key_form(first[1]), states or {}, reload)
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


def _fold_ranges(
    fold: OrderFold,
    log: EventLog,
    sqlite: tuple[Path, str],
    start: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Fold the SQLite log after ``start`` up to its head, a range of rowids at a time, each
    read and made into lines on a reader thread while the one before is folded
    (``tagged_pages``); returns the last notification id read."""
    position, count = start, 0
    for page in read_ranges(*sqlite, start, log.head()):
        fold.tagged(page)
        log.rows_read += page.count
        position = page.last or position
        if progress is not None:
            count += page.count
            progress(count)
    return position


def _fold_rest(
    fold: OrderFold,
    first: Row,
    rows: Iterator[Row],
    start: int,
    progress: Callable[[int], None] | None,
) -> int:
    if progress is None:  # the first row apart: chaining it back costs a step a row
        return fold.rows(rows, fold.rows((first,), start)[0])[0]
    return fold.rows(_counted(first, rows, progress), start)[0]


def _counted(first: Row, rows: Iterator[Row], progress: Callable[[int], None]) -> Iterator[Row]:
    count = 0
    for row in chain((first,), rows):
        yield row
        count += 1
        if count % 10000 == 0:
            progress(count)
    progress(count)


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
