"""Broker behaviours seen in real IB sessions, triggered through the control API or a scenario."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ib_async import ExecutionFilter, LimitOrder, MarketOrder, Order, Stock

from ordertrail.adapters.simulator import Behaviour, BehaviourKind, Scenario, ScriptedFill

AAPL = Stock("AAPL", "SMART", "USD")


def priced(*behaviours: Behaviour) -> Scenario:
    return Scenario(prices={"AAPL": Decimal(150)}, behaviours=list(behaviours))


@pytest.mark.parametrize(("code", "inactive"), [(201, False), (201, True), (200, True)])
def test_scenario_reject_with_or_without_inactive(sim_run: Any, code: int, inactive: bool) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}, reqId \d+")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 150, orderRef="bad"))
        expected = "Inactive" if inactive else "Cancelled"  # ib_async cancels locally first
        await h.wait_until(lambda: trade.orderStatus.status == expected)
        assert [e.errorCode for e in trade.log if e.errorCode] == [code]
        assert not trade.fills
        assert not h.sim.order(trade.order.orderId).is_working

    sim_run(body, priced(Behaviour("bad", BehaviourKind.REJECT, code=code, inactive=inactive)))


def test_reused_order_id_gets_error_103(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 103, reqId \d+: Duplicate order id")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 1, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        # TWS refuses any id at or below the highest one the client id has used.
        ib.client.placeOrder(trade.order.orderId - 1, AAPL, LimitOrder("BUY", 2, 100))
        await h.wait_until(lambda: len(h.errors.records) == 1)
        assert len(h.sim.orders) == 1

    sim_run(body, priced())


def test_control_reject_with_code_103(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 103, reqId \d+: Duplicate order id")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 1, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        h.sim.reject(trade.order.orderId, 103)
        await h.wait_until(lambda: trade.orderStatus.status == "Cancelled")

    sim_run(body, priced())


def test_inactive_with_why_held_can_still_fill(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("SELL", 10, 140, orderRef="short"))
        await h.wait_until(lambda: trade.orderStatus.status == "Inactive")
        assert trade.orderStatus.whyHeld == "locate"
        h.sim.fill(trade.order.orderId)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")

    sim_run(body, priced(Behaviour("short", BehaviourKind.INACTIVE, why_held="locate")))


def test_control_reject_and_inactive_of_a_working_order(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 201, reqId \d+: Order rejected")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        h.sim.reject(trade.order.orderId, 201, inactive=True)
        await h.wait_until(lambda: trade.orderStatus.status == "Inactive")
        statuses = [e.status for e in trade.log]
        assert statuses[-2:] == ["Cancelled", "Inactive"]  # what a client really sees

    sim_run(body, priced())


def test_unsolicited_cancel_is_cancelled_then_202(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202, reqId \d+: Order Canceled - reason:Exchange closed")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        h.sim.cancel(trade.order.orderId, "Exchange closed")
        await h.wait_until(lambda: any(e.errorCode == 202 for e in trade.log) is False
                           and trade.orderStatus.status == "Cancelled")  # fmt: skip
        await h.wait_until(lambda: len(h.errors.records) == 1)

    sim_run(body, priced())


def test_pending_cancel_then_filled(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        h.sim.defer_cancel(trade.order.orderId)
        ib.cancelOrder(trade.order)
        await h.wait_until(lambda: h.sim.order(trade.order.orderId).status == "PendingCancel")
        h.sim.fill(trade.order.orderId, price=100)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert trade.fills[0].execution.shares == 10

    sim_run(body, priced())


def test_cancelled_then_a_late_fill(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        ib.cancelOrder(trade.order)
        await h.wait_until(lambda: trade.orderStatus.status == "Cancelled")
        h.sim.fill(trade.order.orderId, 4, 100)
        await h.wait_until(lambda: len(trade.fills) == 1)
        await h.wait_until(lambda: trade.orderStatus.filled == 4)
        assert trade.orderStatus.status == "Cancelled"

    sim_run(body, priced())


def test_cancel_of_unknown_order_is_10147(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10147, reqId 999: OrderId 999 .* not found", r"Unknown orderId")
        ib = await h.connect(1)
        ib.cancelOrder(Order(orderId=999))
        await h.wait_until(lambda: any("10147" in m for m in h.errors.messages()))

    sim_run(body, priced())


def test_10148_then_the_filled_status(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10148, reqId \d+: .*cannot be cancelled, state: Filled")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        h.sim.fill(trade.order.orderId, send_status=False)
        await h.wait_until(lambda: len(trade.fills) == 1)
        ib.cancelOrder(trade.order)
        await h.wait_until(lambda: trade.orderStatus.status == "Cancelled")  # ib_async's guess
        h.sim.send_order_status(trade.order.orderId)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert [e.status for e in trade.log][-3:] == ["PendingCancel", "Cancelled", "Filled"]

    sim_run(body, priced())


def test_duplicate_status_and_open_order_messages(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        entries = len(trade.log)
        statuses: list[str] = []
        ib.orderStatusEvent += lambda t: statuses.append(t.orderStatus.status)
        opened: list[int] = []
        ib.openOrderEvent += lambda t: opened.append(t.order.orderId)
        h.sim.send_order_status(trade.order.orderId, times=3)
        h.sim.send_open_order(trade.order.orderId, times=2)
        await h.wait_until(lambda: len(opened) == 2)
        # ib_async drops a status identical to the previous one, and keeps one Trade per order.
        assert statuses == []
        assert len(trade.log) == entries
        assert ib.trades() == [trade]

    sim_run(body, priced())


@pytest.mark.parametrize("timing", ["early", "late", "never", "held"])
def test_commission_report_timing(sim_run: Any, timing: str) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        events: list[str] = []
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        trade.fillEvent += lambda *_: events.append("fill")
        trade.filledEvent += lambda *_: events.append("filled")
        trade.commissionReportEvent += lambda *_: events.append("commission")
        exec_id = h.sim.fill(trade.order.orderId, commission_timing=timing)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        await h.settle()
        report = trade.fills[0].commissionReport
        if timing == "late":
            assert events == ["fill", "filled", "commission"]
            assert report.commission == pytest.approx(1.0)
        else:  # an early report cannot be matched to a fill ib_async does not know yet
            assert events == ["fill", "filled"]
            assert report.execId == ""
        if timing == "held":
            h.sim.release_commission_report(exec_id)
            await h.wait_until(lambda: events[-1] == "commission")
            assert trade.fills[0].commissionReport.execId == exec_id

    sim_run(body, priced())


def test_execution_correction_shows_as_a_second_fill(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 10))
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        first = trade.fills[0].execution.execId
        second = h.sim.correct_execution(first, price="149.95")
        await h.wait_until(lambda: len(trade.fills) == 2)
        assert first.endswith(".01")
        assert second == first[:-2] + "02"
        assert trade.fills[1].execution.price == 149.95
        # ib_async sums the correction as a new fill: 20 "filled" for a 10-share order.
        assert sum(f.execution.shares for f in trade.fills) == 20

    sim_run(body, priced())


def test_stuck_pending_submit_gets_no_status_ever(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 10, orderRef="stuck"))
        await h.settle(0.2)
        assert trade.orderStatus.status == "PendingSubmit"
        assert len(trade.log) == 1
        assert h.sim.order_by_ref("stuck").transmitted

    sim_run(body, priced(Behaviour("stuck", BehaviourKind.STUCK)))


def test_scripted_partial_fills_by_order_ref(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 100, 151, orderRef="partial"))
        await h.wait_until(lambda: trade.orderStatus.filled == 70)
        assert [f.execution.shares for f in trade.fills] == [30, 40]
        assert [f.execution.price for f in trade.fills] == [150, 149.5]
        assert trade.orderStatus.status == "Submitted"
        assert trade.orderStatus.remaining == 30

    fills = (ScriptedFill(Decimal(30)), ScriptedFill(Decimal(40), Decimal("149.5")))
    sim_run(body, priced(Behaviour("partial", BehaviourKind.FILLS, fills=fills)))


def test_fills_while_disconnected_are_visible_after_reconnect(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Peer closed connection")
        ib = await h.connect(1)
        filled = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100, orderRef="a"))
        partly = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 100, orderRef="b"))
        await h.wait_until(lambda: partly.orderStatus.status == "Submitted")
        h.sim.disconnect(1)
        await h.wait_until(lambda: not ib.isConnected())
        h.sim.fill(filled.order.orderId, client_id=1)
        h.sim.fill(partly.order.orderId, 3, client_id=1)
        again = await h.connect(1)
        open_trades = {t.order.orderRef: t for t in again.openTrades()}
        assert list(open_trades) == ["b"]
        assert open_trades["b"].orderStatus.filled == 3
        assert open_trades["b"].order.orderId == partly.order.orderId
        done = await again.reqCompletedOrdersAsync(False)
        assert [(t.order.orderRef, t.orderStatus.status) for t in done] == [("a", "Filled")]
        fills = await again.reqExecutionsAsync(ExecutionFilter(clientId=1))
        assert sorted(f.execution.shares for f in fills) == [3, 10]
        # The start-up sync already fetched them, commission reports included.
        assert sorted(f.commissionReport.commission for f in again.fills()) == [1.0, 1.0]

    sim_run(body, priced())


def test_manual_orders_are_seen_by_client_zero_and_all_open_orders(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        before = h.sim.place_manual("AAPL", "BUY", 5, "LMT", 100)
        master = await h.connect(0)
        api = await h.connect(1)
        unbound = [t for t in master.openTrades() if t.order.permId == before.perm_id]
        assert unbound
        assert unbound[0].order.orderId == 0
        assert api.openTrades() == []
        # ib_async's client 0 asks TWS to bind new manual orders: they get negative ids.
        later = h.sim.place_manual("AAPL", "SELL", 7, "LMT", 200)
        await h.wait_until(lambda: len(master.openTrades()) == 2)
        bound = next(t for t in master.openTrades() if t.order.permId == later.perm_id)
        assert bound.order.orderId < 0
        assert bound.orderStatus.status == "Submitted"
        everything = await api.reqAllOpenOrdersAsync()
        assert sorted(t.order.permId for t in everything) == [before.perm_id, later.perm_id]
        h.sim.fill(before, price=100)
        await h.wait_until(lambda: unbound[0].orderStatus.status == "Filled")
        assert unbound[0].fills[0].execution.orderId == 0  # sent as IB's unset orderId
        done = await api.reqCompletedOrdersAsync(False)
        assert [t.order.permId for t in done] == [before.perm_id]
        assert await api.reqCompletedOrdersAsync(True) == []  # apiOnly leaves manual orders out

    sim_run(body, priced())


def test_global_cancel_cancels_every_working_order(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        ib = await h.connect(1)
        trades = [ib.placeOrder(AAPL, LimitOrder("BUY", 1, p)) for p in (100, 101)]
        manual = h.sim.place_manual("AAPL", "SELL", 1, "LMT", 300)
        await h.wait_until(lambda: trades[1].orderStatus.status == "Submitted")
        ib.reqGlobalCancel()
        for t in trades:
            await h.wait_until(lambda t=t: t.orderStatus.status == "Cancelled")
        assert manual.status == "Cancelled"

    sim_run(body, priced())
