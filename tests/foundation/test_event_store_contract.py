"""One contract for the event store, run against every backend: SQLite (a file under tmp_path)
and PostgreSQL (a fresh database per test, ``@pytest.mark.postgres``).

A backend passes when stored events come back exactly as they were made, a writer that lost a
race is retried, discovery is idempotent, the fast rebuild equals ``repository.get``, the
notification log keeps the order of appends, and a store reopened after close carries on.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import fold_orders, stored_events
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.events import ORDER_EVENT_TYPES
from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionBust,
    ExecutionReport,
    OpenOrderReport,
    OrderObserved,
    Origin,
    OutboundRequest,
    RequestKind,
    StatusReport,
)
from ordertrail.domain.order import Order
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
    TimeInForce,
)
from tests.conftest import Clock
from tests.foundation.compare import assert_identical
from tests.strategies import contracts, feed_trail, ib_fact_sequences, order_specs

T0 = datetime(2024, 3, 15, 14, 0, 0, 123456, tzinfo=UTC)
OPTION = ContractRef(
    512_345_678,
    "SPY",
    "OPT",
    multiplier=Decimal(100),
    expiry="20240419",
    strike=Decimal("512.50"),
    right="P",
    local_symbol="SPY   240419P00512500",
)
SPEC = OrderSpec(
    OrderAction.SELL,
    Decimal("3"),
    OrderType.STOP_LIMIT,
    limit_price=Decimal("1.05"),
    stop_price=Decimal("1.10"),
    tif=TimeInForce.GTC,
    account="DU1234567",
    outside_rth=True,
    reference_price=Decimal("1.0750"),
)


@pytest.fixture
def open_trail(store: StoreConfig, clock: Clock) -> Iterator[Callable[..., OrderTrail]]:
    """Open OrderTrail instances on the test's store (several: other processes, or the same
    one after a restart); all are closed at the end."""
    opened: list[OrderTrail] = []

    def make(clock_: Callable[[], datetime] = clock) -> OrderTrail:
        trail = OrderTrail(store, clock=clock_)
        opened.append(trail)
        return trail

    yield make
    for trail in opened:
        trail.close()


# ---- exact round trip --------------------------------------------------------------------------


def every_event_type(ts: Callable[[], datetime]) -> list[Order]:
    """Two orders whose histories hold every event type at least once, with awkward values:
    Decimals with trailing zeros and exponents, microseconds, None, nested values."""
    x1 = Execution(
        exec_id="0000e0d5.65f1a2b3.01.01",
        time=T0,
        account="DU1234567",
        exchange="CBOE",
        side=Side.SOLD,
        shares=Decimal("1.0"),
        price=Decimal("1.0500"),
        perm_id=1_811_000_001,
        client_id=3,
        order_id=17,
        cum_qty=Decimal("1"),
        avg_price=Decimal("1.05"),
        order_ref="OT-contract-1",
        liquidity=2,
    )
    x2 = dataclasses.replace(x1, exec_id="0000e0d5.65f1a2b3.01.02", shares=Decimal("2E+0"))
    x3 = dataclasses.replace(
        x1, exec_id="0000e0d5.65f1a2b3.02.01", shares=Decimal(1), time=T0 + timedelta(seconds=1)
    )
    o = Order.place(
        client_order_id="OT-contract-1",
        contract=OPTION,
        spec=SPEC,
        ts_recorded=ts(),
        parent_key="coid:OT-parent",
        group_id="bracket-1",
    )
    o.submit(client_id=3, order_id=17, ts_recorded=ts())
    o.record(
        OutboundRequest(RequestKind.PLACE, client_id=3, order_id=17, spec=SPEC),
        ts_recorded=ts(),
    )
    o.record(
        OpenOrderReport(spec=SPEC, perm_id=1_811_000_001, client_id=3, order_id=17),
        ts_recorded=ts(),
    )
    o.record(
        StatusReport(
            raw_status="Submitted",
            filled=Decimal("0"),
            remaining=Decimal("3.000"),
            avg_fill_price=None,
            why_held="",
            mkt_cap_price=Decimal("0E-8"),
            ts_event=T0,
        ),
        ts_recorded=ts(),
    )
    o.request_modify(SPEC.with_changes(limit_price=Decimal("1.04")), ts_recorded=ts())
    o.record(
        ErrorReport(code=110, message="price does not conform", advanced_reject='{"x": 1}'),
        ts_recorded=ts(),
    )
    o.request_modify(SPEC.with_changes(limit_price=Decimal("1.03")), ts_recorded=ts())
    o.record(OpenOrderReport(spec=SPEC.with_changes(limit_price=Decimal("1.03"))), ts_recorded=ts())
    o.request_cancel(ts_recorded=ts())
    o.record(ErrorReport(code=161, message="not cancellable"), ts_recorded=ts())
    o.record(ExecutionReport(x1, provenance={"source": "live", "tape": "17:3"}), ts_recorded=ts())
    o.record(
        CommissionReported(
            CommissionReport(x1.exec_id, Decimal("0.650000"), "USD", Decimal("-1.2E+1"))
        ),
        ts_recorded=ts(),
    )
    o.record(ExecutionReport(x2), ts_recorded=ts())
    o.record(ExecutionReport(x3), ts_recorded=ts())  # 2 + 1 completes the order
    o.record(
        ExecutionBust(
            x3.exec_id, reason="TradeCancel", ts_event=T0.astimezone(timezone(timedelta(hours=-4)))
        ),
        ts_recorded=ts(),
    )
    o.record(
        StatusReport(
            raw_status="Cancelled",
            filled=Decimal(2),
            remaining=Decimal(1),
            avg_fill_price=Decimal("1.05"),
        ),
        ts_recorded=ts(),
    )
    o.record(
        StatusReport(
            raw_status="ValidationError", filled=None, remaining=None, avg_fill_price=None
        ),
        ts_recorded=ts(),
    )
    denied = Order.place(
        client_order_id="OT-contract-2",
        contract=ContractRef(8314, "IBM"),
        spec=OrderSpec(OrderAction.BUY, Decimal("0.5"), OrderType.MARKET),
        ts_recorded=ts(),
    )
    denied.deny(rule="max_notional", reason="über the limit ✓", ts_recorded=ts())
    return [o, denied]


def test_round_trip_of_every_event_type(open_trail: Callable[..., OrderTrail]) -> None:
    trail = open_trail()
    orders = every_event_type(trail.clock)
    made = {o.id: list(o.pending_events) for o in orders}
    assert {type(e) for events in made.values() for e in events} == set(ORDER_EVENT_TYPES)
    trail.save(*orders)
    for oid, events in made.items():
        stored = trail.history(oid)
        assert len(stored) == len(events)
        for original, loaded in zip(events, stored, strict=True):
            assert_identical(original.__dict__, loaded.__dict__, type(original).__name__)
        assert trail.get(oid).state == next(o for o in orders if o.id == oid).state
    # The fast rebuild decodes the same bytes to the same events.
    fast = {}
    for _, event in stored_events(trail.recorder):
        fast.setdefault(event.originator_id, []).append(event)
    for oid, events in made.items():
        for original, loaded in zip(events, fast[oid], strict=True):
            assert_identical(original.__dict__, loaded.__dict__, type(original).__name__)


# ---- concurrency -------------------------------------------------------------------------------


class Interloper:
    """A clock for one writer that, when armed, lets another writer append to the same order
    between the first one's load and its save: a real optimistic-concurrency conflict."""

    def __init__(self, base: Clock, times: int = 1) -> None:
        self.base = base
        self.action: Callable[[], object] | None = None
        self.times = times

    def __call__(self) -> datetime:
        if self.action is not None and self.times > 0:
            self.times -= 1
            self.action()
        return self.base()


