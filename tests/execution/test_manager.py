"""OrderManager: routing, limit-with-patience and TWAP, run against the simulator with a fast
clock (virtual seconds), and in dry run."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ordertrail.adapters.execution import MarketSnapshot, OrderManager, Progress
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.events import ModificationAcknowledged, ModificationRequested
from ordertrail.domain.order import Order
from ordertrail.domain.planning import Route
from ordertrail.domain.risk import RiskPolicy
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ActionTaken, OrderAction

from .conftest import AAPL, FastClock, dry_engine, live, priced

D = Decimal
MINUTE = timedelta(minutes=1)


def test_patience_escalates_by_modifying_the_same_order_until_it_fills(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        h.sim.set_price("AAPL", "150.60")  # above our mid: the mid and one step do not fill
        report = await s.manager().limit_with_patience(
            AAPL, OrderAction.BUY, D(100), mid=D(150), window=MINUTE
        )
        assert report.result.success, report
        assert report.route is Route.LIMIT_WITH_PATIENCE
        assert (report.filled, report.avg_price) == (D(100), D("150.60"))
        (coid,) = report.result.order_ids
        history = trail.history(Order.id_for(client_order_id=coid))
        asked = [e.spec.limit_price for e in history if isinstance(e, ModificationRequested)]
        assert asked == [D("150.15"), D("151.50")]  # one step, then across the spread
        assert sum(isinstance(e, ModificationAcknowledged) for e in history) == 2
        assert s.state(coid).status is OrderStatus.FILLED
        assert len(h.sim.orders) == 1  # every step modified the same order
        assert s.clock.now >= 90  # reached the cross after 1.5 windows of virtual time

    sim_run(body, priced())


def test_patience_cancels_what_is_left_at_the_end(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await live(h, trail)
        h.sim.set_price("AAPL", 160)  # out of reach of every step
        report = await s.manager().limit_with_patience(
            AAPL, OrderAction.BUY, D(100), mid=D(150), window=MINUTE
        )
        assert not report.result.success
        assert report.result.action is ActionTaken.FAILED
        assert report.filled == 0
        (coid,) = report.result.order_ids
        assert s.state(coid).status is OrderStatus.CANCELLED
        assert [m.split(" (")[0] for m in report.log] == [
            "placed 100 @ 150.00",
            "modified to 150.15",
            "modified to 151.50",
            "modified to 151.65",
            "modified to 151.80",
            f"cancelled {coid} with 100 left",
        ]
        assert s.clock.now >= 60 * 31 / 16

    sim_run(body, priced())


def test_patience_stops_escalating_when_the_gate_refuses_a_step(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await live(h, trail, RiskPolicy(price_band=D("0.005")))
        h.sim.set_price("AAPL", 160)
        report = await s.manager().limit_with_patience(
            AAPL, OrderAction.BUY, D(10), mid=D(150), window=MINUTE
        )
        assert not report.result.success
        assert "rule price_band" in (report.result.error or "")
        (coid,) = report.result.order_ids
        history = trail.history(Order.id_for(client_order_id=coid))
        # The refused step was never asked for: only the first escalation is on record.
        asked = [e.spec.limit_price for e in history if isinstance(e, ModificationRequested)]
        assert asked == [D("150.15")]
        assert s.state(coid).status is OrderStatus.CANCELLED

    sim_run(body, priced())


def test_twap_slices_sum_exactly_and_fills_are_aggregated(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        draws = iter([0.2, -0.2, 0.1, -0.1])
        manager = s.manager(uniform=lambda lo, hi: next(draws))
        report = await manager.twap(
            AAPL,
            OrderAction.SELL,
            D(13),
            limit_price=D(149),
            slices=5,
            duration=timedelta(minutes=5),
        )
        assert report.result.success, report
        assert report.route is Route.TWAP
        assert (report.filled, report.avg_price) == (D(13), D(150))
        states = [s.state(c) for c in report.result.order_ids]
        assert [st.spec.quantity for st in states] == [3, 3, 3, 2, 2]
        assert all(st.status is OrderStatus.FILLED for st in states)
        assert len({st.group_id for st in states}) == 1
        assert sum(o.filled for o in h.sim.orders) == 13
        # The last slice went at 72 + 48 + 66 + 54 virtual seconds (jittered intervals of 60);
        # with every slice filled there is nothing to wait for after it.
        assert 240 <= s.clock.now < 242

    sim_run(body, priced())


def test_twap_cancels_unfilled_slices_and_reports_partial(sim_run: Any, trail: OrderTrail) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await live(h, trail)
        manager = s.manager(uniform=lambda lo, hi: 0.0)
        clock = s.clock

        async def sleep(seconds: float) -> None:
            await clock.sleep(seconds)
            if clock.now >= 130:  # after the third slice the market moves away
                h.sim.set_price("AAPL", 140)

        manager.sleep = sleep
        report = await manager.twap(
            AAPL,
            OrderAction.SELL,
            D(10),
            limit_price=D(149),
            slices=5,
            duration=timedelta(minutes=5),
        )
        assert not report.result.success
        assert report.result.action is ActionTaken.PARTIAL
        assert report.filled == 6
        assert "filled 6 of 10" in (report.result.error or "")
        statuses = [s.state(c).status for c in report.result.order_ids]
        assert statuses == [OrderStatus.FILLED] * 3 + [OrderStatus.CANCELLED] * 2

    sim_run(body, priced())


def test_routing_sends_small_orders_to_patience_and_large_ones_to_twap(
    trail: OrderTrail,
) -> None:
    engine = dry_engine(trail)
    clock = FastClock()
    manager = OrderManager(
        engine,
        clock=clock,
        sleep=clock.sleep,
        uniform=lambda lo, hi: 0.0,
        twap_slices=4,
        twap_duration=MINUTE,
    )

    async def run() -> None:
        small = await manager.execute(
            AAPL, OrderAction.BUY, D(99), MarketSnapshot(mid=D(150), adv=D(10_000))
        )
        assert small.route is Route.LIMIT_WITH_PATIENCE
        assert small.result.action is ActionTaken.DRY_RUN
        assert (small.filled, small.avg_price) == (D(99), D(150))  # dry run fills at the limit
        large = await manager.execute(
            AAPL, OrderAction.BUY, D(100), MarketSnapshot(mid=D(150), adv=D(10_000))
        )
        assert large.route is Route.TWAP
        assert large.result.success
        states = [engine.state(c) for c in large.result.order_ids]
        assert [st.spec.quantity for st in states] == [25] * 4
        # Slices are limits across the estimated spread from the mid.
        assert {st.spec.limit_price for st in states} == {D("151.50")}
        assert all(c.startswith("DRY_OT-") for c in large.result.order_ids)

    asyncio.run(run())


def test_a_stopped_patience_order_is_cancelled_and_ib_confirms_before_the_report(
    sim_run: Any, trail: OrderTrail
) -> None:
    """The trader stops the strategy while IB holds the cancel (PendingCancel): the report
    waits for IB's Cancelled, and progress told the trader where it stood."""

    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await live(h, trail)
        h.sim.set_price("AAPL", 160)  # out of reach: the order keeps working
        seen: list[Progress] = []
        manager = s.manager()

        def watch(p: Progress) -> None:
            seen.append(p)
            if p.step == 2 and not manager.stop.is_set():
                (working,) = (x for x in trail.states().values() if x.status.is_working)
                coid = working.client_order_id or ""
                h.sim.defer_cancel(h.sim.order_by_ref(coid))
                manager.stop.set()
                asyncio.get_running_loop().call_later(
                    0.3, h.sim.confirm_cancel, h.sim.order_by_ref(coid)
                )

        manager.progress = watch
        report = await manager.limit_with_patience(
            AAPL, OrderAction.BUY, D(100), mid=D(150), window=MINUTE
        )
        (coid,) = report.result.order_ids
        assert report.stopped
        assert report.result.error == "stopped before the end"
        assert s.state(coid).status is OrderStatus.CANCELLED
        history = trail.history(Order.id_for(client_order_id=coid))
        asked = [e.spec.limit_price for e in history if isinstance(e, ModificationRequested)]
        assert asked == [D("150.15")]  # no step after the stop
        assert [p.step for p in seen][:1] == [1]
        assert seen[-1].working == 0
        assert all(p.steps == 5 and p.quantity == D(100) for p in seen)

    sim_run(body, priced())
