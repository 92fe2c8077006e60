"""What our commands may do, and what a refusal tells the caller. IB keeps an order's action and
type for its whole life (a changed one comes back as error 105 or is ignored) and cannot cut
the quantity below what has filled; a second cancel while one is pending only earns IB's
error 161. A refused command records nothing; an accepted one is recorded at the time the
caller gives (the recorder's clock), never the machine's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import ExecutionReport, StatusReport
from ordertrail.domain.machine import expected_facts
from ordertrail.domain.order import Order
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, Execution, OrderAction, OrderSpec, OrderType, Side

T0 = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
MSFT = ContractRef(272093, "MSFT")
LMT = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("410.50"))
KEPT = "IB cannot change an order's action or type"


def working(filled: int = 0) -> Order:
    o = Order.place(client_order_id="OT-m1", contract=MSFT, spec=LMT, ts_recorded=T0)
    o.submit(client_id=1, order_id=5, ts_recorded=T0)
    o.record(StatusReport("Submitted", Decimal(0), LMT.quantity), ts_recorded=T0)
    if filled:
        x = Execution("0001.a.01", T0, "DU1", "ISLAND", Side.BOUGHT, Decimal(filled), Decimal(410))
        o.record(ExecutionReport(x), ts_recorded=T0)
    o.collect_events()
    return o


def refused(o: Order, spec: OrderSpec) -> CommandRefused:
    return refused_by(o, lambda: o.request_modify(spec, ts_recorded=T0))


def refused_by(o: Order, command: Callable[[], None]) -> CommandRefused:
    version = o.version
    with pytest.raises(CommandRefused) as caught:
        command()
    assert (o.version, list(o.collect_events())) == (version, [])
    return caught.value


@pytest.mark.parametrize(
    "changed",
    [
        replace(LMT, action=OrderAction.SELL),  # the action alone
        replace(LMT, order_type=OrderType.STOP_LIMIT, stop_price=Decimal(410)),  # the type
    ],
    ids=["action", "type"],
)
def test_a_changed_action_or_type_alone_is_refused(changed: OrderSpec) -> None:
    e = refused(working(), changed)
    assert (e.command, e.status, e.reason) == ("modify", "Submitted", KEPT)
    assert str(e) == f"cannot modify an order in status Submitted: {KEPT}"


def test_a_quantity_below_the_filled_shares_is_refused_naming_both() -> None:
    e = refused(working(filled=30), LMT.with_changes(quantity=Decimal(20)))
    assert (e.command, e.status) == ("modify", "Submitted")
    assert e.reason == "quantity 20 is below the 30 already filled"


def test_a_request_that_changes_nothing_is_refused() -> None:
    e = refused(working(), LMT)
    assert (e.command, e.status, e.reason) == ("modify", "Submitted", "nothing would change")


def test_a_finished_order_refuses_a_modification_or_a_cancel_naming_the_command() -> None:
    o = working()
    o.record(StatusReport("Cancelled", Decimal(0), LMT.quantity), ts_recorded=T0)
    o.collect_events()
    e = refused(o, LMT.with_changes(limit_price=Decimal(411)))
    assert (e.command, e.status) == ("modify", "Cancelled")
    assert e.reason.startswith("allowed here: ")
    assert str(e).startswith("cannot modify an order in status Cancelled: allowed here: ")
    e = refused_by(o, lambda: o.request_cancel(ts_recorded=T1))
    assert (e.command, e.status) == ("cancel", "Cancelled")


def test_an_anomaly_names_every_fact_that_was_expected_instead() -> None:
    # IB may report an execution after the order's Cancelled status (a fill in flight when
    # the cancel landed): recorded, with what the state expected written out for the auditor.
    o = working()
    o.record(StatusReport("Cancelled", Decimal(0), LMT.quantity), ts_recorded=T0)
    o.collect_events()
    x = Execution("0002.a.01", T0, "DU1", "ISLAND", Side.BOUGHT, Decimal(10), Decimal(410))
    o.record(ExecutionReport(x), ts_recorded=T1)
    (anomaly,) = [e for e in o.collect_events() if type(e).__name__ == "AnomalyRecorded"]
    assert anomaly.kind == "fill_after_cancel"
    prefix, listed = anomaly.expected.split(": ", 1)
    assert prefix == "from Cancelled"
    assert listed.split(", ") == expected_facts(OrderStatus.CANCELLED)
    assert {"report_Cancelled", "report_Inactive"} <= set(listed.split(", "))


def test_a_price_change_within_the_filled_quantity_is_recorded() -> None:
    o = working(filled=30)
    o.request_modify(LMT.with_changes(quantity=Decimal(30)), ts_recorded=T1)
    (event,) = o.collect_events()
    assert (event.spec.quantity, event.timestamp) == (Decimal(30), T1)


def test_a_second_cancel_while_one_is_pending_is_refused() -> None:
    o = working()
    o.request_cancel(ts_recorded=T1)
    (event,) = o.collect_events()
    assert event.timestamp == T1
    e = refused_by(o, lambda: o.request_cancel(ts_recorded=T1))
    assert (e.command, e.status, e.reason) == ("cancel", "Submitted", "a cancel is already pending")


def test_a_risk_denial_is_recorded_at_the_callers_time_and_only_before_submission() -> None:
    o = Order.place(client_order_id="OT-m2", contract=MSFT, spec=LMT, ts_recorded=T0)
    o.deny(rule="max_notional", reason="41,050 over 25,000", ts_recorded=T1)
    (_, denied) = o.collect_events()
    assert (denied.rule, denied.timestamp, o.state.status.value) == (
        "max_notional",
        T1,
        "RiskDenied",
    )
    sent = working()
    e = refused_by(sent, lambda: sent.deny(rule="r", reason="x", ts_recorded=T1))
    assert (e.command, e.status) == ("deny", "Submitted")
