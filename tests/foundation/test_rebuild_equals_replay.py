"""The fast rebuild (``fold_orders``: lean msgspec structs, per-topic table, states keyed by the
stored id) reaches exactly the state the aggregate reaches by replaying the same stored
events, on random histories of interleaved orders: placed and observed orders, submissions,
denials, modifications and cancels, IB's statuses, fills, corrections, commissions, errors,
busts, openOrders and anomalies, in any delivery order, with repeats.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.adapters.store import logsources, tagged_pages
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import fold_events, fold_orders
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import (
    AnomalyFound,
    ExecutionBust,
    OpenOrderReport,
    OrderObserved,
    Origin,
    OutboundRequest,
    RequestKind,
)
from ordertrail.domain.order import Order
from tests.strategies import contracts, ib_fact_sequences, order_specs, utc_times

Step = Callable[[Order, datetime], Any]


@st.composite
def commands(draw: st.DrawFn, order: Order, n: int) -> list[Step]:
    """What our side may do to an order: each step may be refused, which records nothing."""
    spec = order.state.spec
    changed = spec.with_changes(quantity=spec.quantity + draw(st.integers(1, 50)))
    choices: list[Step] = [
        lambda o, ts: o.submit(client_id=1, order_id=n, ts_recorded=ts, mode="paper"),
        lambda o, ts: o.deny(rule="max_notional", reason="over the limit", ts_recorded=ts),
        lambda o, ts: o.request_cancel(ts_recorded=ts),
        lambda o, ts: o.request_modify(changed, ts_recorded=ts),
        lambda o, ts: o.record(
            OutboundRequest(RequestKind.MODIFY, client_id=1, order_id=n, spec=changed),
            ts_recorded=ts,
        ),
        lambda o, ts: o.record(OutboundRequest(RequestKind.CANCEL, 1, n), ts_recorded=ts),
        lambda o, ts: o.record(
            OpenOrderReport(changed, perm_id=30_000 + n, client_id=1, order_id=n), ts_recorded=ts
        ),
        lambda o, ts: o.record(AnomalyFound("late", "nothing", "something"), ts_recorded=ts),
    ]
    return draw(st.lists(st.sampled_from(choices), max_size=4))


def busts(order: Order, draw: st.DrawFn) -> list[Step]:
    """A statement cancelling some of the order's fills after the fact."""
    execs = sorted(order.state.executions.values(), key=lambda x: x.exec_id)
    chosen = draw(st.lists(st.sampled_from(execs), max_size=2, unique=True)) if execs else []
    return [
        lambda o, ts, x=x: o.record(ExecutionBust(x.exec_id, "TradeCancel"), ts_recorded=ts)
        for x in chosen
    ]


@st.composite
def histories(draw: st.DrawFn) -> list[Order]:
    """A few orders, each with its own random life; their events are saved interleaved."""
    t = draw(utc_times())
    orders: list[Order] = []
    for n in range(1, draw(st.integers(1, 4)) + 1):
        spec = draw(order_specs())
        if draw(st.booleans()):
            order = Order.place(
                client_order_id=f"OT-prop-{n}",
                contract=draw(contracts()),
                spec=spec,
                ts_recorded=t,
            )
        else:
            fact = OrderObserved(draw(contracts()), spec, Origin.MANUAL, perm_id=40_000 + n)
            order = Order.observe(fact, ts_recorded=t)
        steps: list[Step] = draw(commands(order, n))
        facts = draw(ib_fact_sequences(spec, order_ref=f"OT-prop-{n}", perm_id=40_000 + n))
        steps += [lambda o, ts, f=f: o.record(f, ts_recorded=ts) for f in facts]
        for k, step in enumerate(draw(st.permutations(steps))):
            with contextlib.suppress(CommandRefused):
                step(order, t + timedelta(microseconds=k))
        for k, step in enumerate(busts(order, draw)):
            step(order, t + timedelta(seconds=1, microseconds=k))
        orders.append(order)
    return orders


def saved_interleaved(trail: OrderTrail, orders: list[Order], data: st.DataObject) -> None:
    pending = {o.id: list(o.collect_events()) for o in orders}
    while pending:
        oid = data.draw(st.sampled_from(sorted(pending)))
        take = data.draw(st.integers(1, len(pending[oid])))
        trail.save(*pending[oid][:take])
        pending[oid] = pending[oid][take:]
        if not pending[oid]:
            del pending[oid]