def test_concurrency_conflict_is_retried(
    open_trail: Callable[..., OrderTrail], clock: Clock
) -> None:
    interloper = Interloper(clock)
    a = open_trail(interloper)
    b = open_trail()
    oid = a.place(client_order_id="OT-race-1", contract=OPTION, spec=SPEC)
    a.submit(oid, client_id=1, order_id=5)
    key = FactKey(order_ref="OT-race-1")
    interloper.action = lambda: b.record(
        key,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(3),
            avg_fill_price=None,
            perm_id=key.perm_id,
        ),
    )
    x = Execution(
        "00001111.65f1a2b3.01.01", T0, "DU1", "CBOE", Side.SOLD, Decimal(1), Decimal("1.05")
    )
    assert a.record(key, ExecutionReport(x)) is True  # lost the race once, retried on fresh state
    names = [type(e).__name__ for e in a.history(oid)]
    assert names == ["OrderCreated", "SubmissionRequested", "StatusReported", "ExecutionRecorded"]
    s = b.get(oid).state
    assert s.status.value == "Submitted"
    assert s.filled == Decimal(1)
    assert a.states()[oid] == s


def test_concurrency_conflict_that_never_ends_is_raised(
    open_trail: Callable[..., OrderTrail], clock: Clock
) -> None:
    interloper = Interloper(clock, times=100)
    a = open_trail(interloper)
    b = open_trail()
    oid = a.place(client_order_id="OT-race-2", contract=OPTION, spec=SPEC)
    key = FactKey(order_ref="OT-race-2")
    counter = itertools.count()
    interloper.action = lambda: b.record(
        key, ErrorReport(code=399, message=f"warning {next(counter)}")
    )
    with pytest.raises(IntegrityError):
        a.record(
            key,
            StatusReport(
                raw_status="Submitted",
                filled=Decimal(0),
                remaining=Decimal(3),
                avg_fill_price=None,
                perm_id=key.perm_id,
            ),
        )
    # Nothing of the losing writer was stored; every winner's event was.
    names = [type(e).__name__ for e in b.history(oid)]
    assert "StatusReported" not in names
    assert names.count("ErrorReported") == next(counter)


