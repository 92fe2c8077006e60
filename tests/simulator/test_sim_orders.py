"""Order entry, the fill model, brackets, OCA groups and positions, seen through ib_async."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ib_async import LimitOrder, MarketOrder, Order, Stock, StopOrder

from ordertrail.adapters.simulator import Scenario

AAPL = Stock("AAPL", "SMART", "USD")
MSFT = Stock("MSFT", "SMART", "USD")


def priced(**extra: Any) -> Scenario:
    return Scenario(prices={"AAPL": Decimal("150.00"), "MSFT": Decimal(400)}, **extra)


def test_market_order_fills_at_the_price_with_one_perm_id_everywhere(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 300, orderRef="ref-1"))
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        await h.wait_until(lambda: trade.fills and trade.fills[0].commissionReport.execId)
        fill = trade.fills[0]
        perm = trade.orderStatus.permId
        assert perm != 0
        assert trade.order.permId == perm == fill.execution.permId
        assert (fill.execution.shares, fill.execution.price) == (300, 150)
        assert fill.execution.side == "BOT"
        assert fill.execution.orderRef == "ref-1"
        assert fill.execution.acctNumber == "DU1234567"
        assert fill.commissionReport.commission == pytest.approx(1.5)  # 300 x 0.005
        assert trade.orderStatus.avgFillPrice == 150
        # TWS reports an unset limit price of a market order as 0 in openOrder.
        assert trade.order.lmtPrice == 0

    sim_run(body, priced())


def test_marketable_limit_fills_at_the_price_and_others_rest(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        better = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 155))
        resting = ib.placeOrder(AAPL, LimitOrder("SELL", 10, 160))
        await h.wait_until(lambda: better.orderStatus.status == "Filled")
        await h.wait_until(lambda: resting.orderStatus.status == "Submitted")
        assert better.fills[0].execution.price == 150  # at the limit or better
        h.sim.set_price("AAPL", "161.25")
        await h.wait_until(lambda: resting.orderStatus.status == "Filled")
        assert resting.fills[0].execution.price == 161.25
        assert resting.fills[0].execution.lastLiquidity == 2

    sim_run(body, priced())


def test_stop_and_outside_rth_orders_sit_in_presubmitted(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        stop = ib.placeOrder(AAPL, StopOrder("SELL", 10, 140))
        night = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 155, outsideRth=True))
        await h.wait_until(lambda: stop.orderStatus.status == "PreSubmitted")
        await h.wait_until(lambda: night.orderStatus.status == "PreSubmitted")
        h.sim.set_price("AAPL", 139)
        await h.wait_until(lambda: stop.orderStatus.status == "Filled")
        assert stop.fills[0].execution.price == 139
        await h.settle()
        assert night.orderStatus.status == "PreSubmitted"
        assert not night.fills

    sim_run(body, priced())


def test_modify_changes_the_order_and_can_make_it_fill(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        order = LimitOrder("BUY", 10, 140)
        trade = ib.placeOrder(AAPL, order)
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        order.totalQuantity = 20
        ib.placeOrder(AAPL, order)
        await h.wait_until(lambda: trade.orderStatus.remaining == 20)
        assert h.sim.order(order.orderId).ticket.total_quantity == 20
        assert [e.message for e in trade.log][-2:] == ["Modify", ""]
        order.lmtPrice = 151
        ib.placeOrder(AAPL, order)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert trade.orderStatus.filled == 20
        assert len({f.execution.permId for f in trade.fills}) == 1

    sim_run(body, priced())


def test_bracket_children_wait_for_transmit_and_parent_fill(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        parent, take, stop = ib.bracketOrder("BUY", 100, 145, 160, 140)
        trades = [ib.placeOrder(AAPL, o) for o in (parent, take)]
        await h.settle()
        # Nothing is sent on for an order with transmit=False.
        assert [t.orderStatus.status for t in trades] == ["PendingSubmit"] * 2
        trades.append(ib.placeOrder(AAPL, stop))
        await h.wait_until(lambda: trades[0].orderStatus.status == "Submitted")
        await h.wait_until(lambda: trades[2].orderStatus.status == "PreSubmitted")
        assert trades[1].orderStatus.status == "PreSubmitted"
        assert trades[1].orderStatus.parentId == parent.orderId
        h.sim.set_price("AAPL", 144)  # parent fills; take-profit and stop become live
        await h.wait_until(lambda: trades[0].orderStatus.status == "Filled")
        await h.wait_until(lambda: trades[1].orderStatus.status == "Submitted")
        assert trades[2].orderStatus.status == "PreSubmitted"  # an untriggered stop
        h.sim.set_price("AAPL", 161)
        await h.wait_until(lambda: trades[1].orderStatus.status == "Filled")
        # The legs are one-cancels-all: the stop must not stay working (it would oversell).
        await h.wait_until(lambda: trades[2].orderStatus.status == "Cancelled")
        assert ib.positions() == []  # ib_async drops flat positions
        assert [p.quantity for p in h.sim.positions()] == [0]

    h_errors = r"Error 202"
    sim_run(_expecting(h_errors, body), priced())


def test_cancelling_a_parent_cancels_its_children(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        ib = await h.connect(1)
        orders = ib.bracketOrder("BUY", 100, 120, 160, 110)
        trades = [ib.placeOrder(AAPL, o) for o in orders]
        await h.wait_until(lambda: trades[2].orderStatus.status == "PreSubmitted")
        ib.cancelOrder(orders[0])
        for t in trades:
            await h.wait_until(lambda t=t: t.orderStatus.status == "Cancelled")
        assert all(not o.is_working for o in h.sim.orders)

    sim_run(body, priced())


@pytest.mark.parametrize(("oca_type", "other_left"), [(1, None), (2, 60), (3, 60)])
def test_oca_groups(sim_run: Any, oca_type: int, other_left: int | None) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        ib = await h.connect(1)
        a = ib.placeOrder(AAPL, LimitOrder("SELL", 100, 170, ocaGroup="g1", ocaType=oca_type))
        b = ib.placeOrder(MSFT, LimitOrder("SELL", 100, 450, ocaGroup="g1", ocaType=oca_type))
        await h.wait_until(lambda: b.orderStatus.status == "Submitted")
        h.sim.fill(a.order.orderId, 40, 170)
        if other_left is None:
            await h.wait_until(lambda: b.orderStatus.status == "Cancelled")
        else:  # types 2 and 3 reduce the other orders by the filled quantity
            await h.wait_until(lambda: b.order.totalQuantity == other_left)
            assert b.orderStatus.status == "Submitted"
            assert b.orderStatus.remaining == other_left

    sim_run(body, priced())


def test_partial_fills_and_positions_per_account(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        first = ib.placeOrder(AAPL, LimitOrder("BUY", 100, 140, account="DU1"))
        await h.wait_until(lambda: first.orderStatus.status == "Submitted")
        h.sim.fill(first.order.orderId, 40, "139.5")
        await h.wait_until(lambda: first.orderStatus.filled == 40)
        assert first.orderStatus.status == "Submitted"
        assert first.orderStatus.remaining == 60
        h.sim.fill(first.order.orderId)  # the rest, at the limit (no market price)
        await h.wait_until(lambda: first.orderStatus.status == "Filled")
        assert first.orderStatus.avgFillPrice == pytest.approx((40 * 139.5 + 60 * 140) / 100)
        sell = ib.placeOrder(AAPL, MarketOrder("SELL", 30, account="DU2"))
        await h.wait_until(lambda: sell.orderStatus.status == "Submitted")
        h.sim.fill(sell.order.orderId, price=141)
        await h.wait_until(lambda: len(ib.positions()) == 2)
        by_account = {p.account: p.position for p in ib.positions()}
        assert by_account == {"DU1": 100, "DU2": -30}
        assert [(p.account, p.quantity) for p in h.sim.positions("DU1")] == [("DU1", 100)]

    sim_run(body, Scenario(accounts=["DU1", "DU2"], commission_per_share=Decimal("0.01")))


def test_closing_fill_reports_realized_pnl_net_of_commission(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        buy = ib.placeOrder(AAPL, MarketOrder("BUY", 200))
        await h.wait_until(lambda: buy.orderStatus.status == "Filled")
        h.sim.set_price("AAPL", 151)
        sell = ib.placeOrder(AAPL, MarketOrder("SELL", 200))
        await h.wait_until(lambda: sell.fills and sell.fills[0].commissionReport.execId)
        report = sell.fills[0].commissionReport
        assert report.commission == pytest.approx(2.0)
        assert report.realizedPNL == pytest.approx(200 * 1 - 2.0)
        assert buy.fills[0].commissionReport.realizedPNL == 0  # opening: IB's unset sentinel

    sim_run(body, priced(commission_per_share=Decimal("0.01")))


def test_order_ref_is_echoed_in_open_orders_of_other_requests(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        other = await h.connect(2)
        trade = ib.placeOrder(AAPL, Order(action="BUY", totalQuantity=5, orderType="LMT",
                                          lmtPrice=100, orderRef="my-ref"))  # fmt: skip
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        seen = await other.reqAllOpenOrdersAsync()
        assert [(t.order.orderRef, t.order.permId) for t in seen] == [
            ("my-ref", trade.orderStatus.permId)
        ]

    sim_run(body, priced())


def _expecting(pattern: str, body: Any) -> Any:
    async def wrapped(h: Any) -> None:
        h.errors.expect(pattern)
        await body(h)

    return wrapped
