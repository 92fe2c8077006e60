"""Requests and the errors that answer them, through the real ib_async client against the
simulator: what the client sent is a fact, and every error IB sent is recorded on the order it
answers, waits for that order, or lands in the session log — never dropped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ib_async import Contract, LimitOrder

from ordertrail.adapters.simulator import Behaviour, BehaviourKind, Scenario
from ordertrail.domain.events import ErrorReported, RequestSent
from ordertrail.domain.facts import Origin, RequestKind
from ordertrail.domain.session import SessionMessageRecorded, session_log_id
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import OrderAction, OrderSpec, OrderType
from ordertrail.projections.api import Audit

from .conftest import AAPL, quiet_market

BUY_100 = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal(150))
AAPL_IB = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD")


def _orders(s: Any) -> dict[Any, Any]:
    return s.trail.states()


def _one_order(s: Any, ref: str) -> tuple[Any, Any]:
    """The only order the program placed with orderRef ``ref`` (not ordertrail's own)."""
    found = [(oid, st) for oid, st in _orders(s).items() if st.origin == Origin.API.value]
    assert len(found) == 1, found
    return found[0]


def _session_messages(s: Any) -> list[SessionMessageRecorded]:
    day = s.trail.clock().date()
    log_id = session_log_id(int(s.ib.client.clientId), day)
    if not s.trail.exists(log_id):
        return []
    return [e for e in s.trail.history(log_id) if isinstance(e, SessionMessageRecorded)]


def test_program_order_rejected_before_ack_is_recorded_with_its_terms_and_error(
    sim_run: Any, open_session: Any
) -> None:
    scenario = Scenario(
        prices={"AAPL": Decimal(150)},
        auto_fill=False,
        behaviours=(
            Behaviour(
                "prog-1", BehaviourKind.REJECT, code=201, text="Order rejected - reason:margin"
            ),
        ),
    )

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 201")
        s = await open_session(h)
        order = LimitOrder("BUY", 250, 149.5, orderRef="prog-1")
        s.ib.placeOrder(AAPL_IB, order)
        await s.until(lambda: any(st.errors for st in _orders(s).values()))
        oid, st = _one_order(s, "prog-1")
        # IB never acknowledged it: no openOrder, no status, no permId — only the error.
        assert st.perm_id is None
        assert st.status is OrderStatus.INACTIVE
        assert st.spec.quantity == Decimal(250)
        assert st.spec.limit_price == Decimal("149.5")
        assert st.contract.con_id == 265598
        assert st.last_error == (201, "Order rejected - reason:margin")
        history = s.trail.history(oid)
        assert [type(e).__name__ for e in history] == [
            "OrderCreated",
            "RequestSent",
            "ErrorReported",
        ]
        sent = history[1]
        assert isinstance(sent, RequestSent)
        assert sent.kind is RequestKind.PLACE
        assert (sent.client_id, sent.order_id) == (1, order.orderId)
        error = history[2]
        assert isinstance(error, ErrorReported)
        assert error.effect == "rejects"
        assert st.anomalies == []

    sim_run(body, scenario)


def test_program_modify_and_cancel_are_requests_on_the_order(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await open_session(h)
        trade = s.ib.placeOrder(AAPL_IB, LimitOrder("BUY", 100, 149.0, orderRef="prog-2"))
        await s.until(lambda: trade.orderStatus.status == "Submitted")
        oid, _ = _one_order(s, "prog-2")
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        trade.order.lmtPrice = 149.25
        s.ib.placeOrder(AAPL_IB, trade.order)
        await s.until(lambda: s.state(oid).spec.limit_price == Decimal("149.25"))
        s.ib.cancelOrder(trade.order)
        await s.until(lambda: s.state(oid).status is OrderStatus.CANCELLED)
        kinds = [e.kind for e in s.trail.history(oid) if isinstance(e, RequestSent)]
        assert kinds == [RequestKind.PLACE, RequestKind.MODIFY, RequestKind.CANCEL]
        acked = [e for e in s.trail.history(oid) if type(e).__name__ == "ModificationAcknowledged"]
        assert len(acked) == 1
        assert acked[0].requested is True
        assert s.state(oid).anomalies == []

    sim_run(body, quiet_market())


def test_identical_errors_answering_two_cancels_are_both_recorded(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10148")
        s = await open_session(h)
        trade = s.ib.placeOrder(AAPL_IB, LimitOrder("BUY", 100, 150.0, orderRef="prog-3"))
        await s.until(lambda: trade.orderStatus.status == "Submitted")
        oid, _ = _one_order(s, "prog-3")
        h.sim.fill(h.sim.order(trade.order.orderId, client_id=1), 100, 150)
        await s.until(lambda: s.state(oid).status is OrderStatus.FILLED)
        s.ib.cancelOrder(trade.order)
        await s.until(lambda: s.state(oid).errors == 1)
        s.ib.cancelOrder(trade.order)
        await s.until(lambda: s.state(oid).errors == 2)
        codes = [e.code for e in s.trail.history(oid) if isinstance(e, ErrorReported)]
        assert codes == [10148, 10148]
        assert s.state(oid).status is OrderStatus.FILLED

    sim_run(body, quiet_market())


def test_cancel_of_an_unknown_order_id_goes_to_the_session_log(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10147|Unknown orderId")
        s = await open_session(h)
        ghost = LimitOrder("BUY", 1, 1.0)
        ghost.orderId = 987_654
        s.ib.cancelOrder(ghost)
        # The request named an order id this store can never know: IB's answer joins it.
        await s.until(lambda: len(_session_messages(s)) == 2)
        messages = _session_messages(s)
        assert [(m.code, m.req_id) for m in messages] == [(0, 987_654), (10147, 987_654)]
        assert "cancelOrder sent" in messages[0].message
        # No order was invented for it.
        assert _orders(s) == {}

    sim_run(body, quiet_market())


def test_session_messages_are_recorded_with_both_clocks(sim_run: Any, open_session: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 1100|Error 2110|Error 2104|onnectivity")
        s = await open_session(h)
        for code, text in (
            (1100, "Connectivity between IB and Trader Workstation has been lost."),
            (2110, "Connectivity between Trader Workstation and server is broken."),
            (2104, "Market data farm connection is OK:usfarm"),
        ):
            h.sim.send_raw(1, [4, 2, -1, code, text, ""])
        await s.until(lambda: len(_session_messages(s)) == 3)
        messages = _session_messages(s)
        assert [m.code for m in messages] == [1100, 2110, 2104]
        assert all(m.req_id == -1 for m in messages)
        assert all(m.ts_recorded is not None for m in messages)
        assert _orders(s) == {}

    sim_run(body, quiet_market())


def test_an_error_before_its_order_waits_and_is_recorded_on_it(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 404")
        s = await open_session(h)
        # The program placed an order before ordertrail's recorder was attached to its IB.
        s.recorder.detach()
        trade = s.ib.placeOrder(AAPL_IB, LimitOrder("SELL", 100, 151.0, orderRef="prog-4"))
        await s.until(lambda: trade.orderStatus.status == "Submitted")
        s.recorder.attach()
        sim_order = h.sim.order(trade.order.orderId, client_id=1)
        h.sim.send_error(sim_order, 404, "Order held while securities are located.")
        await s.until(lambda: s.recorder.stats.held >= 1)
        assert _orders(s) == {}
        assert len(s.trail.waiting) == 1
        h.sim.send_open_order(sim_order)
        await s.until(lambda: len(_orders(s)) == 1 and next(iter(_orders(s).values())).errors)
        ((_oid, st),) = _orders(s).items()
        assert st.last_error == (404, "Order held while securities are located.")
        assert st.status is OrderStatus.DISCOVERED  # a warning: the order still works
        assert len(s.trail.waiting) == 0
        assert st.origin == Origin.API.value

    sim_run(body, quiet_market())


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (103, "Duplicate order id"),
        (200, "No security definition has been found for the request"),
        (201, "Order rejected - reason:Exchange is closed."),
    ],
)
def test_rejection_before_acknowledgement_of_our_own_order(
    sim_run: Any, open_session: Any, code: int, text: str
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}")
        s = await open_session(h)
        h.sim.reject_next(code, text)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).errors == 1)
        st = s.state(oid)
        assert st.status is OrderStatus.INACTIVE
        assert st.perm_id is None
        assert st.last_error == (code, text)
        assert s.topics(oid) == [
            "OrderCreated",
            "SubmissionRequested",
            "RequestSent",
            "ErrorReported",
        ]
        assert st.anomalies == []

    sim_run(body, quiet_market())


@pytest.mark.parametrize("code", [201, 110])
def test_a_refused_modify_of_a_working_order_keeps_it_working(
    sim_run: Any, open_session: Any, code: int
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}")
        s = await open_session(h)
        trade = s.ib.placeOrder(AAPL_IB, LimitOrder("BUY", 100, 149.0, orderRef="prog-5"))
        await s.until(lambda: trade.orderStatus.status == "Submitted")
        oid, _ = _one_order(s, "prog-5")
        sim_order = h.sim.order(trade.order.orderId, client_id=1)
        h.sim.refuse_modify(sim_order, code)
        trade.order.lmtPrice = 149.123
        s.ib.placeOrder(AAPL_IB, trade.order)
        await s.until(lambda: s.state(oid).errors == 1)
        st = s.state(oid)
        # IB keeps working the order on its old terms: so does the record.
        assert st.status is OrderStatus.SUBMITTED
        assert st.spec.limit_price == Decimal("149")
        assert st.pending_modification is None
        assert st.anomalies == []
        assert s.topics(oid)[-2:] == ["ErrorReported", "ModificationRefused"]
        h.sim.fill(sim_order, 100, 149)
        await s.until(lambda: s.state(oid).status is OrderStatus.FILLED)

    sim_run(body, quiet_market())


def test_completed_order_with_quantity_zero_keeps_what_ib_reported_filled(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        s.recorder.detach()  # the order was placed and filled while ordertrail was not there
        trade = s.ib.placeOrder(AAPL_IB, LimitOrder("BUY", 26, 150.0, orderRef="prog-6"))
        await s.until(lambda: trade.orderStatus.status == "Submitted")
        sim_order = h.sim.order(trade.order.orderId, client_id=1)
        h.sim.fill(sim_order, 26, 150)
        await s.until(lambda: trade.orderStatus.status == "Filled")
        h.sim.report_completed_quantity(sim_order, 0)
        s.recorder.attach()
        await s.ib.reqCompletedOrdersAsync(apiOnly=False)
        await s.until(lambda: len(_orders(s)) == 1)
        ((oid, st),) = _orders(s).items()
        assert st.status is OrderStatus.FILLED
        assert st.spec.quantity == Decimal(0)  # IB gave none: unknown, not refused
        assert st.ib_filled == Decimal(26)
        assert st.fills_not_seen == Decimal(26)
        assert st.origin == Origin.DISCOVERED.value
        orders = Audit(s.trail.config).orders()
        assert orders["fills_not_seen"].to_list() == [Decimal(26)]
        # The executions close the gap.
        await s.ib.reqExecutionsAsync()
        await s.until(lambda: s.state(oid).fills_not_seen == 0)
        assert s.state(oid).filled == Decimal(26)
        assert s.state(oid).anomalies == []
        assert s.recorder.stats.problems == []

    sim_run(body, quiet_market())
