"""How IB answers each request about an order: a new placeOrder rejected before any
acknowledgement, a modify refused while the order keeps working, and every answer to a cancel —
through the real ib_async client, checked both on the wire and in what ib_async makes of it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB, LimitOrder, Order, Stock, Trade

from ordertrail.adapters.simulator import (
    Behaviour,
    BehaviourKind,
    CancelError,
    Instrument,
    Scenario,
)

AAPL = Stock("AAPL", "SMART", "USD")
EXCHANGE_CLOSED = "Order rejected - reason:Exchange is closed."


class Wire:
    """The simulator's wire tap: every message it sent to each client, as strings."""

    def __init__(self) -> None:
        self.out: list[tuple[int | None, list[str]]] = []
        self.inbound: list[tuple[int | None, list[str]]] = []

    def __call__(self, direction: str, client_id: int | None, fields: list[str]) -> None:
        (self.out if direction == "out" else self.inbound).append((client_id, fields))

    def mark(self) -> int:
        return len(self.out)

    def since(self, mark: int) -> list[list[str]]:
        return [fields for _, fields in self.out[mark:]]


def kinds(messages: list[list[str]]) -> list[str]:
    names = {"3": "orderStatus", "4": "error", "5": "openOrder", "11": "execDetails"}
    return [names.get(m[0], m[0]) for m in messages]


def priced(*behaviours: Behaviour, **options: Any) -> Scenario:
    return Scenario(prices={"AAPL": Decimal(150)}, behaviours=list(behaviours), **options)


async def working(h: Any, ib: IB, order: Order) -> Trade:
    trade = ib.placeOrder(AAPL, order)
    await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
    return trade


def record_errors(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, _contract: seen.append((req_id, code, text))
    return seen


# ------------------------------------------------- rejection before acknowledgement
@pytest.mark.parametrize(
    ("code", "text"),
    [(201, EXCHANGE_CLOSED), (201, ""), (103, ""), (200, "")],
)
def test_scenario_rejection_is_only_an_error(sim_run: Any, code: int, text: str) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}, reqId \d+")
        ib = await h.connect(1)
        errors = record_errors(ib)
        opened: list[Trade] = []
        ib.openOrderEvent += opened.append
        mark = wire.mark()
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 150, orderRef="bad"))
        await h.wait_until(lambda: errors)
        await h.settle()
        sent = wire.since(mark)
        assert kinds(sent) == ["error"]  # no openOrder, no orderStatus, ever
        assert sent[0][2:4] == [str(trade.order.orderId), str(code)]
        assert errors[0][:2] == (trade.order.orderId, code)
        if text:
            assert errors[0][2] == text
        assert opened == []
        # ib_async's own guess: an error for a live order id cancels it locally.
        assert [e.status for e in trade.log] == ["PendingSubmit", "Cancelled"]

    reject = Behaviour("bad", BehaviourKind.REJECT, code=code, text=text)
    sim_run(body, priced(reject), on_message=wire)


def test_reject_next_then_inactive(sim_run: Any) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 201, reqId \d+: Order rejected - reason:Exchange is closed")
        ib = await h.connect(1)
        h.sim.reject_next(201, EXCHANGE_CLOSED, inactive=True)
        mark = wire.mark()
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 150, orderRef="anything"))
        await h.wait_until(lambda: trade.orderStatus.status == "Inactive")
        assert kinds(wire.since(mark)) == ["error", "openOrder", "orderStatus"]
        assert [e.status for e in trade.log] == ["PendingSubmit", "Cancelled", "Inactive"]
        # Only the next order: the one after it is acknowledged and fills at the market.
        after = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 151))
        await h.wait_until(lambda: after.orderStatus.status == "Filled")

    sim_run(body, priced(), on_message=wire)


