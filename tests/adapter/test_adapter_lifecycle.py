"""The IB adapter end to end: our commands out through ib_async, IB's facts back into the
store, against the simulator over loopback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ordertrail.adapters.simulator import CommissionTiming
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import OrderAction, OrderSpec, OrderType

from .conftest import AAPL, quiet_market

BUY_100 = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal(150))


def test_limit_order_filled_in_parts_records_every_fill_and_commission(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        h.sim.fill(sim_order, 30, 149.9)
        h.sim.fill(sim_order, 30, 149.95)
        h.sim.fill(sim_order, 40, 150)
        await s.until(lambda: len(s.state(oid).commissions) == 3)
        st = s.state(oid)
        assert st.status is OrderStatus.FILLED
        assert st.filled == Decimal(100)
        assert (
            st.avg_fill_price == (30 * Decimal("149.9") + 30 * Decimal("149.95") + 40 * 150) / 100
        )
        assert st.perm_id == sim_order.perm_id
        assert st.anomalies == []
        topics = s.topics(oid)
        assert topics[:2] == ["OrderCreated", "SubmissionRequested"]
        assert topics.count("ExecutionRecorded") == 3
        assert topics.count("CommissionReported") == 3

    sim_run(body, quiet_market())


def test_rejection_201_then_inactive_records_the_error_not_ib_async_cancelled(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 201")
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        h.sim.reject(h.sim.order_by_ref(s.state(oid).client_order_id), 201, inactive=True)
        await s.until(lambda: s.state(oid).why_held == "" and s.state(oid).errors == 1)
        await s.until(
            lambda: s.state(oid).last_report and s.state(oid).last_report[0] == "Inactive"
        )
        st = s.state(oid)
        assert st.status is OrderStatus.INACTIVE
        assert st.last_error is not None
        assert st.last_error[0] == 201
        reported = [
            e.raw_status for e in s.trail.history(oid) if type(e).__name__ == "StatusReported"
        ]
        # ib_async marks the Trade Cancelled locally on error 201; IB never said so.
        assert "Cancelled" not in reported
        assert reported[-1] == "Inactive"

    sim_run(body, quiet_market())


def test_pending_cancel_then_filled(sim_run: Any, open_session: Any) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        h.sim.defer_cancel(sim_order)
        s.broker.cancel(oid)
        await s.until(lambda: s.state(oid).status is OrderStatus.PENDING_CANCEL)
        h.sim.fill(sim_order)
        await s.until(lambda: s.state(oid).status is OrderStatus.FILLED)
        assert s.state(oid).cancel_requested
        assert s.state(oid).anomalies == []  # the fill won the race: normal

    sim_run(body, quiet_market())


def test_cancelled_then_late_fill_records_anomaly(sim_run: Any, open_session: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")  # ib_async logs IB's cancel confirmation as an error
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        s.broker.cancel(oid)
        await s.until(lambda: s.state(oid).status is OrderStatus.CANCELLED)
        h.sim.fill(sim_order, 40, 150)
        await s.until(lambda: s.state(oid).filled == 40)
        st = s.state(oid)
        assert "fill_after_cancel" in st.anomalies
        assert st.status is OrderStatus.CANCELLED  # a partial late fill does not revive it

    sim_run(body, quiet_market())


def test_execution_correction_replaces_original(sim_run: Any, open_session: Any) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        exec_id = h.sim.fill(sim_order, 100, 150)
        await s.until(lambda: s.state(oid).filled == 100)
        new_id = h.sim.correct_execution(exec_id, price=149.5)
        await s.until(lambda: any(x.exec_id == new_id for x in s.state(oid).executions.values()))
        st = s.state(oid)
        assert len(st.executions) == 1
        assert st.filled == Decimal(100)
        assert st.avg_fill_price == Decimal("149.5")
        assert "ExecutionCorrected" in s.topics(oid)

    sim_run(body, quiet_market())


def test_commission_report_before_its_execution_is_held_then_recorded(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        h.sim.fill(sim_order, 100, 150, commission=1.25, commission_timing=CommissionTiming.EARLY)
        await s.until(lambda: len(s.state(oid).commissions) == 1)
        (report,) = s.state(oid).commissions.values()
        assert report.commission == Decimal("1.25")
        assert s.trail.pending_commissions == []

    sim_run(body, quiet_market())


def test_repeated_order_status_and_open_order_record_nothing(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        await h.settle()
        version = s.trail.get(oid).version
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        h.sim.send_order_status(sim_order, times=3)
        h.sim.send_open_order(sim_order, times=2)
        await h.settle(0.1)
        assert s.trail.get(oid).version == version
        assert s.recorder.stats.repeats >= 3

    sim_run(body, quiet_market())


def test_stuck_pending_submit_stays_pending(sim_run: Any, open_session: Any) -> None:
    from ordertrail.adapters.simulator import Behaviour, BehaviourKind

    async def body(h: Any) -> None:
        s = await open_session(h)
        coid = s.broker.new_client_order_id()
        h.sim.add_behaviour(Behaviour(coid, BehaviourKind.STUCK))
        oid = s.broker.record(AAPL, BUY_100, client_order_id=coid)
        s.broker.transmit(oid)
        await h.settle(0.2)
        assert s.state(oid).status is OrderStatus.PENDING_SUBMIT
        assert s.topics(oid) == ["OrderCreated", "SubmissionRequested", "RequestSent"]

    sim_run(body, quiet_market())