def test_discover_is_idempotent(open_trail: Callable[..., OrderTrail], clock: Clock) -> None:
    a = open_trail()
    first = a.observe(
        OrderObserved(contract=OPTION, spec=SPEC, perm_id=424242, origin=Origin.MANUAL)
    )
    assert (
        a.observe(OrderObserved(contract=OPTION, spec=SPEC, perm_id=424242, origin=Origin.MANUAL))
        == first
    )
    b = open_trail()
    assert (
        b.observe(
            OrderObserved(contract=OPTION, spec=SPEC, perm_id=424242, origin=Origin.DISCOVERED)
        )
        == first
    )
    assert first == Order.id_for(perm_id=424242)
    assert [type(e).__name__ for e in b.history(first)] == ["OrderCreated"]


def test_discover_race_between_two_writers(
    open_trail: Callable[..., OrderTrail], clock: Clock
) -> None:
    interloper = Interloper(clock)
    a = open_trail(interloper)
    b = open_trail()
    interloper.action = lambda: b.observe(
        OrderObserved(contract=OPTION, spec=SPEC, perm_id=777, origin=Origin.DISCOVERED)
    )
    assert a.observe(
        OrderObserved(contract=OPTION, spec=SPEC, perm_id=777, origin=Origin.DISCOVERED)
    ) == Order.id_for(perm_id=777)
    assert len(a.states()) == 1
    assert len(a.history(Order.id_for(perm_id=777))) == 1


