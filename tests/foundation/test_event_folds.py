"""Each event's ``fold`` on its own, on a state built by hand: what it assigns, what it leaves,
and the arithmetic of busts and corrections (the aggregate, the rebuilds and the projections
all fold with these functions). Pure: no aggregate, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from ordertrail.domain import events as ev
from ordertrail.domain.facts import RequestKind
from ordertrail.domain.state import ZERO, OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    Side,
)

OID = UUID(int=7)
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
LATER = T0 + timedelta(minutes=3)
S = OrderStatus
SPEC = OrderSpec(OrderAction.BUY, Decimal(300), limit_price=Decimal("10.5"))


def _state() -> OrderState:
    return OrderState(
        "OT-k", "OT-k", None, "placed", ContractRef(265598, "AAPL"), SPEC, S.SUBMITTED,
        None, None, T0, T0,
    )  # fmt: skip


def _event(cls: type[Any], **fields: Any) -> Any:
    return cls(originator_id=OID, originator_version=2, timestamp=LATER, ts_event=None, **fields)


def _x(exec_id: str, shares: str, price: str) -> Execution:
    return Execution(exec_id, T0, "DU1", "NASDAQ", Side.BOUGHT, Decimal(shares), Decimal(price))


def _filled(*fills: Execution) -> OrderState:
    s = _state()
    for x in fills:
        _event(ev.ExecutionRecorded, execution=x, status=S.SUBMITTED, provenance=None).fold(s)
    return s


EVERY_EVENT: list[tuple[type[Any], dict[str, Any]]] = [
    (ev.SubmissionRequested, {"client_id": 1, "order_id": 5, "status": S.PENDING_SUBMIT,
                              "mode": "paper"}),
    (ev.RequestSent, {"kind": RequestKind.PLACE, "client_id": 1, "order_id": 5, "spec": None,
                      "status": S.PENDING_SUBMIT}),
    (ev.RiskDenied, {"rule": "max_notional", "reason": "too big", "status": S.RISK_DENIED}),
    (ev.CancelRequested, {}),
    (ev.CancelRefused, {"code": 10147}),
    (ev.ModificationRequested, {"spec": SPEC}),
    (ev.ModificationAcknowledged, {"spec": SPEC, "requested": True}),
    (ev.ModificationRefused, {"code": 201}),
    (ev.IdentifiersBound, {"perm_id": 99, "client_id": None, "order_id": None, "account": None}),
    (ev.StatusReported, {"raw_status": "Submitted", "status": S.SUBMITTED, "filled": ZERO,
                         "remaining": Decimal(300), "avg_fill_price": None,
                         "last_fill_price": None, "why_held": "", "perm_id": None,
                         "mkt_cap_price": None}),
    (ev.ExecutionRecorded, {"execution": _x("e1.01", "100", "10"), "status": S.SUBMITTED,
                            "provenance": None}),
    (ev.ExecutionCancelled, {"exec_id": "e9.01", "reason": "bust", "status": S.SUBMITTED,
                             "provenance": None}),
    (ev.CommissionReported, {"report": CommissionReport("e1.01", Decimal(1), "USD")}),
    (ev.ErrorReported, {"code": 399, "message": "order message", "advanced_reject": None,
                        "status": S.SUBMITTED, "effect": "informs"}),
    (ev.AnomalyRecorded, {"kind": "late_fill", "expected": "x", "received": "y"}),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "fields"), EVERY_EVENT, ids=[c.__name__ for c, _ in EVERY_EVENT])
def test_every_event_moves_the_orders_last_update_to_its_recording_time(
    cls: type[Any], fields: dict[str, Any]
) -> None:
    s = _state()
    _event(cls, **fields).fold(s)
    assert s.updated_at == LATER
    assert s.created_at == T0


def test_a_correction_replaces_its_fill_in_the_sums() -> None:
    s = _filled(_x("e1.01", "100", "10"), _x("e2.01", "200", "11"))
    fixed = _x("e1.02", "100", "10.5")
    _event(ev.ExecutionCorrected, execution=fixed, replaces_exec_id="e1.01",
           status=S.SUBMITTED, provenance=None).fold(s)  # fmt: skip
    assert (s.filled, s.notional) == (Decimal(300), Decimal(1050) + Decimal(2200))
    assert s.executions["e1"] is fixed
    assert s.updated_at == LATER


def test_a_correction_to_no_shares_leaves_an_exact_zero_notional() -> None:
    s = _filled(_x("e1.01", "100", "10"))
    _event(ev.ExecutionCorrected, execution=_x("e1.02", "0", "10"), replaces_exec_id="e1.01",
           status=S.SUBMITTED, provenance=None).fold(s)  # fmt: skip
    assert s.filled == ZERO
    assert s.notional == ZERO
    assert s.avg_fill_price is None


def test_a_bust_takes_its_fill_and_commission_out_of_the_sums() -> None:
    s = _filled(_x("e1.01", "100", "10"), _x("e2.01", "200", "11"))
    ev.CommissionReported(originator_id=OID, originator_version=3, timestamp=LATER,
                          ts_event=None, report=CommissionReport("e1.01", Decimal(1), "USD")
                          ).fold(s)  # fmt: skip
    _event(ev.ExecutionCancelled, exec_id="e1.01", reason="bust", status=S.SUBMITTED,
           provenance=None).fold(s)  # fmt: skip
    assert (s.filled, s.notional) == (Decimal(200), Decimal(2200))
    assert s.avg_fill_price == Decimal(11)
    assert set(s.executions) == {"e2"}
    assert s.commissions == {}
    assert s.cancelled_executions == ["e1.01"]


def test_busting_the_last_fill_leaves_nothing_filled() -> None:
    s = _filled(_x("e1.01", "100", "10.3333"))
    _event(ev.ExecutionCancelled, exec_id="e1.01", reason="bust", status=S.CANCELLED,
           provenance=None).fold(s)  # fmt: skip
    assert (s.filled, s.notional, s.status) == (ZERO, ZERO, S.CANCELLED)


def test_a_bust_of_a_fill_not_on_record_is_kept_and_changes_no_sum() -> None:
    # A Flex TradeCancel can name an execution the live session never saw.
    s = _filled(_x("e1.01", "100", "10"))
    _event(ev.ExecutionCancelled, exec_id="e7.01", reason="bust", status=S.SUBMITTED,
           provenance=None).fold(s)  # fmt: skip
    assert (s.filled, s.notional) == (Decimal(100), Decimal(1000))
    assert s.cancelled_executions == ["e7.01"]


def test_a_request_with_no_order_id_adds_no_alias_and_an_alias_is_kept_once() -> None:
    s = _state()
    sent = {"kind": RequestKind.GLOBAL_CANCEL, "client_id": 1, "order_id": 0, "spec": None,
            "status": S.SUBMITTED}  # fmt: skip
    _event(ev.RequestSent, **sent).fold(s)
    assert s.aliases == []
    assert s.cancel_requested is True
    _event(ev.RequestSent, **{**sent, "kind": RequestKind.PLACE, "order_id": 5}).fold(s)
    _event(ev.RequestSent, **{**sent, "kind": RequestKind.PLACE, "order_id": 5}).fold(s)
    assert s.aliases == [(1, 5)]
    assert s.requests == 3


@pytest.mark.parametrize(("client_id", "order_id"), [(1, None), (None, 5)])
def test_identifiers_without_both_halves_of_an_alias_add_none(
    client_id: int | None, order_id: int | None
) -> None:
    s = _state()
    _event(ev.IdentifiersBound, perm_id=None, client_id=client_id, order_id=order_id,
           account=None).fold(s)  # fmt: skip
    assert s.aliases == []
    _event(ev.IdentifiersBound, perm_id=None, client_id=1, order_id=5, account=None).fold(s)
    assert s.aliases == [(1, 5)]
