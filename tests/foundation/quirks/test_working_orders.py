"""An order that is still working: Inactive that can fill, silence, PreSubmitted, a modification.
Each example goes through the OrderTrail service on a SQLite store and asserts the stored events
and the final state."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import (
    ErrorReport,
    ExecutionReport,
    StatusReport,
)
from ordertrail.domain.values import (
    OrderAction,
    OrderSpec,
    OrderType,
)
from tests.foundation.quirks.support import (
    AAPL,
    KEY,
    LMT,
    Q,
    S,
    after_submission,
    anomaly_kinds,
    fill,
    open_order,
    state,
    status,
)

# ---- Inactive is not always final ----------------------------------------------------------------


def test_inactive_with_locate_can_still_fill(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Inactive", why_held="locate")
    assert state(trail, placed).why_held == "locate"
    trail.request_cancel(placed)  # it still works, so it can still be cancelled
    status(trail, "Submitted")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    status(trail, "Filled", "100")
    s = state(trail, placed)
    assert s.status is S.FILLED
    assert anomaly_kinds(trail, placed) == []


def test_inactive_with_locate_fills_without_a_status(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Inactive", why_held="locate")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    assert state(trail, placed).status is S.FILLED
    assert anomaly_kinds(trail, placed) == []


# ---- silence -------------------------------------------------------------------------------------


def test_stuck_pending_submit(trail: OrderTrail, placed: UUID) -> None:
    # No status ever comes (market closed on a paper account): nothing to record, nothing
    # invented; the order can still be cancelled and modified.
    s = state(trail, placed)
    assert s.status is S.PENDING_SUBMIT
    assert s.status.is_working
    trail.request_modify(placed, LMT.with_changes(limit_price=Decimal("187.00")))
    trail.request_cancel(placed)
    assert after_submission(trail, placed) == ["ModificationRequested", "CancelRequested"]
    assert state(trail, placed).status is S.PENDING_SUBMIT


# ---- PreSubmitted --------------------------------------------------------------------------------


def test_presubmitted_is_normal_for_a_stop_order(trail: OrderTrail) -> None:
    stop = OrderSpec(OrderAction.SELL, Q, OrderType.STOP, stop_price=Decimal("180"))
    oid = trail.place(client_order_id="OT-stop-1", contract=AAPL, spec=stop)
    trail.submit(oid, client_id=1, order_id=18)
    key = FactKey(order_ref="OT-stop-1")
    trail.record(
        key,
        StatusReport(
            raw_status="PreSubmitted",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=key.perm_id,
        ),
    )
    assert state(trail, oid).status is S.PRE_SUBMITTED
    assert anomaly_kinds(trail, oid) == []


def test_modify_submitted_presubmitted_submitted(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    new = LMT.with_changes(limit_price=Decimal("186.00"))
    trail.request_modify(placed, new)
    assert state(trail, placed).pending_modification == new
    status(trail, "PreSubmitted")
    assert open_order(trail, new) is True
    status(trail, "Submitted")
    s = state(trail, placed)
    assert s.status is S.SUBMITTED
    assert s.spec.limit_price == Decimal("186.00")
    assert s.pending_modification is None
    assert anomaly_kinds(trail, placed) == []
    ack = next(e for e in trail.history(placed) if type(e).__name__ == "ModificationAcknowledged")
    assert ack.requested is True


def test_modify_refused_by_error_110_keeps_the_order_working(
    trail: OrderTrail, placed: UUID
) -> None:
    status(trail, "Submitted")
    trail.request_modify(placed, LMT.with_changes(limit_price=Decimal("186.001")))
    trail.record(
        KEY, ErrorReport(code=110, message="The price does not conform to the minimum tick")
    )
    s = state(trail, placed)
    assert s.status is S.SUBMITTED  # 110 on a modify refuses the modify, not the order
    assert s.pending_modification is None
    assert s.spec == LMT


def test_warning_during_modify_keeps_the_modification_pending(
    trail: OrderTrail, placed: UUID
) -> None:
    status(trail, "Submitted")
    new = LMT.with_changes(limit_price=Decimal("186.00"))
    trail.request_modify(placed, new)
    trail.record(KEY, ErrorReport(code=399, message="Order Message: Warning: ..."))
    assert state(trail, placed).pending_modification == new
