"""Working or done, read off a real order as IB's statuses move it: the engine, the gateway and
the dry run decide on these two words (cancel what works, stop waiting for what is done), so
every status IB can send must give exactly one answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import OrderObserved, Origin, StatusReport
from ordertrail.domain.order import Order
from ordertrail.domain.status import IB_STATUSES, OrderStatus
from tests.domain.orders import AAPL, LMT, T0, submitted


def _reported(raw: str) -> Order:
    o = submitted("OT-status-1")
    o.record(StatusReport(raw), ts_recorded=T0 + timedelta(seconds=1))
    return o


@pytest.mark.parametrize("raw", sorted(IB_STATUSES))
def test_every_status_ib_sends_leaves_the_order_either_working_or_done(raw: str) -> None:
    status = _reported(raw).state.status
    assert status.value == raw
    assert status.is_working != status.is_done


@pytest.mark.parametrize("ours", [OrderStatus.NEW, OrderStatus.RISK_DENIED, OrderStatus.DISCOVERED])
def test_our_own_statuses_arriving_as_ib_s_are_unknown_and_move_nothing(ours: OrderStatus) -> None:
    o = _reported(OrderStatus.SUBMITTED.value)
    o.collect_events()
    assert o.record(StatusReport(ours.value), ts_recorded=T0 + timedelta(seconds=2)) is True
    assert o.state.status is OrderStatus.SUBMITTED
    assert o.state.anomalies == ["unknown_status"]


def test_an_order_not_yet_sent_is_neither_working_nor_done() -> None:
    o = Order.place(client_order_id="OT-status-2", contract=AAPL, spec=LMT, ts_recorded=T0)
    assert (o.state.status.is_working, o.state.status.is_done) == (False, False)


def test_an_order_learned_from_ib_before_any_status_is_neither_working_nor_done() -> None:
    o = Order.observe(OrderObserved(AAPL, LMT, Origin.MANUAL, perm_id=4242), ts_recorded=T0)
    assert o.state.status is OrderStatus.DISCOVERED
    assert (o.state.status.is_working, o.state.status.is_done) == (False, False)
    # Our submission is for our own new orders: the refusal names the status as the record
    # and the docs spell it.
    with pytest.raises(CommandRefused) as refused:
        o.submit(client_id=1, order_id=8, ts_recorded=T0)
    assert refused.value.status == "Discovered"


def test_a_risk_denied_order_is_done_it_never_left_the_building() -> None:
    o = Order.place(client_order_id="OT-status-3", contract=AAPL, spec=LMT, ts_recorded=T0)
    o.deny(rule="max_order_notional", reason="too big", ts_recorded=T0)
    assert (o.state.status.is_working, o.state.status.is_done) == (False, True)


@pytest.mark.parametrize("raw", sorted(IB_STATUSES))
def test_a_working_order_takes_a_cancel_unless_one_is_pending(raw: str) -> None:
    # What the engine relies on when it cancels every working order but those already
    # PendingCancel: the order itself accepts the cancel.
    o = _reported(raw)
    status = o.state.status
    if status.is_working and status is not OrderStatus.PENDING_CANCEL:
        o.request_cancel(ts_recorded=T0 + timedelta(seconds=2))
        assert o.state.cancel_requested
    elif status.is_done and status is not OrderStatus.INACTIVE:
        with pytest.raises(CommandRefused):
            o.request_cancel(ts_recorded=T0 + timedelta(seconds=2))
