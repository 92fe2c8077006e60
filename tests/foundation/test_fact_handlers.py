"""The fact handlers' less common paths, in the domain alone (no store), so that each field an
event carries is checked where it is decided: a statement's bust of a fill, a commission
report of a revision already corrected, an anomaly a source found, openOrder acknowledging
terms (ours or typed into TWS), and what an error event keeps of IB's message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ordertrail.domain import events as ev
from ordertrail.domain.facts import (
    AnomalyFound,
    CommissionReported,
    ErrorReport,
    ExecutionBust,
    ExecutionReport,
    OpenOrderReport,
    StatusReport,
)
from ordertrail.domain.order import Order
from ordertrail.domain.order_facts import on_open_order
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)

S = OrderStatus
T0 = datetime(2026, 4, 1, 14, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)  # when ordertrail recorded what follows
T2 = T0 + timedelta(days=1)  # the statement's time of a bust
MSFT = ContractRef(272093, "MSFT")
STP_LMT = OrderSpec(
    OrderAction.BUY,
    Decimal(100),
    OrderType.STOP_LIMIT,
    limit_price=Decimal("410.50"),
    stop_price=Decimal("410.00"),
)


def working(spec: OrderSpec = STP_LMT) -> Order:
    o = Order.place(client_order_id="OT-h1", contract=MSFT, spec=spec, ts_recorded=T0)
    o.submit(client_id=1, order_id=5, ts_recorded=T0)
    o.record(StatusReport("Submitted", Decimal(0), spec.quantity), ts_recorded=T0)
    o.collect_events()
    return o


def fill(o: Order, exec_id: str, shares: int, price: str = "410.40") -> None:
    x = Execution(exec_id, T0, "DU1", "ISLAND", Side.BOUGHT, Decimal(shares), Decimal(price))
    assert o.record(ExecutionReport(x), ts_recorded=T0)


def commission(o: Order, exec_id: str, amount: str) -> bool:
    report = CommissionReport(exec_id, Decimal(amount), "USD")
    return o.record(CommissionReported(report), ts_recorded=T1)


def new_events(o: Order) -> list[Any]:
    return list(o.collect_events())


# ---- busts ---------------------------------------------------------------------------------------


def test_a_bust_of_the_fill_that_completed_the_order_keeps_filled_and_tells_the_auditor() -> None:
    o = working()
    fill(o, "0001.a.01", 60)
    fill(o, "0001.b.01", 40)
    fill(o, "0001.a.02", 60, "410.30")  # a correction: the bust names the revision it busts
    commission(o, "0001.a.02", "0.30")
    assert o.state.status is S.FILLED
    new_events(o)
    bust = ExecutionBust("0001.a.01", "TradeCancel", ts_event=T2, provenance={"row": "7"})
    assert o.record(bust, ts_recorded=T1) is True
    cancelled, anomaly = new_events(o)
    assert isinstance(cancelled, ev.ExecutionCancelled)
    assert (cancelled.exec_id, cancelled.reason, cancelled.status) == (
        "0001.a.02",
        "TradeCancel",
        S.FILLED,
    )
    assert (cancelled.ts_event, cancelled.timestamp, cancelled.provenance) == (T2, T1, {"row": "7"})
    assert isinstance(anomaly, ev.AnomalyRecorded)
    assert anomaly.kind == "filled_order_lost_a_fill"
    assert anomaly.received == "cancel of execution 0001.a.01"
    assert anomaly.expected.startswith("from Filled: ")
    assert (anomaly.ts_event, anomaly.timestamp) == (T2, T1)
    s = o.state
    assert (s.status, s.filled, s.anomalies) == (
        S.FILLED,
        Decimal(40),
        ["filled_order_lost_a_fill"],
    )
    assert "0001.a" not in s.commissions  # the statement reverses the commission with the fill
    assert s.cancelled_executions == ["0001.a.02"]
    assert s.updated_at == T1


def test_a_bust_of_an_unknown_or_already_busted_execution_records_nothing() -> None:
    o = working()
    fill(o, "0002.a.01", 30)
    new_events(o)
    assert o.record(ExecutionBust("0002.z.01", "TradeCancel"), ts_recorded=T1) is False
    assert o.record(ExecutionBust("0002.a.01", "TradeCancel"), ts_recorded=T1) is True
    assert o.record(ExecutionBust("0002.a.01", "TradeCancel"), ts_recorded=T1) is False
    assert [type(e) for e in new_events(o)] == [ev.ExecutionCancelled]
    assert o.state.filled == 0


def test_a_bust_on_a_working_order_is_no_anomaly() -> None:
    o = working()
    fill(o, "0003.a.01", 30)
    fill(o, "0003.b.01", 20)
    new_events(o)
    assert o.record(ExecutionBust("0003.b.01", "TradeCancel"), ts_recorded=T1)
    (cancelled,) = new_events(o)
    assert cancelled.status is S.SUBMITTED
    assert (o.state.filled, o.state.anomalies) == (Decimal(30), [])


def test_a_bust_that_leaves_an_overfilled_order_exactly_filled_loses_no_fill() -> None:
    o = working()
    fill(o, "0004.a.01", 100)
    fill(o, "0004.b.01", 20)  # overfill: IB filled more than the order
    assert o.state.anomalies == ["overfill"]
    assert o.record(ExecutionBust("0004.b.01", "TradeCancel"), ts_recorded=T1)
    assert (o.state.filled, o.state.status, o.state.anomalies) == (
        Decimal(100),
        S.FILLED,
        ["overfill"],
    )


# ---- commission reports of corrected executions --------------------------------------------------


def test_a_commission_report_of_a_revision_already_corrected_changes_nothing() -> None:
    o = working()
    fill(o, "0005.a.01", 10)
    fill(o, "0005.a.02", 10)
    assert commission(o, "0005.a.02", "1.10")
    # IB re-sends every report after a reconnect: the corrected revision's comes late.
    assert commission(o, "0005.a.01", "1.00") is False
    assert o.state.commissions["0005.a"].commission == Decimal("1.10")


def test_revisions_are_compared_as_numbers_and_a_later_one_replaces_the_commission() -> None:
    o = working()
    fill(o, "0006.a.9", 10)
    assert commission(o, "0006.a.9", "1.00")
    fill(o, "0006.a.10", 10)  # as a string "10" sorts before "9": IB's revisions are numbers
    assert o.state.executions["0006.a"].exec_id == "0006.a.10"
    assert commission(o, "0006.a.10", "1.20")
    assert o.state.commissions["0006.a"].commission == Decimal("1.20")


def test_a_commission_report_whose_revision_is_not_a_number_ranks_below_any_number() -> None:
    o = working()
    fill(o, "0007.a.01", 10)
    assert commission(o, "0007.a.01", "1.00")
    assert commission(o, "0007.a.x1", "9.99") is False
    assert o.state.commissions["0007.a"].exec_id == "0007.a.01"


# ---- what a source flagged -----------------------------------------------------------------------


def test_an_anomaly_found_by_a_source_is_recorded_as_it_was_said() -> None:
    o = working()
    found = AnomalyFound("fill_in_year_1", "a trade date", "0001-01-01", ts_event=T2)
    assert o.record(found, ts_recorded=T1) is True
    (e,) = new_events(o)
    assert isinstance(e, ev.AnomalyRecorded)
    assert (e.kind, e.expected, e.received) == ("fill_in_year_1", "a trade date", "0001-01-01")
    assert (e.ts_event, e.timestamp) == (T2, T1)
    assert (o.state.anomalies, o.state.updated_at) == (["fill_in_year_1"], T1)


# ---- openOrder: identifiers and terms ------------------------------------------------------------


def test_open_order_with_a_perm_id_and_order_id_zero_binds_only_the_perm_id() -> None:
    # After a restart IB reports an order with orderId 0: no (clientId, orderId) alias.
    o = working()
    report = OpenOrderReport(STP_LMT, perm_id=1_900_000_001, client_id=7, order_id=0)
    assert o.record(report, ts_recorded=T1)
    (bound,) = new_events(o)
    assert isinstance(bound, ev.IdentifiersBound)
    assert (bound.perm_id, bound.client_id, bound.order_id) == (1_900_000_001, None, None)
    assert on_open_order(o, report, T1) is False  # the handler's own answer, not a falsy None


def test_terms_changed_in_tws_are_acknowledged_as_not_requested() -> None:
    o = working()
    by_hand = STP_LMT.with_changes(
        quantity=Decimal(80), limit_price=Decimal("409.00"), stop_price=Decimal("408.50")
    )
    assert o.record(OpenOrderReport(by_hand), ts_recorded=T1)
    (ack,) = new_events(o)
    assert isinstance(ack, ev.ModificationAcknowledged)
    assert (ack.spec.quantity, ack.spec.limit_price, ack.spec.stop_price) == (
        Decimal(80),
        Decimal("409.00"),
        Decimal("408.50"),
    )
    assert (ack.requested, ack.timestamp, ack.ts_event) == (False, T1, None)
    assert o.state.spec == by_hand


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": Decimal(90)},
        {"limit_price": Decimal("410.25")},
        {"stop_price": Decimal("409.90")},
    ],
)
def test_an_open_order_changing_one_term_is_acknowledged(change: dict[str, Any]) -> None:
    o = working()
    by_hand = STP_LMT.with_changes(**change)
    assert o.record(OpenOrderReport(by_hand), ts_recorded=T1)
    (ack,) = new_events(o)
    assert isinstance(ack, ev.ModificationAcknowledged)
    assert o.state.spec == by_hand
    assert o.record(OpenOrderReport(by_hand), ts_recorded=T1) is False  # the same terms again


def test_our_modification_acknowledged_by_open_order_is_marked_requested() -> None:
    o = working()
    wanted = STP_LMT.with_changes(stop_price=Decimal("409.75"))
    o.request_modify(wanted, ts_recorded=T0)
    new_events(o)
    assert o.record(OpenOrderReport(wanted), ts_recorded=T1)
    (ack,) = new_events(o)
    assert ack.requested is True
    assert (o.state.spec.stop_price, o.state.pending_modification) == (Decimal("409.75"), None)


def test_a_quantity_cut_to_exactly_the_shares_filled_is_no_overfill() -> None:
    o = working()
    fill(o, "0008.a.01", 80)
    new_events(o)
    assert o.record(OpenOrderReport(STP_LMT.with_changes(quantity=Decimal(80))), ts_recorded=T1)
    assert [type(e) for e in new_events(o)] == [ev.ModificationAcknowledged]
    assert o.state.anomalies == []


def test_a_quantity_cut_below_the_shares_filled_is_an_overfill() -> None:
    o = working()
    fill(o, "0009.a.01", 80)
    new_events(o)
    assert o.record(OpenOrderReport(STP_LMT.with_changes(quantity=Decimal(70))), ts_recorded=T1)
    ack, overfill = new_events(o)
    assert isinstance(ack, ev.ModificationAcknowledged)
    assert isinstance(overfill, ev.AnomalyRecorded)
    assert overfill.kind == "overfill"
    assert overfill.expected == "filled <= order quantity 70"
    assert overfill.received == "openOrder quantity 70 below 80 filled"
    assert (overfill.timestamp, overfill.ts_event) == (T1, None)


# ---- errors --------------------------------------------------------------------------------------


def test_an_error_event_keeps_ib_s_time_and_advanced_reject() -> None:
    o = working()
    reject = '{"rejectReason":"insufficient margin"}'
    err = ErrorReport(201, "Order rejected - reason:margin", advanced_reject=reject, ts_event=T2)
    assert o.record(err, ts_recorded=T1)
    e = next(e for e in new_events(o) if isinstance(e, ev.ErrorReported))
    assert (e.code, e.message, e.advanced_reject) == (201, "Order rejected - reason:margin", reject)
    assert (e.ts_event, e.timestamp) == (T2, T1)


def test_an_error_refusing_our_modify_is_recorded_with_ib_s_time_and_code() -> None:
    o = working()
    o.request_modify(STP_LMT.with_changes(limit_price=Decimal("410.513")), ts_recorded=T0)
    new_events(o)
    assert o.record(ErrorReport(110, "price does not conform", ts_event=T2), ts_recorded=T1)
    reported, refused = new_events(o)
    assert isinstance(reported, ev.ErrorReported)
    assert reported.effect == "refuses_modify"
    assert isinstance(refused, ev.ModificationRefused)
    assert (refused.code, refused.ts_event, refused.timestamp) == (110, T2, T1)
    assert (o.state.status, o.state.pending_modification) == (S.SUBMITTED, None)


def test_an_error_refusing_our_cancel_is_recorded_with_ib_s_time_and_code() -> None:
    o = working()
    o.request_cancel(ts_recorded=T0)
    new_events(o)
    assert o.record(ErrorReport(161, "not cancellable", ts_event=T2), ts_recorded=T1)
    reported, refused = new_events(o)
    assert isinstance(reported, ev.ErrorReported)
    assert reported.effect == "refuses_cancel"
    assert isinstance(refused, ev.CancelRefused)
    assert (refused.code, refused.ts_event, refused.timestamp) == (161, T2, T1)
    assert o.state.cancel_requested is False


def test_a_rejection_of_an_order_ib_showed_working_is_an_anomaly_naming_the_error() -> None:
    o = working()
    o.record(OpenOrderReport(STP_LMT, perm_id=1_900_000_002), ts_recorded=T0)  # IB holds it
    new_events(o)
    assert o.record(ErrorReport(201, "Order rejected", ts_event=T2), ts_recorded=T1)
    reported, anomaly = new_events(o)
    assert reported.effect == "informs"
    assert reported.status is S.SUBMITTED
    assert isinstance(anomaly, ev.AnomalyRecorded)
    assert anomaly.kind == "rejection_of_working_order"
    assert anomaly.received == "error 201: Order rejected"
    assert (anomaly.ts_event, anomaly.timestamp) == (T2, T1)