def test_unknown_and_ambiguous_contracts_are_error_200(sim_run: Any) -> None:
    wire = Wire()
    contracts = [
        Instrument(265598, "AAPL", primary_exchange="NASDAQ", long_name="APPLE INC"),
        Instrument(272093, "MSFT", primary_exchange="NASDAQ"),
        Instrument(38708077, "MSFT", currency="MXN", exchange="MEXI", primary_exchange="MEXI"),
    ]

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 200, reqId \d+: No security definition", r"Error 200, .*ambiguous")
        ib = await h.connect(1)
        errors = record_errors(ib)
        mark = wire.mark()
        unknown = ib.placeOrder(Stock("XYZQ", "SMART", "USD"), LimitOrder("BUY", 1, 10))
        ambiguous = ib.placeOrder(Stock("MSFT", "SMART", ""), LimitOrder("BUY", 1, 10))
        await h.wait_until(lambda: len(errors) == 2)
        await h.settle()
        assert kinds(wire.since(mark)) == ["error", "error"]
        assert [e[:2] for e in errors] == [
            (unknown.order.orderId, 200),
            (ambiguous.order.orderId, 200),
        ]
        assert errors[1][2] == "The contract description specified for MSFT is ambiguous."
        known = ib.placeOrder(Stock("AAPL", "SMART", "USD"), LimitOrder("BUY", 5, 151))
        await h.wait_until(lambda: known.orderStatus.status == "Filled")
        # TWS echoes the contract it resolved: the execution carries its conId.
        assert known.fills[0].contract.conId == 265598
        assert known.fills[0].contract.primaryExchange in ("", "NASDAQ")

    sim_run(body, priced(contracts=contracts), on_message=wire)


# ------------------------------------------------------------ refused modification
@pytest.mark.parametrize("code", [201, 110])
@pytest.mark.parametrize("how", ["control", "scenario"])
def test_refused_modify_keeps_the_order_working_on_old_terms(
    sim_run: Any, code: int, how: str
) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}, reqId \d+")
        ib = await h.connect(1)
        errors = record_errors(ib)
        trade = await working(h, ib, LimitOrder("BUY", 10, 100, orderRef="keep"))
        if how == "control":
            h.sim.refuse_modify(trade.order.orderId, code)
        mark = wire.mark()
        trade.order.lmtPrice = 101
        trade.order.totalQuantity = 20
        ib.placeOrder(AAPL, trade.order)
        await h.wait_until(lambda: errors)
        await h.settle()
        assert kinds(wire.since(mark)) == ["error"]  # no openOrder with the new terms
        assert errors[0][:2] == (trade.order.orderId, code)
        # ib_async's local reading: 201 cancels the Trade, 110 is a "validation" warning.
        assert trade.orderStatus.status == ("Cancelled" if code == 201 else "ValidationError")
        at_broker = h.sim.order(trade.order.orderId)
        assert (at_broker.ticket.lmt_price, at_broker.ticket.total_quantity) == (100, 10)
        h.sim.set_price("AAPL", "100.5")  # marketable for the new limit, not for the old one
        await h.settle()
        assert trade.fills == []
        h.sim.set_price("AAPL", "99.5")
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        assert [(f.execution.shares, f.execution.price) for f in trade.fills] == [(10, 99.5)]

    refusal = Behaviour("keep", refuse_modify=code) if how == "scenario" else None
    sim_run(body, priced(*([refusal] if refusal else [])), on_message=wire)


def test_refusal_is_for_one_modification_only(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        ib = await h.connect(1)
        trade = await working(h, ib, LimitOrder("BUY", 10, 100))
        h.sim.refuse_modify(trade.order.orderId, 110)
        trade.order.lmtPrice = "100.003"
        ib.placeOrder(AAPL, trade.order)
        await h.wait_until(lambda: trade.orderStatus.status == "ValidationError")
        # (After a 201 ib_async believes the order Cancelled and refuses to modify it again.)
        trade.order.lmtPrice = 102
        ib.placeOrder(AAPL, trade.order)
        # Accepted this time: openOrder + Submitted again, with the new limit at the broker.
        await h.wait_until(lambda: trade.orderStatus.status == "Submitted")
        assert h.sim.order(trade.order.orderId).ticket.lmt_price == 102

    sim_run(body, priced())


# ------------------------------------------------------------------ cancel answers
def test_cancel_of_an_order_nobody_placed_is_10147(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10147, reqId 4242", r"Unknown orderId")
        ib = await h.connect(1)
        errors = record_errors(ib)
        ib.cancelOrder(Order(orderId=4242))
        await h.wait_until(lambda: errors)
        assert errors == [(4242, 10147, "OrderId 4242 that needs to be cancelled is not found.")]

    sim_run(body, priced())


def test_two_requests_get_two_identical_errors(sim_run: Any) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10148, reqId \d+: .*state: Filled")
        ib = await h.connect(1)
        errors = record_errors(ib)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 151))
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        mark = wire.mark()
        ib.client.cancelOrder(trade.order.orderId, "")
        ib.client.cancelOrder(trade.order.orderId, "")
        await h.wait_until(lambda: len(errors) == 2)
        assert errors[0] == errors[1]
        assert errors[0][:2] == (trade.order.orderId, 10148)
        sent = wire.since(mark)
        assert kinds(sent) == ["error", "error"]
        assert sent[0] == sent[1]  # byte-identical answers: only the requests tell them apart
        assert [f for cid, f in wire.inbound if f[0] == "4"] == [
            ["4", "1", str(trade.order.orderId), ""]
        ] * 2

    sim_run(body, priced(), on_message=wire)


