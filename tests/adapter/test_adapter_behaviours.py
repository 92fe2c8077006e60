"""More broker behaviours, each asserted on what the store recorded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ordertrail.adapters.simulator import CommissionTiming
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import OrderAction, OrderSpec, OrderType

from .conftest import AAPL, quiet_market

BUY_100 = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal(150))


def _topics(s: Any, oid: Any) -> list[str]:
    return [type(e).__name__ for e in s.trail.history(oid)]


def test_unsolicited_cancel_then_202_is_a_confirmation(sim_run: Any, open_session: Any) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        h.sim.cancel(h.sim.order_by_ref(s.state(oid).client_order_id), "Exchange closed")
        await s.until(lambda: s.state(oid).errors == 1)
        st = s.state(oid)
        assert st.status is OrderStatus.CANCELLED
        assert st.last_error is not None
        assert st.last_error[0] == 202
        assert st.anomalies == []
        assert not st.cancel_requested  # IB cancelled it; we never asked

    sim_run(body, quiet_market())


def test_cancel_of_a_filled_order_gets_10148_and_stays_filled(
    sim_run: Any, open_session: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 10148")
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        sim_order = h.sim.order_by_ref(s.state(oid).client_order_id)
        # The fill happens at the broker while our cancel is on its way: we have not seen it.
        h.sim.fill(sim_order, 100, 150)
        s.broker.cancel(oid)
        await s.until(lambda: s.state(oid).errors == 1)
        st = s.state(oid)
        assert st.status is OrderStatus.FILLED
        assert st.last_error is not None
        assert st.last_error[0] == 10148
        # The refusal answered our cancel: a later cancel would be judged on the status alone.
        assert not st.cancel_requested
        assert "CancelRefused" in _topics(s, oid)

    sim_run(body, quiet_market())


@pytest.mark.parametrize("code", [200, 103])
def test_rejection_of_a_working_order_informs_and_flags_it(
    sim_run: Any, open_session: Any, code: int
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(rf"Error {code}")
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        h.sim.reject(h.sim.order_by_ref(s.state(oid).client_order_id), code)
        await s.until(lambda: s.state(oid).errors == 1)
        # IB showed the order working and sent no status after the error: the error alone
        # does not end it (IB's own status would), and the disagreement is not silent.
        st = s.state(oid)
        assert st.status is OrderStatus.SUBMITTED
        assert st.anomalies == ["rejection_of_working_order"]
        errors = [e for e in s.trail.history(oid) if type(e).__name__ == "ErrorReported"]
        assert [e.effect for e in errors] == ["informs"]

    sim_run(body, quiet_market())


@pytest.mark.parametrize(
    "timing", [CommissionTiming.LATE, CommissionTiming.NEVER, CommissionTiming.HELD]
)
def test_commission_reports_late_never_or_released(
    sim_run: Any, open_session: Any, timing: CommissionTiming
) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        exec_id = h.sim.fill(
            h.sim.order_by_ref(s.state(oid).client_order_id), 100, 150, commission_timing=timing
        )
        await s.until(lambda: s.state(oid).status is OrderStatus.FILLED)
        await h.settle(0.05)
        if timing is CommissionTiming.HELD:
            assert s.state(oid).commissions == {}
            h.sim.release_commission_report(exec_id)
        if timing is CommissionTiming.NEVER:
            await h.settle(0.05)
            assert s.state(oid).commissions == {}
        else:
            await s.until(lambda: len(s.state(oid).commissions) == 1)
        assert s.state(oid).filled == 100

    sim_run(body, quiet_market())


def test_modify_is_acknowledged_with_the_new_terms(sim_run: Any, open_session: Any) -> None:
    async def body(h: Any) -> None:
        s = await open_session(h)
        oid = s.broker.place(AAPL, BUY_100)
        await s.until(lambda: s.state(oid).status is OrderStatus.SUBMITTED)
        s.broker.modify(oid, BUY_100.with_changes(limit_price=Decimal("149.50")))
        await s.until(lambda: s.state(oid).pending_modification is None)
        st = s.state(oid)
        assert st.spec.limit_price == Decimal("149.50")
        (ack,) = [e for e in s.trail.history(oid) if type(e).__name__ == "ModificationAcknowledged"]
        assert ack.requested
        assert h.sim.order_by_ref(st.client_order_id).ticket.lmt_price == Decimal("149.50")

    sim_run(body, quiet_market())
