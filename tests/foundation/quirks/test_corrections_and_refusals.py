"""Corrections, brackets, the commands we refuse, and what IB changes on its own. Each example goes
through the OrderTrail service on a SQLite store and asserts the stored events and the final
state."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from uuid import UUID

import pytest

from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionReport,
    OpenOrderReport,
)
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    OrderAction,
)
from tests.foundation.quirks.support import (
    AAPL,
    COID,
    KEY,
    LMT,
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

# ---- corrections ---------------------------------------------------------------------------------


def test_execution_correction_replaces_original(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "60", "187.49")))
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.02.01", "30", "187.40")))
    trail.record(None, CommissionReported(commission("0001f4e8.65f1a2b3.01.01", "0.30")))
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.02", "50", "187.45")))
    trail.record(None, CommissionReported(commission("0001f4e8.65f1a2b3.01.02", "0.25")))
    s = state(trail, placed)
    assert s.filled == Decimal(80)
    assert s.status is S.PENDING_SUBMIT
    assert s.executions["0001f4e8.65f1a2b3.01"].exec_id == "0001f4e8.65f1a2b3.01.02"
    assert s.avg_fill_price == (50 * Decimal("187.45") + 30 * Decimal("187.40")) / 80
    assert s.commission_total == Decimal("0.25")
    # A correction that completes the order fills it.
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.03", "70", "187.45")))
    assert state(trail, placed).status is S.FILLED
    s = state(trail, placed)
    corrected = next(e for e in trail.history(placed) if type(e).__name__ == "ExecutionCorrected")
    assert corrected.replaces_exec_id == "0001f4e8.65f1a2b3.01.01"
    # The original (and its report) arriving again after the correction change nothing.
    assert trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "60"))) is False
    assert (
        trail.record(None, CommissionReported(commission("0001f4e8.65f1a2b3.01.01", "0.30")))
        is False
    )
    assert state(trail, placed) == s


def test_correction_that_overfills_records_an_anomaly(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.02", "120")))
    s = state(trail, placed)
    assert s.filled == Decimal(120)
    assert "overfill" in s.anomalies


def test_modify_quantity_below_fills_that_raced_it_records_overfill(
    trail: OrderTrail, placed: UUID
) -> None:
    status(trail, "Submitted")
    new = LMT.with_changes(quantity=Decimal(50))
    trail.request_modify(placed, new)
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "80")))  # the fill won
    open_order(trail, new)
    s = state(trail, placed)
    assert s.spec.quantity == Decimal(50)
    assert s.filled > s.spec.quantity
    assert "overfill" in s.anomalies


# ---- brackets ------------------------------------------------------------------------------------


def test_bracket_children_carry_parent_and_group(trail: OrderTrail) -> None:
    b = BracketOrder.build(
        action=OrderAction.BUY,
        quantity=Q,
        entry_price=Decimal("100"),
        take_profit_price=Decimal("110"),
        stop_loss_price=Decimal("95"),
        oca_group="OCA-77",
    )
    assert (b.parent.transmit, b.take_profit.transmit, b.stop_loss.transmit) == (
        False,
        False,
        True,
    )
    parent = trail.place(client_order_id="OT-b-p", contract=AAPL, spec=b.parent, group_id="B1")
    legs = [
        trail.place(
            client_order_id=f"OT-b-{n}",
            contract=AAPL,
            spec=spec,
            parent_key="coid:OT-b-p",
            group_id="B1",
        )
        for n, spec in (("tp", b.take_profit), ("sl", b.stop_loss))
    ]
    # A rejected parent leaves its children unsent.
    trail.submit(parent, client_id=1, order_id=30)
    trail.record(FactKey(order_ref="OT-b-p"), ErrorReport(code=201, message="rejected"))
    states = trail.states()
    assert states[parent].status is S.INACTIVE
    for leg in legs:
        assert states[leg].status is S.NEW
        assert states[leg].parent_key == "coid:OT-b-p"
        assert states[leg].spec.oca_type == 1
        assert states[leg].group_id == "B1"


def test_placing_the_same_client_order_id_twice_is_refused(trail: OrderTrail, placed: UUID) -> None:
    with pytest.raises(CommandRefused):
        trail.place(client_order_id=COID, contract=AAPL, spec=LMT)
    assert len(trail.history(placed)) == 2


def test_second_submission_is_refused(trail: OrderTrail, placed: UUID) -> None:
    with pytest.raises(CommandRefused, match="submit"):
        trail.submit(placed, client_id=1, order_id=99)
    assert len(trail.history(placed)) == 2


def test_cancel_of_a_filled_order_is_refused(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    with pytest.raises(CommandRefused, match="cancel"):
        trail.request_cancel(placed)


def test_modify_of_a_cancelled_order_is_refused(trail: OrderTrail, placed: UUID) -> None:
    status(trail, "Cancelled")
    count = len(trail.history(placed))
    with pytest.raises(CommandRefused, match="modify"):
        trail.request_modify(placed, LMT.with_changes(limit_price=Decimal("1")))
    assert len(trail.history(placed)) == count


# ---- a cancel IB does not carry out, and the account IB chose ------------------------------------


def test_pending_cancel_back_to_submitted_clears_the_cancel_request(
    trail: OrderTrail, placed: UUID
) -> None:
    status(trail, "Submitted")
    trail.request_cancel(placed)
    status(trail, "PendingCancel")
    status(trail, "Submitted")  # IB refused the cancel without an error message
    s = state(trail, placed)
    assert s.status is OrderStatus.SUBMITTED
    assert not s.cancel_requested
    assert after_submission(trail, placed)[-1] == "CancelRefused"
    trail.request_cancel(placed)  # a second try is allowed again
    assert state(trail, placed).cancel_requested


def test_open_order_fills_in_the_account_ib_placed_the_order_in(
    trail: OrderTrail, placed: UUID
) -> None:
    assert state(trail, placed).spec.account == ""
    trail.record(
        KEY,
        OpenOrderReport(
            spec=replace(LMT, account="DU1234567"),
            perm_id=KEY.perm_id,
            client_id=KEY.client_id,
            order_id=KEY.order_id,
        ),
    )
    assert state(trail, placed).spec.account == "DU1234567"
    # Said again, it records nothing.
    assert not trail.record(
        KEY,
        OpenOrderReport(
            spec=replace(LMT, account="DU1234567"),
            perm_id=KEY.perm_id,
            client_id=KEY.client_id,
            order_id=KEY.order_id,
        ),
    )


def test_correction_that_takes_shares_off_a_filled_order_is_an_anomaly(
    trail: OrderTrail, placed: UUID
) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", str(Q))))
    assert state(trail, placed).status is OrderStatus.FILLED
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.02", str(Q - 10))))
    s = state(trail, placed)
    assert s.status is OrderStatus.FILLED
    assert s.filled == Q - 10
    assert anomaly_kinds(trail, placed) == ["filled_order_lost_a_fill"]