def test_cancel_after_the_filled_status_is_10148(sim_run: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10148, reqId \d+: .*cannot be cancelled, state: Filled")
        ib = await h.connect(1)
        errors = record_errors(ib)
        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 10, 151))
        await h.wait_until(lambda: trade.orderStatus.status == "Filled")
        ib.client.cancelOrder(trade.order.orderId, "")  # ib.cancelOrder would do the same
        await h.wait_until(lambda: errors)
        assert errors[0][:2] == (trade.order.orderId, 10148)
        assert trade.orderStatus.status == "Filled"

    sim_run(body, priced())


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("after", ["orderStatus", "error"]),
        ("before", ["error", "orderStatus"]),
        ("none", ["orderStatus"]),
    ],
)
def test_202_confirms_a_cancel_after_before_or_not_at_all(
    sim_run: Any, mode: str, expected: list[str]
) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202, reqId \d+: Order Canceled - reason:")
        ib = await h.connect(1)
        errors = record_errors(ib)
        trade = await working(h, ib, LimitOrder("BUY", 10, 100))
        mark = wire.mark()
        ib.cancelOrder(trade.order)
        await h.wait_until(lambda: trade.orderStatus.status == "Cancelled")
        await h.settle()
        sent = wire.since(mark)
        assert kinds(sent) == expected
        assert [m[2] for m in sent if m[0] == "3"] == ["Cancelled"]
        assert [e[1] for e in errors] == ([] if mode == "none" else [202])

    sim_run(body, priced(cancel_error=CancelError(mode)), on_message=wire)


def test_deferred_cancel_is_pending_until_released(sim_run: Any) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        ib = await h.connect(1)
        trade = await working(h, ib, LimitOrder("BUY", 10, 100, orderRef="slow"))
        mark = wire.mark()
        ib.cancelOrder(trade.order)
        await h.wait_until(lambda: kinds(wire.since(mark)) == ["orderStatus"])
        assert wire.since(mark)[0][2] == "PendingCancel"  # from IB, not ib_async's guess
        ib.cancelOrder(trade.order)  # asked again: PendingCancel again, still working
        await h.settle()
        assert trade.orderStatus.status == "PendingCancel"
        assert h.sim.order(trade.order.orderId).is_working
        h.sim.confirm_cancel(trade.order.orderId)
        await h.wait_until(lambda: trade.orderStatus.status == "Cancelled")
        assert kinds(wire.since(mark))[-2:] == ["orderStatus", "error"]

    sim_run(body, priced(Behaviour("slow", defer_cancel=True)), on_message=wire)


# --------------------------------------------------------------------- global cancel
def test_global_cancel_reaches_every_client_and_manual_orders(sim_run: Any) -> None:
    wire = Wire()

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        one = await h.connect(1)
        two = await h.connect(2)
        master = await h.connect(0)
        mine = await working(h, one, LimitOrder("BUY", 1, 100))
        theirs = two.placeOrder(AAPL, LimitOrder("SELL", 1, 300))
        done = one.placeOrder(AAPL, LimitOrder("BUY", 1, 151))
        manual = h.sim.place_manual("AAPL", "SELL", 1, "LMT", 310)
        await h.wait_until(lambda: theirs.orderStatus.status == "Submitted")
        await h.wait_until(lambda: done.orderStatus.status == "Filled")
        await h.wait_until(lambda: len(master.openTrades()) == 1)
        bound = master.openTrades()[0]
        mark = wire.mark()
        one.reqGlobalCancel()
        await h.wait_until(lambda: (1, ["58", "1"]) in wire.inbound)
        for trade in (mine, theirs, bound):
            await h.wait_until(lambda t=trade: t.orderStatus.status == "Cancelled")
        assert manual.status == "Cancelled"
        assert done.orderStatus.status == "Filled"  # nothing to cancel, nothing said
        statuses = [(cid, f[2]) for cid, f in wire.out[mark:] if f[0] == "3"]
        assert sorted(statuses) == [(0, "Cancelled"), (1, "Cancelled"), (2, "Cancelled")]

    sim_run(body, priced(), on_message=wire)