# ---- rebuild, log, reopen ------------------------------------------------------------------------


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_rebuild_equals_repository_get(
    open_trail: Callable[..., OrderTrail], data: st.DataObject
) -> None:
    trail = open_trail()
    start = len(trail.states())
    for _ in range(data.draw(st.integers(1, 4))):
        n = len(trail.states()) + 1
        coid = f"OT-rebuild-{n}"
        spec = data.draw(order_specs())
        oid = trail.place(client_order_id=coid, contract=data.draw(contracts()), spec=spec)
        trail.submit(oid, client_id=1, order_id=n)
        key = FactKey(order_ref=coid, perm_id=10_000 + n)
        for fact in data.draw(ib_fact_sequences(spec, order_ref=coid, perm_id=10_000 + n)):
            feed_trail(trail, key, fact)
    states = trail.states()
    assert len(states) > start
    for oid, s in states.items():
        assert trail.get(oid).state == s
    # An incremental fold from any point equals the full fold.
    full, last = fold_orders(trail.recorder)
    assert full == states
    ids = [nid for nid, _ in stored_events(trail.recorder)]
    cut = ids[len(ids) // 2]
    half, _ = fold_orders(trail.recorder, start=0)
    part, _ = fold_orders(trail.recorder, start=cut - 1 if cut > ids[0] else 0)
    assert half == full
    assert set(part) <= set(full)
    assert last == ids[-1]


def test_notification_log_keeps_append_order(open_trail: Callable[..., OrderTrail]) -> None:
    trail = open_trail()
    appended: list[tuple[UUID, int]] = []
    for n in range(3):
        oid = trail.place(client_order_id=f"OT-log-{n}", contract=OPTION, spec=SPEC)
        appended.append((oid, 1))
    for n, raw in ((2, "Submitted"), (0, "Submitted"), (1, "PreSubmitted"), (2, "Cancelled")):
        oid = Order.id_for(client_order_id=f"OT-log-{n}")
        before = len(trail.history(oid))
        assert trail.record(
            FactKey(order_ref=f"OT-log-{n}"),
            StatusReport(
                raw_status=raw,
                filled=Decimal(0),
                remaining=Decimal(3),
                avg_fill_price=None,
                perm_id=FactKey(order_ref=f"OT-log-{n}").perm_id,
            ),
        )
        # A status before submission also records its anomaly: every version is appended.
        appended += [(oid, v) for v in range(before + 1, len(trail.history(oid)) + 1)]
    notes = list(trail.notification_log.select(start=1, limit=10))
    assert len(appended) <= 10
    assert [(n.originator_id, n.originator_version) for n in notes] == appended
    ids = [n.id for n in notes]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    fast = [(e.originator_id, e.originator_version) for _, e in stored_events(trail.recorder)]
    assert fast == appended
    # Reading from a position returns only what came after it.
    after = [e.originator_version for _, e in stored_events(trail.recorder, ids[2])]
    assert len(after) == len(appended) - 3


def test_reopen_after_close(
    store: StoreConfig, open_trail: Callable[..., OrderTrail], clock: Clock
) -> None:
    first = open_trail()
    oid = first.place(client_order_id="OT-reopen-1", contract=OPTION, spec=SPEC)
    first.submit(oid, client_id=9, order_id=1)
    key = FactKey(order_ref="OT-reopen-1", perm_id=55_555)
    first.record(
        key,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(3),
            avg_fill_price=None,
            perm_id=key.perm_id,
        ),
    )
    before = first.states()
    first.close()

    again = open_trail()
    assert again.states() == before
    assert again.get(oid).state == before[oid]
    # Identities come back from the log, not from memory.
    assert again.resolve(FactKey(perm_id=55_555)) == oid
    x = Execution(
        "0000aaaa.65f1a2b3.01.01", T0, "DU1", "CBOE", Side.SOLD, Decimal(3), Decimal("1.05")
    )
    assert again.record(FactKey(perm_id=55_555), ExecutionReport(x)) is True
    assert (
        again.record(None, CommissionReported(CommissionReport(x.exec_id, Decimal("1"), "USD")))
        is True
    )
    versions = [e.originator_version for e in again.history(oid)]
    assert versions == list(range(1, len(versions) + 1))
    assert again.states()[oid].status.value == "Filled"
    assert store.is_postgres or store.sqlite_path.exists()


@pytest.mark.parametrize("folder", ["trading #2", "50% off", "what?", "a b"])
def test_sqlite_fast_rebuild_in_a_folder_with_uri_characters(
    tmp_path: Path, clock: Clock, folder: str
) -> None:
    # The fast rebuild opens the SQLite file read-only through a URI: the path must be encoded.
    trail = OrderTrail(StoreConfig.resolve(tmp_path / folder), clock=clock)
    oid = trail.place(client_order_id="OT-uri-1", contract=OPTION, spec=SPEC)
    assert trail.states()[oid] == trail.get(oid).state
    trail.close()
