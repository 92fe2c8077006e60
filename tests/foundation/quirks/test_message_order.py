"""Messages about one order arrive in any order, and some arrive twice. Each example goes through
the OrderTrail service on a SQLite store and asserts the stored events and the final state."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionReport,
)
from tests.foundation.quirks.support import (
    KEY,
    LMT,
    PERM,
    Q,
    S,
    after_submission,
    anomaly_kinds,
    commission,
    fill,
    open_order,
    state,
    status,
)

# ---- order of messages varies ------------------------------------------------------------------


def test_exec_details_before_any_order_status(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    assert state(trail, placed).status is S.FILLED
    status(trail, "Submitted", "0")  # IB's late view of the world: recorded, an anomaly
    status(trail, "Filled", "100")
    s = state(trail, placed)
    assert s.status is S.FILLED
    assert s.filled == Q
    assert after_submission(trail, placed) == [
        "ExecutionRecorded",
        "StatusReported",
        "AnomalyRecorded",
        "StatusReported",
    ]
    assert anomaly_kinds(trail, placed) == ["status_after_fill"]


def test_exec_details_before_open_order(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "40")))
    assert open_order(trail, LMT) is True  # binds the permId only
    s = state(trail, placed)
    assert s.perm_id == PERM
    assert s.status is S.PENDING_SUBMIT
    assert after_submission(trail, placed) == ["ExecutionRecorded", "IdentifiersBound"]
    assert open_order(trail, LMT) is False


def test_exec_details_after_filled_status(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    status(trail, "Filled", "100")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "30")))
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.02.01", "70")))
    s = state(trail, placed)
    assert s.status is S.FILLED
    assert s.filled == Q
    assert anomaly_kinds(trail, placed) == []


def test_commission_report_after_other_messages(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "60")))
    status(trail, "Submitted", "60")
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.02.01", "40")))
    status(trail, "Filled", "100")
    assert (
        trail.record(None, CommissionReported(commission("0001f4e8.65f1a2b3.01.01", "0.35")))
        is True
    )
    assert (
        trail.record(None, CommissionReported(commission("0001f4e8.65f1a2b3.02.01", "0.65")))
        is True
    )
    s = state(trail, placed)
    assert s.commission_total == Decimal("1.00")
    assert after_submission(trail, placed)[-2:] == ["CommissionReported", "CommissionReported"]


def test_missing_commission_report_leaves_the_fill_without_commission(
    trail: OrderTrail, placed: UUID
) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    status(trail, "Filled", "100")
    s = state(trail, placed)
    assert s.status is S.FILLED
    assert s.commissions == {}
    assert s.commission_total == 0
    # ... and if it comes after all (reqExecutions after a reconnect), it finds its fill.
    assert trail.record(None, CommissionReported(commission("0001f4e8.65f1a2b3.01.01"))) is True
    assert state(trail, placed).commission_total == Decimal("1.00")


@pytest.mark.parametrize("raw", ["PendingSubmit", "PreSubmitted"])
def test_fills_logged_while_pending_submit_or_presubmitted(
    trail: OrderTrail, placed: UUID, raw: str
) -> None:
    status(trail, raw)
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "25")))
    s = state(trail, placed)
    assert s.status is S(raw)
    assert s.filled == Decimal(25)
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.02.01", "75")))
    assert state(trail, placed).status is S.FILLED
    assert anomaly_kinds(trail, placed) == []


# ---- duplicates ----------------------------------------------------------------------------------


def test_order_status_repeated_three_times(trail: OrderTrail, placed: UUID) -> None:
    assert [status(trail, "Submitted") for _ in range(3)] == [True, False, False]
    assert after_submission(trail, placed) == ["StatusReported"]
    assert state(trail, placed).status is S.SUBMITTED


def test_open_order_resent_after_partial_fills(trail: OrderTrail, placed: UUID) -> None:
    assert open_order(trail, LMT) is True
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "30")))
    status(trail, "Submitted", "30")
    count = len(trail.history(placed))
    assert open_order(trail, LMT) is False
    assert len(trail.history(placed)) == count


def test_pending_cancel_repeated(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    assert [status(trail, "PendingCancel") for _ in range(3)] == [True, False, False]
    assert after_submission(trail, placed) == [
        "StatusReported",
        "CancelRequested",
        "StatusReported",
    ]


def test_same_execution_twice_changes_nothing(trail: OrderTrail, placed: UUID) -> None:
    x = fill("0001f4e8.65f1a2b3.01.01", "40")
    assert trail.record(KEY, ExecutionReport(x)) is True
    assert trail.record(KEY, ExecutionReport(x)) is False
    assert state(trail, placed).filled == Decimal(40)
