"""Random broker behaviour through simulator → ib_async → recorder → store.

Whatever IB does, in whatever order, and whenever we lose the connection: the store never
loses an execution the broker reported, never counts one twice, keeps the foundation's
invariants, and a reconnect records nothing it already knew.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.simulator import CommissionTiming
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import OrderAction, OrderSpec, OrderType

from .conftest import AAPL, quiet_market

ORDERS = 3


def _disconnected(ib: Any) -> Any:
    return lambda: not ib.isConnected()


QTY = 10

action = st.one_of(
    st.tuples(
        st.just("fill"),
        st.integers(0, ORDERS - 1),
        st.integers(1, 6),
        st.sampled_from(list(CommissionTiming)),
    ),
    st.tuples(st.just("correct"), st.integers(0, ORDERS - 1)),
    st.tuples(st.just("duplicate"), st.integers(0, ORDERS - 1)),
    st.tuples(st.just("cancel"), st.integers(0, ORDERS - 1)),
    st.tuples(st.just("broker_cancel"), st.integers(0, ORDERS - 1)),
    st.tuples(st.just("reject"), st.integers(0, ORDERS - 1), st.booleans()),
    st.tuples(st.just("disconnect")),
    st.tuples(st.just("connect")),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(action, min_size=1, max_size=16))
def test_random_broker_behaviour_loses_and_duplicates_nothing(
    sim_run: Any, open_session: Any, tmp_path_factory: Any, actions: list[tuple[Any, ...]]
) -> None:
    async def body(h: Any) -> None:
        # After a reconnect ib_async has forgotten the orders it placed: cancelling one logs
        # "Unknown orderId" (and still sends the cancel, which IB answers).
        h.errors.expect(
            r"Error 20[12]", r"Peer closed connection", r"Error 1014[78]", r"Unknown orderId"
        )
        s = await open_session(h)
        spec = OrderSpec(OrderAction.BUY, Decimal(QTY), OrderType.LIMIT, limit_price=Decimal(150))
        oids = [s.broker.place(AAPL, spec) for _ in range(ORDERS)]
        await s.until(lambda: all(s.state(o).status is OrderStatus.SUBMITTED for o in oids))
        sim_orders = [h.sim.order_by_ref(s.state(o).client_order_id) for o in oids]
        exec_ids: list[str] = []
        for step in actions:
            kind = step[0]
            if kind == "fill":
                _, i, qty, timing = step
                target = sim_orders[i]
                if target.remaining > 0:
                    amount = min(Decimal(qty), target.remaining)
                    exec_ids.append(h.sim.fill(target, amount, 150, commission_timing=timing))
            elif kind == "correct" and exec_ids:
                live = [x for x in h.sim.executions if x.corrected_by is None]
                if live:
                    h.sim.correct_execution(live[-1].exec_id, price=149.5)
            elif kind == "duplicate":
                h.sim.send_order_status(sim_orders[step[1]], times=2)
                h.sim.send_open_order(sim_orders[step[1]])
            elif kind == "cancel" and s.ib.isConnected():
                state = s.state(oids[step[1]])
                if state.status.is_working and not state.cancel_requested:
                    s.broker.cancel(oids[step[1]])
            elif kind == "broker_cancel" and sim_orders[step[1]].is_working:
                h.sim.cancel(sim_orders[step[1]])
            elif kind == "reject" and sim_orders[step[1]].is_working:
                h.sim.reject(sim_orders[step[1]], 201, inactive=step[2])
            elif kind == "disconnect" and s.ib.isConnected():
                # What follows happens while we are away, until the next "connect".
                h.sim.disconnect(1)
                await s.until(_disconnected(s.ib))
            elif kind == "connect" and not s.ib.isConnected():
                s = await open_session(h)
            await asyncio.sleep(0.005)
        # Whatever happened, end with a reconnect: the sync must bring the store up to date.
        if s.ib.isConnected():
            h.sim.disconnect(1)
            await s.until(lambda: not s.ib.isConnected())
        s = await open_session(h)
        current = {x.exec_id: x for x in h.sim.executions if x.corrected_by is None}

        def caught_up() -> bool:
            stored = {x.exec_id for o in oids for x in s.state(o).executions.values()}
            return stored == set(current)

        await s.until(caught_up, timeout=5)
        await h.settle(0.05)
        for oid, sim_order in zip(oids, sim_orders, strict=True):
            st_ = s.state(oid)
            mine = [x for x in current.values() if x.order is sim_order]
            # Never loses an execution, never counts one twice, corrections replace.
            assert {x.exec_id for x in st_.executions.values()} == {x.exec_id for x in mine}
            assert st_.filled == sum((x.shares for x in st_.executions.values()), Decimal(0))
            assert st_.filled == sim_order.filled
            if st_.filled > st_.spec.quantity:
                assert "overfill" in st_.anomalies
            if sim_order.filled == sim_order.ticket.total_quantity:
                assert st_.status is OrderStatus.FILLED
        versions = {oid: s.trail.get(oid).version for oid in oids}
        # And one more reconnect changes nothing at all.
        h.sim.disconnect(1)
        await s.until(lambda: not s.ib.isConnected())
        s = await open_session(h)
        await h.settle(0.15)
        assert {oid: s.trail.get(oid).version for oid in oids} == versions

    sim_run(body, quiet_market())
