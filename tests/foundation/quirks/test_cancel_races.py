"""A cancel races fills and errors; IB rejects an order in several ways. Each example goes through
the OrderTrail service on a SQLite store and asserts the stored events and the final state."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import (
    ErrorReport,
    ExecutionReport,
)
from tests.foundation.quirks.support import (
    KEY,
    Q,
    S,
    after_submission,
    anomaly_kinds,
    fill,
    kinds,
    state,
    status,
)

# ---- cancel races --------------------------------------------------------------------------------


def test_pending_cancel_then_filled(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    status(trail, "PendingCancel")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    status(trail, "Filled", "100")
    s = state(trail, placed)
    assert s.status is S.FILLED
    assert s.cancel_requested is True
    assert anomaly_kinds(trail, placed) == []


def test_cancelled_then_late_fill_records_anomaly(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    status(trail, "Cancelled")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    s = state(trail, placed)
    assert s.status is S.FILLED  # IB says it traded: the order follows IB
    assert s.filled == Q
    assert after_submission(trail, placed)[-2:] == ["ExecutionRecorded", "AnomalyRecorded"]
    anomaly = trail.history(placed)[-1]
    assert anomaly.kind == "fill_after_cancel"
    assert anomaly.expected.startswith("from Cancelled:")
    assert "0001f4e8.65f1a2b3.01.01" in anomaly.received


def test_partial_late_fill_after_cancel_keeps_cancelled(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Cancelled")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "10")))
    s = state(trail, placed)
    assert s.status is S.CANCELLED
    assert s.filled == Decimal(10)
    assert anomaly_kinds(trail, placed) == ["fill_after_cancel"]


def test_error_10148_then_filled(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    # The fill won the race; IB refuses the cancel, then sends the Filled status.
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    trail.record(
        KEY,
        ErrorReport(
            code=10148,
            message="OrderId 17 that needs to be cancelled cannot be cancelled, state: Filled.",
        ),
    )
    status(trail, "Filled", "100")
    s = state(trail, placed)
    assert s.status is S.FILLED
    assert s.last_error == (
        10148,
        "OrderId 17 that needs to be cancelled cannot be cancelled, state: Filled.",
    )
    assert anomaly_kinds(trail, placed) == []


def test_error_10148_while_cancel_pending_then_filled(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    trail.record(KEY, ErrorReport(code=10148, message="cannot be cancelled, state: Filled."))
    assert state(trail, placed).status is S.SUBMITTED  # 10148 tells about the cancel only
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    status(trail, "Filled", "100")
    assert state(trail, placed).status is S.FILLED
    assert "CancelRefused" in kinds(trail, placed)
    assert anomaly_kinds(trail, placed) == []


def test_error_10147_order_not_found(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    trail.record(
        KEY, ErrorReport(code=10147, message="OrderId 17 that needs to be cancelled is not found.")
    )
    s = state(trail, placed)
    assert s.status is S.SUBMITTED
    assert s.cancel_requested is False  # the cancel was refused: it may be sent again
    trail.request_cancel(placed)
    assert after_submission(trail, placed) == [
        "StatusReported",
        "CancelRequested",
        "ErrorReported",
        "CancelRefused",
        "CancelRequested",
    ]


def test_refused_cancel_then_cancel_again(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "PreSubmitted")
    trail.request_cancel(placed)
    with pytest.raises(CommandRefused, match="already pending"):
        trail.request_cancel(placed)
    trail.record(
        KEY,
        ErrorReport(code=161, message="Cancel attempted when order is not in a cancellable state."),
    )
    trail.request_cancel(placed)
    assert state(trail, placed).cancel_requested is True


def test_error_202_confirms_a_cancel(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    trail.record(KEY, ErrorReport(code=202, message="Order Canceled - reason:"))
    s = state(trail, placed)
    assert s.status is S.CANCELLED
    assert anomaly_kinds(trail, placed) == []


def test_error_202_after_cancelled_is_a_confirmation(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    status(trail, "Cancelled")
    # Localised text: the code decides, never the message.
    trail.record(KEY, ErrorReport(code=202, message="Ordre annulé - raison :"))
    s = state(trail, placed)
    assert s.status is S.CANCELLED
    assert s.last_error == (202, "Ordre annulé - raison :")
    assert after_submission(trail, placed)[-1] == "ErrorReported"
    assert anomaly_kinds(trail, placed) == []


# ---- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (201, "Order rejected - reason:Exchange is closed."),
        (201, "Order rejected - reason:Missing order account"),
        (200, "No security definition has been found for the request"),
        (103, "Duplicate order id"),
    ],
)
def test_rejection_with_no_order_status_at_all(
    trail: OrderTrail, placed: UUID, code: int, message: str
) -> None:
    trail.record(KEY, ErrorReport(code=code, message=message))
    s = state(trail, placed)
    assert s.status is S.INACTIVE
    assert s.last_error == (code, message)
    assert after_submission(trail, placed) == ["ErrorReported"]


def test_rejection_201_then_inactive(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ErrorReport(code=201, message="Order rejected - reason:Exchange is closed."))
    status(trail, "Inactive")
    s = state(trail, placed)
    assert s.status is S.INACTIVE
    assert anomaly_kinds(trail, placed) == []
    assert after_submission(trail, placed) == ["ErrorReported", "StatusReported"]


def test_cancelled_then_inactive_after_rejection(trail: OrderTrail, placed: UUID) -> None:
    # Clients that believed ib_async's local Cancelled see exactly this pair. IB already said
    # Cancelled: the 201 informs, and IB's own Inactive moves the order.
    status(trail, "Cancelled")
    trail.record(KEY, ErrorReport(code=201, message="Order rejected - reason:margin"))
    assert state(trail, placed).status is S.CANCELLED
    status(trail, "Inactive")
    assert state(trail, placed).status is S.INACTIVE
    assert anomaly_kinds(trail, placed) == []
    errors = [e for e in trail.history(placed) if type(e).__name__ == "ErrorReported"]
    assert [e.effect for e in errors] == ["informs"]


def test_warning_error_does_not_cancel_anything(trail: OrderTrail, placed: UUID) -> None:
    # ib_async marks the Trade Cancelled on 10349/404; the order is still live.
    status(trail, "Submitted")
    trail.record(
        KEY, ErrorReport(code=10349, message="Order TIF was set to DAY based on order preset.")
    )
    trail.record(KEY, ErrorReport(code=404, message="Order held while securities are located."))
    assert state(trail, placed).status is S.SUBMITTED
