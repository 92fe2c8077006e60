"""The seed plan's eight engine cases against the simulator, through the real ib_async client,
with IB's facts recorded by ``IbRecorder``: market and limit placement, cancel, bracket with
OCA linkage, close, roll, error handling, and dry run."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from ordertrail.adapters.simulator import Behaviour, BehaviourKind
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.events import RiskDenied, SubmissionRequested
from ordertrail.domain.order import Order
from ordertrail.domain.planning import PositionLeg
from ordertrail.domain.risk import RiskPolicy
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ActionTaken,
    OrderAction,
    OrderSpec,
    OrderType,
)

from .conftest import AAPL, ES_JUN, ES_SEP, MSFT, dry_engine, live, priced

MARKET_OK = RiskPolicy(allow_market_orders=True)
D = Decimal


def limit(action: OrderAction, qty: int, price: str) -> OrderSpec:
    return OrderSpec(action, D(qty), OrderType.LIMIT, limit_price=D(price))


def test_market_order_is_placed_filled_and_recorded(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail, MARKET_OK)
        spec = OrderSpec(OrderAction.BUY, D(100), OrderType.MARKET, reference_price=D(150))
        result = await s.engine.place_order(AAPL, spec)
        assert result.success, result
        assert result.action is ActionTaken.PLACED
        (coid,) = result.order_ids
        assert coid.startswith("OT-")
        await h.wait_until(lambda: s.state(coid).status is OrderStatus.FILLED)
        state = s.state(coid)
        assert (state.filled, state.avg_fill_price) == (D(100), D(150))
        assert h.sim.order_by_ref(coid).ticket.order_type == "MKT"

    sim_run(body, priced())


def test_limit_order_rests_and_is_acknowledged(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        result = await s.engine.place_order(AAPL, limit(OrderAction.BUY, 10, "149.50"))
        assert result.success, result
        (coid,) = result.order_ids
        # place_order waits for IB's answer: the state is already IB's.
        state = s.state(coid)
        assert state.status is OrderStatus.SUBMITTED
        assert state.perm_id == h.sim.order_by_ref(coid).perm_id
        assert h.sim.order_by_ref(coid).ticket.lmt_price == D("149.50")

    sim_run(body, priced())


def test_cancel_order(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await live(h, trail)
        placed = await s.engine.place_order(AAPL, limit(OrderAction.BUY, 10, "149"))
        (coid,) = placed.order_ids
        result = await s.engine.cancel_order(coid)
        assert result.success, result
        assert result.action is ActionTaken.CANCELLED
        assert s.state(coid).status is OrderStatus.CANCELLED
        assert not h.sim.order_by_ref(coid).is_working
        # Cancelling again is refused by the order's state, as a result, not an exception.
        again = await s.engine.cancel_order(coid)
        assert not again.success
        assert again.action is ActionTaken.FAILED
        assert "cannot cancel" in (again.error or "")

    sim_run(body, priced())


def test_bracket_links_children_by_parent_id_and_one_oca_group(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await live(h, trail)
        bracket = BracketOrder.build(
            action=OrderAction.BUY,
            quantity=D(100),
            entry_price=D(149),
            take_profit_price=D(152),
            stop_loss_price=D(147),
            oca_group="oca-1",
        )
        result = await s.engine.place_bracket_order(AAPL, bracket)
        assert result.success, result
        assert result.action is ActionTaken.BRACKET
        parent, take, stop = result.order_ids
        sims = [h.sim.order_by_ref(c) for c in result.order_ids]
        # IB's transmit convention: only the stop-loss transmitted the family.
        assert [o.ticket.transmit for o in sims] == [False, False, True]
        assert [o.ticket.parent_id for o in sims] == [0, sims[0].order_id, sims[0].order_id]
        assert [o.ticket.oca_group for o in sims[1:]] == ["oca-1", "oca-1"]
        states = [s.state(c) for c in result.order_ids]
        assert len({st.group_id for st in states}) == 1
        assert states[0].group_id is not None
        assert states[0].group_id.startswith("bracket:")
        assert [st.parent_key for st in states[1:]] == [states[0].order_key] * 2
        assert [st.status for st in states] == [
            OrderStatus.SUBMITTED,
            OrderStatus.PRE_SUBMITTED,
            OrderStatus.PRE_SUBMITTED,
        ]
        h.sim.set_price("AAPL", "148.90")  # the parent fills
        await h.wait_until(lambda: s.state(parent).status is OrderStatus.FILLED)
        h.sim.set_price("AAPL", 152)  # the take-profit fills; the stop must not stay working
        await h.wait_until(lambda: s.state(take).status is OrderStatus.FILLED)
        await h.wait_until(lambda: s.state(stop).status is OrderStatus.CANCELLED)

    sim_run(body, priced())


def test_close_position_uses_marketable_limits_for_every_leg(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        opened = [
            await s.engine.place_order(AAPL, limit(OrderAction.BUY, 100, "150.50")),
            await s.engine.place_order(MSFT, limit(OrderAction.SELL, 20, "399")),
        ]
        ids = [r.order_ids[0] for r in opened]
        await h.wait_until(lambda: all(s.state(c).status is OrderStatus.FILLED for c in ids))
        legs = [
            PositionLeg(AAPL, D(100), mark=D(150)),
            PositionLeg(MSFT, D(-20), mark=D(400)),
            PositionLeg(AAPL, D(0), mark=D(150)),
        ]
        result = await s.engine.close_position(legs)
        assert result.success, result
        assert result.action is ActionTaken.CLOSED
        assert len(result.order_ids) == 2  # the flat leg needs no order
        closes = [s.state(c) for c in result.order_ids]
        assert [(c.spec.action, c.spec.order_type, c.spec.limit_price) for c in closes] == [
            (OrderAction.SELL, OrderType.LIMIT, D("149.25")),
            (OrderAction.BUY, OrderType.LIMIT, D("402.00")),
        ]
        assert len({c.group_id for c in closes}) == 1
        await h.wait_until(lambda: all(c.quantity == 0 for c in h.sim.positions()))
        await h.wait_until(
            lambda: all(s.state(c).status is OrderStatus.FILLED for c in result.order_ids)
        )

    sim_run(body, priced())


def test_roll_closes_then_opens_under_one_group(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        first = await s.engine.place_order(ES_JUN, limit(OrderAction.BUY, 2, "5001"))
        await h.wait_until(lambda: s.state(first.order_ids[0]).status is OrderStatus.FILLED)
        old = [PositionLeg(ES_JUN, D(2), mark=D(5000))]
        new = [PositionLeg(ES_SEP, D(2), mark=D(5000))]
        result = await s.engine.roll_position(old, new)
        assert result.success, result
        assert result.action is ActionTaken.ROLLED
        close, open_ = (s.state(c) for c in result.order_ids)
        assert (close.contract, close.spec.action) == (ES_JUN, OrderAction.SELL)
        assert (open_.contract, open_.spec.action) == (ES_SEP, OrderAction.BUY)
        assert close.group_id == open_.group_id
        assert close.group_id is not None
        assert close.group_id.startswith("roll:")
        assert close.created_at < open_.created_at  # close first, then open
        await h.wait_until(lambda: s.state(result.order_ids[1]).status is OrderStatus.FILLED)
        by_con = {p.con_id: p.quantity for p in h.sim.positions()}
        assert by_con == {ES_JUN.con_id: 0, ES_SEP.con_id: 2}

    sim_run(body, priced())


def test_roll_does_not_open_when_a_close_fails(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        old = [PositionLeg(ES_JUN, D(2), mark=None)]  # no mark: no marketable limit possible
        result = await s.engine.roll_position(old, [PositionLeg(ES_SEP, D(2), mark=D(5000))])
        assert not result.success
        assert result.action is ActionTaken.FAILED
        assert "mark" in (result.error or "")
        assert h.sim.orders == []

    sim_run(body, priced())


def test_broker_rejection_is_a_failed_result_with_ibs_error(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 201")
        s = await live(h, trail)
        # Token t0001 → the first order's client order id, which the scenario rejects.
        h.sim.add_behaviour(
            Behaviour(
                "OT-t0001",
                BehaviourKind.REJECT,
                code=201,
                text="Order rejected - reason: margin",
                inactive=True,
            )
        )
        result = await s.engine.place_order(AAPL, limit(OrderAction.BUY, 10, "150"))
        assert not result.success
        assert result.action is ActionTaken.FAILED
        assert result.order_ids == ("OT-t0001",)
        assert "IB error 201" in (result.error or "")
        assert "margin" in (result.error or "")
        # What was sent is on record, and so is IB's answer.
        state = s.state("OT-t0001")
        assert state.status is OrderStatus.INACTIVE
        assert state.last_error is not None
        assert state.last_error[0] == 201

    sim_run(body, priced())


def test_connection_loss_is_a_failed_result_and_the_intent_stays_recorded(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Peer closed connection")
        s = await live(h, trail)
        h.sim.disconnect(1)
        await h.wait_until(lambda: not s.ib.isConnected())
        result = await s.engine.place_order(AAPL, limit(OrderAction.BUY, 10, "150"))
        assert not result.success
        assert result.action is ActionTaken.FAILED
        assert "not connected" in (result.error or "")
        (coid,) = result.order_ids
        history = trail.history(Order.id_for(client_order_id=coid))
        assert s.state(coid).status is OrderStatus.NEW  # recorded, never submitted
        assert not any(isinstance(e, SubmissionRequested) for e in history)
        cancel = await s.engine.cancel_order(coid)
        assert not cancel.success

    sim_run(body, priced())


def test_dry_run_records_the_same_story_and_never_reaches_ib(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)  # connected, but the dry-run engine has no way to it
        dry = dry_engine(trail)
        result = await dry.place_order(AAPL, limit(OrderAction.BUY, 10, "150.10"))
        assert result.success, result
        assert result.action is ActionTaken.DRY_RUN
        (coid,) = result.order_ids
        assert coid.startswith("DRY_OT-")
        state = dry.state(coid)
        assert state.is_dry_run
        assert (state.status, state.filled, state.avg_fill_price) == (
            OrderStatus.FILLED,
            D(10),
            D("150.10"),
        )
        bracket = BracketOrder.build(
            action=OrderAction.SELL,
            quantity=D(5),
            entry_price=D(151),
            take_profit_price=D(148),
            stop_loss_price=D(153),
            oca_group="dry-oca",
        )
        br = await dry.place_bracket_order(AAPL, bracket)
        assert br.action is ActionTaken.DRY_RUN
        assert all(c.startswith("DRY_OT-") for c in br.order_ids)
        market = await dry.place_order(AAPL, OrderSpec(OrderAction.BUY, D(1), OrderType.MARKET))
        assert not market.success
        assert "no_market_orders" in (market.error or "")
        await h.settle()
        assert h.sim.orders == []
        assert [o.ticket.order_ref for o in h.sim.orders] == []
        assert s.ib.trades() == []
        # The refusal is on record with its rule, also in a dry run.
        denied = trail.history(Order.id_for(client_order_id=market.order_ids[0]))
        assert isinstance(denied[-1], RiskDenied)
        assert denied[-1].rule == "no_market_orders"

    sim_run(body, priced())


def test_connection_lost_while_waiting_for_ib_keeps_the_submission_on_record(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Peer closed connection")
        s = await live(h, trail)
        h.sim.add_behaviour(Behaviour("OT-t0001", BehaviourKind.STUCK))  # IB never answers
        asyncio.get_running_loop().call_later(0.05, h.sim.disconnect, 1)
        result = await s.engine.place_order(AAPL, limit(OrderAction.BUY, 10, "150"))
        assert not result.success
        assert result.action is ActionTaken.FAILED
        assert "connection was lost" in (result.error or "")
        # It was sent: the submission is on record and the order waits for IB's facts.
        assert s.state("OT-t0001").status is OrderStatus.PENDING_SUBMIT
        assert h.sim.order_by_ref("OT-t0001").transmitted

    sim_run(body, priced())
