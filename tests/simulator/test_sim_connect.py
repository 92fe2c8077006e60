"""Handshake, start-up synchronisation and several clients, with the real ib_async client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, LimitOrder, Stock

from ordertrail.adapters.simulator import Scenario

AAPL = Stock("AAPL", "SMART", "USD")


def test_connect_completes_startup_sync_without_timeouts(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        started = time.monotonic()
        ib = await h.connect(7)
        # Every start-up request (positions, open/completed orders, account updates, executions)
        # must get its *End, or ib_async waits out a 4 s timeout per request.
        assert time.monotonic() - started < 1.0
        assert ib.client.serverVersion() == 178
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.client.getReqId() >= 1
        values = {v.tag: v.value for v in ib.accountValues()}
        assert values["NetLiquidation"] == "1000000"

    sim_run(body)


def test_several_clients_with_distinct_ids(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        one = await h.connect(1)
        two = await h.connect(2)
        trade = one.placeOrder(AAPL, LimitOrder("BUY", 10, 100))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        await h.settle()
        # Order statuses go to the owning client only.
        assert two.trades() == []
        assert [o.order_id for o in h.sim.orders] == [trade.order.orderId]

    sim_run(body)


def test_duplicate_client_id_is_refused_with_error_326(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 326", r"already in use", r"API connection failed")
        await h.connect(3)
        intruder = IB()
        with pytest.raises((ConnectionError, asyncio.TimeoutError)):
            await intruder.connectAsync("127.0.0.1", h.sim.port, clientId=3, timeout=1)
        assert not intruder.isConnected()
        assert any("326" in m for m in h.errors.messages())

    sim_run(body)


@pytest.mark.parametrize("version", [157, 163, 170, 176, 178])
def test_order_round_trip_at_each_server_version(sim_run: Any, version: int) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        assert ib.client.serverVersion() == version
        order = LimitOrder("BUY", 100, 151, orderRef="v-test", tif="DAY")
        trade = ib.placeOrder(AAPL, order)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert trade.fills[0].execution.orderRef == "v-test"
        assert trade.fills[0].commissionReport.commission == pytest.approx(1.0)
        fills = await ib.reqExecutionsAsync()
        assert [f.execution.execId for f in fills] == [trade.fills[0].execution.execId]
        resting = ib.placeOrder(AAPL, LimitOrder("SELL", 100, 170))
        await h.wait_until(lambda: resting.orderStatus.status == "Submitted")
        ib.cancelOrder(resting.order)  # cancelOrder's layout changes at 169
        await h.wait_until(lambda: resting.orderStatus.status == "Cancelled")
        completed = await ib.reqCompletedOrdersAsync(False)
        assert [t.orderStatus.status for t in completed] == ["Filled", "Cancelled"]
        assert completed[0].order.permId == trade.orderStatus.permId

    sim_run(_expect_202(body), Scenario(server_version=version, prices={"AAPL": Decimal(150)}))


def _expect_202(body: Any) -> Any:
    async def wrapped(h: Any) -> None:
        h.errors.expect(r"Error 202, reqId \d+: Order Canceled")
        await body(h)

    return wrapped


def test_message_tap_sees_both_directions_as_string_fields(sim_run: Any) -> None:
    tape: list[tuple[str, int | None, list[str]]] = []

    async def body(h: Any) -> None:
        ib = await h.connect(4)
        trade = ib.placeOrder(AAPL, LimitOrder("SELL", 5, 200))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")

    sim_run(body, on_message=lambda d, c, f: tape.append((d, c, f)))
    assert tape[0] == ("in", None, ["v157..178"])
    assert tape[1][0:2] == ("out", None)
    assert tape[1][2][0] == "178"
    assert ("in", 4, ["71", "2", "4", ""]) in tape
    placed = [f for d, _c, f in tape if d == "in" and f[0] == "3"]
    assert len(placed) == 1
    assert len(placed[0]) == 114
    statuses = [f for d, c, f in tape if d == "out" and c == 4 and f[0] == "3"]
    assert statuses[0][2] == "Submitted"
    assert all(isinstance(x, str) for _d, _c, f in tape for x in f)
