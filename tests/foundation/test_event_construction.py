"""``Order.trigger_event`` and ``Order._create`` make order events (and new orders) without
eventsourcing's general path: each must
be the event eventsourcing's own constructor makes from the same values, attribute by attribute
and in the same order (the order of the stored JSON's members), and the aggregate must move as
eventsourcing's ``mutate`` moves it, on random histories of every event type."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings

from ordertrail.adapters.store.codec import EventMapper
from ordertrail.domain import events as ev
from ordertrail.domain import order as order_module
from ordertrail.domain.order import Order
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType
from tests.foundation.test_rebuild_equals_replay import histories


@pytest.fixture(autouse=True)
def _first_events_of_each_class() -> None:
    # Each class's template is made by the first event of that class a process builds: from an
    # empty memory, every test here builds it, whatever ran before in the same process.
    order_module._TEMPLATES.clear()
    order_module._INIT_FIELDS.clear()


def constructed(event: Any) -> Any:
    """The event as its frozen dataclass's ``__init__`` (eventsourcing's path) makes it."""
    return type(event)(**event.__dict__)


@settings(max_examples=80, deadline=None)
@given(orders=histories())
def test_events_are_what_eventsourcing_constructs(orders: list[Order]) -> None:
    mapper, plain = EventMapper(), EventMapper()
    for order in orders:
        events = list(order.collect_events())
        rebuilt: Any = None
        for event in events:
            twin = constructed(event)
            assert list(event.__dict__.items()) == list(twin.__dict__.items())
            assert mapper.to_stored_event(event) == plain.to_stored_event(twin)
            rebuilt = event.mutate(rebuilt)  # eventsourcing checks the id and the version
        assert rebuilt.state == order.state
        assert type(rebuilt) is type(order)
        assert (rebuilt.id, rebuilt.version) == (order.id, order.version)
        assert (rebuilt.created_on, rebuilt.modified_on) == (order.created_on, order.modified_on)


def test_a_call_the_fast_path_does_not_take_fails_as_eventsourcing_fails() -> None:
    spec = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.LIMIT, limit_price=Decimal(1))
    ts = datetime(2026, 1, 5, tzinfo=UTC)
    order = Order.place(
        client_order_id="OT-x-1", contract=ContractRef(1, "X"), spec=spec, ts_recorded=ts
    )
    with pytest.raises(TypeError, match="Can't construct event"):  # a field missing
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=None)
    with pytest.raises(TypeError, match="Can't construct event"):  # one it does not have
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=None, code=1, nonsense=2)
    with pytest.raises(TypeError, match="Can't construct event"):  # one it has not, one missing
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=None, nonsense=2)
    with pytest.raises(TypeError, match="Can't construct event"):  # the id given, a field not
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=None, originator_id=order.id)
    with pytest.raises(TypeError, match="Can't construct event"):
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=None, originator_version=2)
    assert order.version == 1
    assert len(order.pending_events) == 1
    with pytest.raises(TypeError, match="Unable to construct"):  # a creation missing a field
        Order._create(ev.OrderCreated, id=order.id, timestamp=ts, ts_event=None)


def test_arguments_in_any_order_make_the_event_in_its_declared_order() -> None:
    spec = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.LIMIT, limit_price=Decimal(1))
    ts = datetime(2026, 1, 5, tzinfo=UTC)
    order = Order.place(
        client_order_id="OT-x-2", contract=ContractRef(1, "X"), spec=spec, ts_recorded=ts
    )
    order.trigger_event(
        ev.ErrorReported,
        effect=None,
        status=order.state.status,
        advanced_reject=None,
        message="m",
        code=201,
        ts_event=None,
        timestamp=ts,
    )
    event = order.pending_events[-1]
    twin = constructed(event)
    assert list(event.__dict__.items()) == list(twin.__dict__.items())
    assert list(event.__dict__)[:5] == [
        "originator_id",
        "originator_version",
        "timestamp",
        "ts_event",
        "code",
    ]
    assert (event.originator_version, order.version, order.modified_on) == (2, 2, ts)
    assert EventMapper().to_stored_event(event) == EventMapper().to_stored_event(twin)


def test_an_event_given_no_time_is_stamped_as_eventsourcing_stamps_it() -> None:
    spec = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.LIMIT, limit_price=Decimal(1))
    ts = datetime(2026, 1, 5, tzinfo=UTC)
    order = Order.place(
        client_order_id="OT-x-3", contract=ContractRef(1, "X"), spec=spec, ts_recorded=ts
    )
    order.trigger_event(ev.CancelRefused, timestamp=None, ts_event=None, code=1)
    event = order.pending_events[-1]
    assert isinstance(event.timestamp, datetime)
    assert event.timestamp > ts
    assert order.modified_on == event.timestamp
