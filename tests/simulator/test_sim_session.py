"""Session-level behaviour: messages about no request (farm status, connectivity), errors for
order ids nobody placed, completedOrder snapshots after a restart, and a TWS running in a time
zone other than UTC — through the real ib_async client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ib_async import IB, ExecutionFilter, LimitOrder, Stock

from ordertrail.adapters.simulator import Behaviour, Scenario, SessionMessage

AAPL = Stock("AAPL", "SMART", "USD")


def record_errors(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, _contract: seen.append((req_id, code, text))
    return seen


# ------------------------------------------------------------- session messages
def test_farm_status_on_connect_from_the_scenario(sim_run: Any) -> None:
    farms = [SessionMessage(2104), SessionMessage(2106), SessionMessage(2158)]

    async def body(h: Any) -> None:
        ib = IB()
        errors = record_errors(ib)
        h.clients.append(ib)
        await ib.connectAsync("127.0.0.1", h.sim.port, clientId=1)
        assert errors == [
            (-1, 2104, "Market data farm connection is OK:usfarm"),
            (-1, 2106, "HMDS data farm connection is OK:ushmds"),
            (-1, 2158, "Sec-def data farm connection is OK:secdefil"),
        ]

    sim_run(body, Scenario(connect_messages=farms))


@pytest.mark.parametrize("code", [1100, 1101, 1102, 2110, 2103, 2105, 2107, 2108, 2157, 504])
def test_session_messages_reach_every_client_with_req_id_minus_one(sim_run: Any, code: int) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}, reqId -1: ")
        one, two = await h.connect(1), await h.connect(2)
        seen = [record_errors(one), record_errors(two)]
        h.sim.send_session_message(code)
        await h.wait_until(lambda: all(seen))
        for errors in seen:
            assert [(req_id, c) for req_id, c, _ in errors] == [(-1, code)]
            assert errors[0][2]  # TWS's text

    sim_run(body)


def test_connectivity_lost_and_restored_for_one_client(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 1100, reqId -1: Connectivity", r"Error 1102, reqId -1: ")
        one, two = await h.connect(1), await h.connect(2)
        errors_one, errors_two = record_errors(one), record_errors(two)
        h.sim.send_session_message(1100, client_id=1)
        h.sim.send_session_message(1102, client_id=1)
        await h.wait_until(lambda: len(errors_one) == 2)
        await h.settle()
        assert [c for _, c, _ in errors_one] == [1100, 1102]
        assert errors_two == []

    sim_run(body)


def test_error_for_an_order_id_nobody_placed(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 201, reqId 777: Order rejected")
        ib = await h.connect(1)
        errors = record_errors(ib)
        h.sim.send_session_message(201, "Order rejected - reason:margin", req_id=777)
        await h.wait_until(lambda: errors)
        assert errors == [(777, 201, "Order rejected - reason:margin")]
        assert ib.trades() == []

    sim_run(body)


def test_error_for_an_unknown_order_from_the_scenario(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202, reqId 31: ")
        ib = IB()
        errors = record_errors(ib)
        h.clients.append(ib)
        await ib.connectAsync("127.0.0.1", h.sim.port, clientId=1)
        assert errors == [(31, 202, "Order Canceled - reason:")]

    sim_run(body, Scenario(connect_messages=[SessionMessage(202, req_id=31)]))


# ---------------------------------------------------- completedOrder after restart
@pytest.mark.parametrize("how", ["control", "scenario"])
def test_completed_order_with_quantity_zero_and_filled_26(sim_run: Any, how: str) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Peer closed connection")
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 26, 100, orderRef="snap"))
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        if how == "control":
            h.sim.report_completed_quantity(trade.order.orderId, 0)
        h.sim.fill(trade.order.orderId, 10, 100)
        h.sim.fill(trade.order.orderId, 16, 100)
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        h.sim.disconnect(1)
        await h.wait_until(lambda: not ib.isConnected())
        again = await h.connect(1)
        done = await again.reqCompletedOrdersAsync(False)
        assert len(done) == 1
        snapshot = done[0]
        assert (snapshot.order.totalQuantity, snapshot.order.filledQuantity) == (0, 26)
        assert snapshot.order.permId == trade.order.permId
        assert snapshot.orderStatus.status == "Filled"
        # completedOrder carries no clientId; the executions of the same permId say client 1.
        fills = await again.reqExecutionsAsync(ExecutionFilter(clientId=1))
        assert {(f.execution.permId, f.execution.clientId) for f in fills} == {
            (trade.order.permId, 1)
        }
        assert sum(f.execution.shares for f in fills) == 26

    behaviours = (
        [Behaviour("snap", completed_total_quantity=Decimal(0))] if how == "scenario" else []
    )
    sim_run(body, Scenario(behaviours=behaviours))


# ------------------------------------------------------------ TWS time zone
WINTER = datetime(2026, 1, 15, 15, 30, 5, tzinfo=UTC)  # 10:30:05 in New York (EST)
SUMMER = datetime(2026, 7, 15, 15, 30, 5, tzinfo=UTC)  # 17:30:05 in Zurich (CEST)


class Wire:
    def __init__(self) -> None:
        self.out: list[list[str]] = []

    def __call__(self, direction: str, client_id: int | None, fields: list[str]) -> None:
        if direction == "out":
            self.out.append(fields)


@pytest.mark.parametrize(
    ("zone", "name", "moment", "connection_time", "execution_time"),
    [
        ("America/New_York", "", WINTER, "20260115 10:30:05 EST", "20260115  10:30:05"),
        ("Europe/Zurich", "", SUMMER, "20260715 17:30:05 CEST", "20260715  17:30:05"),
        (
            "America/New_York",
            "Eastern Standard Time",
            WINTER,
            "20260115 10:30:05 Eastern Standard Time",
            "20260115  10:30:05",
        ),
    ],
)
def test_tws_in_another_time_zone(
    sim_run: Any, zone: str, name: str, moment: datetime, connection_time: str, execution_time: str
) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        told = IB()
        told.TimezoneTWS = zone  # ib_async never learns the zone from the handshake
        h.clients.append(told)
        await told.connectAsync("127.0.0.1", h.sim.port, clientId=1)
        trade = told.placeOrder(AAPL, LimitOrder("BUY", 5, 151))
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert wire.out[0] == ["178", connection_time]
        assert [m[15] for m in wire.out if m[0] == "11"] == [execution_time]
        assert trade.fills[0].execution.time == moment
        # A client that is not told reads the zone-less time in the machine's own zone.
        untold = await h.connect(2)
        fills = await untold.reqExecutionsAsync()
        naive = datetime.strptime(execution_time, "%Y%m%d  %H:%M:%S")
        assert [f.execution.time for f in fills] == [naive.astimezone(UTC)]
        # reqExecutions reads a zone-less filter time as the TWS's local time.
        local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        minute = timedelta(minutes=1)
        before, after = ((local + d).strftime("%Y%m%d %H:%M:%S") for d in (-minute, minute))
        assert len(await told.reqExecutionsAsync(ExecutionFilter(time=before))) == 1
        assert await told.reqExecutionsAsync(ExecutionFilter(time=after)) == []

    scenario = Scenario(prices={"AAPL": Decimal(150)}, time_zone=zone, time_zone_name=name)
    sim_run(body, scenario, on_message=wire, clock=lambda: moment)


def test_default_scenario_still_speaks_utc(sim_run: Any) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 5, 151))
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert wire.out[0] == ["178", "20260115 15:30:05 UTC"]
        assert [m[15] for m in wire.out if m[0] == "11"] == ["20260115 15:30:05 UTC"]
        assert trade.fills[0].execution.time == WINTER

    sim_run(body, Scenario(prices={"AAPL": Decimal(150)}), on_message=wire, clock=lambda: WINTER)
