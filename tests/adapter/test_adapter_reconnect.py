"""Reconnect reconciliation: what happened while we were away is recorded exactly once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import OrderAction, OrderSpec, OrderType

from .conftest import AAPL, quiet_market

BUY_100 = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal(150))


def test_fills_while_disconnected_are_recorded_once_after_reconnect(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Peer closed connection")  # ib_async logs the simulator dropping us
        s = await open_session(h)
        done = s.broker.place(AAPL, BUY_100)
        working = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(working).status is OrderStatus.SUBMITTED)
        h.sim.fill(h.sim.order_by_ref(s.state(done).client_order_id), 40, 150)
        await s.until(lambda: s.state(done).filled == 40)

        h.sim.disconnect(1)
        await s.until(lambda: not s.ib.isConnected())
        # While we are away: the first order completes, the second fills in part.
        h.sim.fill(h.sim.order_by_ref(s.state(done).client_order_id), 60, 150.5)
        h.sim.fill(h.sim.order_by_ref(s.state(working).client_order_id), 25, 149)
        await asyncio.sleep(0.05)

        again = await open_session(h)  # a new process: new IB client, same store
        await again.until(lambda: again.state(done).status is OrderStatus.FILLED)
        await again.until(lambda: again.state(working).filled == 25)
        assert again.state(done).filled == Decimal(100)
        assert len(again.state(done).executions) == 2
        await again.until(lambda: len(again.state(done).commissions) == 2)
        versions = {oid: again.trail.get(oid).version for oid in (done, working)}

        # Once more: everything IB sends at connect is already known; nothing is recorded.
        h.sim.disconnect(1)
        await again.until(lambda: not again.ib.isConnected())
        third = await open_session(h)
        await h.settle(0.2)
        assert {oid: third.trail.get(oid).version for oid in (done, working)} == versions

    sim_run(body, quiet_market())


def test_manual_order_seen_by_client_zero_is_keyed_by_perm_id(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h, client_id=0)
        manual = h.sim.place_manual("AAPL", "SELL", 10, "LMT", 151, con_id=265598)
        await s.until(lambda: s.trail.resolve(_perm(manual.perm_id)) is not None)
        oid = s.trail.resolve(_perm(manual.perm_id))
        h.sim.fill(manual, 10, 151)
        await s.until(lambda: s.state(oid).status is OrderStatus.FILLED)
        st = s.state(oid)
        assert st.order_key == f"perm:{manual.perm_id}"
        assert st.origin in ("manual", "discovered")
        assert st.client_order_id is None

    sim_run(body, quiet_market())


def test_bracket_take_profit_fills_and_stop_is_cancelled_by_oca(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await open_session(h)
        bracket = BracketOrder.build(
            action=OrderAction.BUY,
            quantity=Decimal(10),
            entry_price=Decimal(150),
            take_profit_price=Decimal(155),
            stop_loss_price=Decimal(145),
            oca_group="OT-oca-1",
        )
        parent, take, stop = s.broker.place_bracket(AAPL, bracket)
        await s.until(
            lambda: s.state(stop).status in (OrderStatus.PRE_SUBMITTED, OrderStatus.SUBMITTED)
        )
        h.sim.fill(h.sim.order_by_ref(s.state(parent).client_order_id), 10, 150)
        await s.until(lambda: s.state(parent).status is OrderStatus.FILLED)
        h.sim.fill(h.sim.order_by_ref(s.state(take).client_order_id), 10, 155)
        await s.until(lambda: s.state(take).status is OrderStatus.FILLED)
        await s.until(lambda: s.state(stop).status is OrderStatus.CANCELLED)
        assert s.state(take).parent_key == s.state(parent).order_key
        assert s.state(stop).spec.oca_group == "OT-oca-1"
        assert s.state(stop).filled == 0

    sim_run(body, quiet_market())


def _perm(perm_id: int) -> Any:
    from ordertrail.adapters.trail import FactKey

    return FactKey(perm_id=perm_id)
