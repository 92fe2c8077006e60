"""What an error did is stored with it (``ErrorReported.effect``, ErrorEffect's value): the
record keeps the spelling events already stored carry, for every effect, read against the
request the error answered."""

from __future__ import annotations

from datetime import timedelta

from ordertrail.domain import events as ev
from ordertrail.domain.facts import ErrorReport, StatusReport
from ordertrail.domain.order import Order
from ordertrail.domain.status import OrderStatus
from tests.domain.orders import T0, submitted

T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)


def _submitted() -> Order:
    o = submitted("OT-err-1")
    o.collect_events()
    return o


def _error(o: Order, code: int, message: str) -> ev.ErrorReported:
    assert o.record(ErrorReport(code, message, ts_event=T1), ts_recorded=T2)
    reported = o.collect_events()[0]
    assert isinstance(reported, ev.ErrorReported)
    return reported


def test_a_rejection_of_a_new_order_is_stored_as_rejects_and_stops_it() -> None:
    o = _submitted()
    reported = _error(o, 201, "Order rejected - reason:Exchange is closed.")
    assert (reported.effect, reported.code, reported.status) == ("rejects", 201, "Inactive")
    assert o.state.status is OrderStatus.INACTIVE


def test_a_cancel_confirmation_is_stored_as_confirms_cancel_and_cancels_it() -> None:
    o = _submitted()
    o.record(StatusReport("Submitted"), ts_recorded=T1)
    o.request_cancel(ts_recorded=T1)
    o.collect_events()
    reported = _error(o, 202, "Order Canceled - reason:")
    assert (reported.effect, reported.code, reported.status) == (
        "confirms_cancel",
        202,
        "Cancelled",
    )
    assert o.state.status is OrderStatus.CANCELLED


def test_a_warning_is_stored_as_informs_and_moves_nothing() -> None:
    o = _submitted()
    reported = _error(o, 10349, "Order TIF was set to DAY based on order preset.")
    assert (reported.effect, reported.status) == ("informs", "PendingSubmit")
    assert o.state.status is OrderStatus.PENDING_SUBMIT
