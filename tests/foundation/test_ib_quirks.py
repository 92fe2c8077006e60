"""One example per behaviour seen in real IB sessions (messages out of order, duplicates,
cancel races, rejections, restarts, corrections), each through the OrderTrail service on a
SQLite store, asserting the stored events and the final state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionReport,
    OpenOrderReport,
    OrderObserved,
    Origin,
    StatusReport,
)
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    BracketOrder,
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)
from tests.conftest import Clock
from tests.strategies import with_identifiers

S = OrderStatus
AAPL = ContractRef(265598, "AAPL")
COID = "OT-quirk-1"
PERM = 1_811_123_456
KEY = FactKey(order_ref=COID, perm_id=PERM, client_id=1, order_id=17)
Q = Decimal(100)
LMT = OrderSpec(OrderAction.BUY, Q, OrderType.LIMIT, limit_price=Decimal("187.50"))
T0 = datetime(2024, 3, 15, 14, 0, tzinfo=UTC)


@pytest.fixture
def trail(tmp_store: StoreConfig, clock: Clock) -> OrderTrail:
    return OrderTrail(tmp_store, clock=clock)


@pytest.fixture
def placed(trail: OrderTrail) -> UUID:
    """Our order, handed to IB as (clientId 1, orderId 17); IB has said nothing yet."""
    oid = trail.place(client_order_id=COID, contract=AAPL, spec=LMT)
    trail.submit(oid, client_id=1, order_id=17)
    return oid


def kinds(trail: OrderTrail, oid: UUID) -> list[str]:
    return [type(e).__name__ for e in trail.history(oid)]


def after_submission(trail: OrderTrail, oid: UUID) -> list[str]:
    names = kinds(trail, oid)
    assert names[:2] == ["OrderCreated", "SubmissionRequested"]
    return names[2:]


def state(trail: OrderTrail, oid: UUID) -> OrderState:
    s = trail.get(oid).state
    assert trail.states()[oid] == s, "the fast rebuild disagrees with the repository"
    return s


def fill(exec_id: str, shares: str, price: str = "187.49", **kw: object) -> Execution:
    return Execution(
        exec_id=exec_id,
        time=T0,
        account="DU1234567",
        exchange="ISLAND",
        side=Side.BOUGHT,
        shares=Decimal(shares),
        price=Decimal(price),
        perm_id=PERM,
        client_id=1,
        order_id=17,
        order_ref=COID,
        **kw,  # type: ignore[arg-type]
    )


def open_order(trail: OrderTrail, spec: OrderSpec) -> bool | None:
    """IB's openOrder for our order, with the identifiers it carries."""
    return trail.record(KEY, with_identifiers(OpenOrderReport(spec=spec), KEY))


def status(trail: OrderTrail, raw: str, filled: str = "0", why_held: str = "") -> bool:
    f = Decimal(filled)
    return trail.record(
        KEY,
        StatusReport(
            raw_status=raw,
            filled=f,
            remaining=Q - f,
            avg_fill_price=Decimal("187.49") if f else None,
            why_held=why_held,
            perm_id=KEY.perm_id,
        ),
    )


def commission(exec_id: str, amount: str = "1.00") -> CommissionReport:
    return CommissionReport(exec_id, Decimal(amount), "USD")


def anomaly_kinds(trail: OrderTrail, oid: UUID) -> list[str]:
    return [e.kind for e in trail.history(oid) if type(e).__name__ == "AnomalyRecorded"]


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


# ---- restarts and other clients ------------------------------------------------------------------


def test_order_comes_back_cancelled_with_order_id_zero_after_restart(
    tmp_store: StoreConfig, clock: Clock
) -> None:
    first = OrderTrail(tmp_store, clock=clock)
    oid = first.place(client_order_id=COID, contract=AAPL, spec=LMT)
    first.submit(oid, client_id=1, order_id=17)
    first.record(
        KEY,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=KEY.perm_id,
        ),
    )
    first.close()
    # A new process: aliases are gone; IB re-sends the order with orderId 0 and no history.
    again = OrderTrail(tmp_store, clock=clock)
    key = FactKey(order_ref=COID, perm_id=PERM, client_id=1, order_id=0)
    assert key.alias is None  # orderId 0 is never an alias: manual orders all share it
    assert again.resolve(key) == oid
    assert again.resolve(FactKey(perm_id=PERM)) == oid  # by permId alone, from the log
    again.record(
        key,
        StatusReport(
            raw_status="Cancelled",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=key.perm_id,
        ),
    )
    assert (
        again.record(
            key,
            OpenOrderReport(
                spec=LMT, perm_id=key.perm_id, client_id=key.client_id, order_id=key.order_id
            ),
        )
        is False
    )  # orderId 0 binds no alias
    s = state(again, oid)
    assert s.status is S.CANCELLED
    assert s.aliases == [(1, 17)]


def test_discover_by_perm_id_after_restart_finds_the_placed_order(
    tmp_store: StoreConfig, clock: Clock
) -> None:
    first = OrderTrail(tmp_store, clock=clock)
    oid = first.place(client_order_id=COID, contract=AAPL, spec=LMT)
    first.submit(oid, client_id=1, order_id=17)
    first.record(
        KEY,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=KEY.perm_id,
        ),
    )
    first.close()
    again = OrderTrail(tmp_store, clock=clock)
    # The completed-orders list after a reconnect names the order by permId only.
    assert (
        again.observe(
            OrderObserved(contract=AAPL, spec=LMT, perm_id=PERM, origin=Origin.DISCOVERED)
        )
        == oid
    )
    assert len(again.states()) == 1


def test_commission_report_for_unknown_execution_is_held(trail: OrderTrail, placed: UUID) -> None:
    # Commission reports carry no clientId: reports for other clients' or manual executions
    # arrive too, sometimes before the execution they belong to.
    report = commission("0001f4e8.65f1a2b3.01.01", "0.42")
    assert trail.record(None, CommissionReported(report)) is None
    assert trail.pending_commissions == [report]
    assert after_submission(trail, placed) == []
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    assert trail.pending_commissions == []
    s = state(trail, placed)
    assert s.commission_total == Decimal("0.42")
    assert after_submission(trail, placed) == ["ExecutionRecorded", "CommissionReported"]


def test_commission_report_of_another_clients_execution_records_nothing(
    trail: OrderTrail, placed: UUID
) -> None:
    assert trail.record(None, CommissionReported(commission("00099999.65f1a2b3.01.01"))) is None
    assert after_submission(trail, placed) == []
    assert state(trail, placed).commissions == {}


def test_repeated_commission_report_changes_nothing(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    report = commission("0001f4e8.65f1a2b3.01.01")
    assert trail.record(None, CommissionReported(report)) is True
    assert trail.record(None, CommissionReported(report)) is False
    assert after_submission(trail, placed).count("CommissionReported") == 1


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