@settings(max_examples=60, deadline=None)
@given(orders=histories(), data=st.data())
def test_the_rebuild_is_the_aggregates_replay(orders: list[Order], data: st.DataObject) -> None:
    expected = {o.id: o.state for o in orders}
    with tempfile.TemporaryDirectory() as d:
        config = StoreConfig.resolve(Path(d))
        trail = OrderTrail(config)
        try:
            saved_interleaved(trail, orders, data)
            replayed = {oid: trail.get(oid).state for oid in expected}
            with EventLog.open(config) as log:
                rebuilt, head = fold_orders(log)
                open_only, _ = fold_orders(log, open_only=True)
                cut = data.draw(st.integers(0, head))
                upto = fold_events(e.event for e in log.after(0, cut))
                resumed, _ = fold_orders(log, start=cut, states=upto)
        finally:
            trail.close()
    assert replayed == expected
    assert rebuilt == replayed
    assert open_only == {k: s for k, s in replayed.items() if not s.status.is_done}
    assert resumed == replayed


@contextlib.contextmanager
def sqlite_pages_of(rows: int) -> Iterator[None]:
    """The SQLite log read ``rows`` rows a page, and folded ``rows`` rowids a range (tuning
    constants: the rebuild's answer must not depend on where the pages or ranges end)."""
    before = logsources.STREAMED_PAGE, tagged_pages.RANGE_ROWS
    logsources.STREAMED_PAGE = tagged_pages.RANGE_ROWS = rows
    try:
        yield
    finally:
        logsources.STREAMED_PAGE, tagged_pages.RANGE_ROWS = before


@settings(max_examples=40, deadline=None)
@given(orders=histories(), data=st.data())
def test_the_rebuild_read_in_small_pages_is_the_aggregates_replay(
    orders: list[Order], data: st.DataObject
) -> None:
    """The rebuild folds the SQLite log a range of rowids at a time, each range decoded from
    its lines in one call: ranges of any size (one row, the whole log, a range ending on the
    log's last row) give the same states and read every row once."""
    with tempfile.TemporaryDirectory() as d:
        config = StoreConfig.resolve(Path(d))
        trail = OrderTrail(config)
        try:
            saved_interleaved(trail, orders, data)
            replayed = {o.id: trail.get(o.id).state for o in orders}
            with EventLog.open(config) as log:
                head = log.head()
                with sqlite_pages_of(data.draw(st.integers(1, head + 1))):
                    rebuilt, position = fold_orders(log)
                    read = log.rows_read
                    cut = data.draw(st.integers(0, head))
                    upto = fold_events(e.event for e in log.after(0, cut))
                    resumed, _ = fold_orders(log, start=cut, states=upto)
                    open_only, _ = fold_orders(log, open_only=True)
        finally:
            trail.close()
    assert (position, read) == (head, head)
    assert rebuilt == replayed
    assert resumed == replayed
    assert open_only == {k: s for k, s in replayed.items() if not s.status.is_done}


def _separators(state: bytes) -> list[int]:
    """The positions just after the opening brace and each "{" or "," outside a string."""
    out, quoted, escaped = [], False, False
    for i, c in enumerate(state):
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = c == ord("\\"), c != ord('"')
        elif c == ord('"'):
            quoted = True
        elif c in b"{,":
            out.append(i + 1)
    return out


def _respaced(state: bytes, where: int, space: bytes) -> bytes:
    """``state`` with whitespace after one of its separators (``_separators``): the same
    JSON object, as another writer might have stored it."""
    cuts = _separators(state)
    at = cuts[where % len(cuts)]
    return state[:at] + space + state[at:]


@settings(max_examples=30, deadline=None)
@given(orders=histories(), data=st.data())
def test_the_rebuild_of_respaced_json_is_the_aggregates_replay(
    orders: list[Order], data: st.DataObject
) -> None:
    """Stored objects with whitespace (newlines included) between their members, in ranges
    of any size: msgspec reads whitespace as JSON allows it, so the ranges are still read from
    their lines, and the states are the aggregates'."""
    import sqlite3
    from contextlib import closing

    with tempfile.TemporaryDirectory() as d:
        config = StoreConfig.resolve(Path(d))
        trail = OrderTrail(config)
        try:
            saved_interleaved(trail, orders, data)
            with EventLog.open(config) as log:
                head = log.head()
                rows = data.draw(st.lists(st.integers(1, head), max_size=4, unique=True))
                with closing(sqlite3.connect(config.sqlite_path)) as db, db:
                    for rowid in rows:
                        (state,) = db.execute(
                            "SELECT state FROM stored_events WHERE rowid = ?", (rowid,)
                        ).fetchone()
                        space = data.draw(st.sampled_from([b"\n", b" \r\n\t", b"\n\n"]))
                        changed = _respaced(state, data.draw(st.integers(0, 50)), space)
                        db.execute(
                            "UPDATE stored_events SET state = ? WHERE rowid = ?", (changed, rowid)
                        )
                replayed = {o.id: trail.get(o.id).state for o in orders}
                with sqlite_pages_of(data.draw(st.integers(1, head + 1))):
                    rebuilt, position = fold_orders(log)
                    open_only, _ = fold_orders(log, open_only=True)
        finally:
            trail.close()
    assert position == head
    assert rebuilt == replayed
    assert open_only == {k: s for k, s in replayed.items() if not s.status.is_done}
