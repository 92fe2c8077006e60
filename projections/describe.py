"""How an order's events read to a person: one line each. Kept apart from the fold so the
timeline's summary column and the CLI's order histories say the same thing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ordertrail.domain import events as ev
from ordertrail.domain.session import SessionMessageRecorded


def _order_created(e: Any) -> str:
    s = e.spec
    px = f" @ {s.limit_price}" if s.limit_price is not None else ""
    stop = f" stop {s.stop_price}" if s.stop_price is not None else ""
    return (
        f"{e.origin}: {s.action.value} {s.quantity} {e.contract.symbol} "
        f"{s.order_type.value}{px}{stop} {s.tif.value}"
    )


def _submission_requested(e: Any) -> str:
    mode = f" ({e.mode})" if getattr(e, "mode", None) else ""
    return f"submit as clientId {e.client_id} orderId {e.order_id}{mode}"


def _status_reported(e: Any) -> str:
    held = f" whyHeld={e.why_held}" if e.why_held else ""
    return f"IB status {e.raw_status} filled={e.filled} remaining={e.remaining}{held}"


def _execution_recorded(e: Any) -> str:
    x = e.execution
    return f"execution {x.exec_id} {x.side.value} {x.shares} @ {x.price} on {x.exchange}"


def _execution_corrected(e: Any) -> str:
    x = e.execution
    return f"correction {x.exec_id} (replaces {e.replaces_exec_id}) {x.shares} @ {x.price}"


def _execution_cancelled(e: Any) -> str:
    return f"execution {e.exec_id} cancelled: {e.reason}"


def _commission_reported(e: Any) -> str:
    r = e.report
    pnl = f" realized {r.realized_pnl}" if r.realized_pnl is not None else ""
    return f"commission {r.commission} {r.currency} for {r.exec_id}{pnl}"


def _request_sent(e: Any) -> str:
    terms = ""
    if e.spec is not None:
        px = f" @ {e.spec.limit_price}" if e.spec.limit_price is not None else ""
        terms = f": {e.spec.action.value} {e.spec.quantity} {e.spec.order_type.value}{px}"
    return f"{e.kind.value} sent as clientId {e.client_id} orderId {e.order_id}{terms}"


def _error_reported(e: Any) -> str:
    effect = f" ({e.effect.replace('_', ' ')})" if e.effect else ""
    return f"IB error {e.code}: {e.message}{effect}"


def _session_message_recorded(e: Any) -> str:
    about = f" (reqId {e.req_id})" if e.req_id > 0 else ""
    code = f"IB {e.code}: " if e.code else ""
    return f"session, clientId {e.client_id}{about}: {code}{e.message}"


def _anomaly_recorded(e: Any) -> str:
    return f"ANOMALY {e.kind}: received {e.received}; expected {e.expected}"


def _cancel_requested(e: Any) -> str:
    return "cancel requested"


def _cancel_refused(e: Any) -> str:
    why = f"error {e.code}" if e.code else "IB put the order back to work"
    return f"cancel did not happen ({why})"


def _modification_requested(e: Any) -> str:
    return f"modify requested: qty {e.spec.quantity} limit {e.spec.limit_price}"


def _modification_acknowledged(e: Any) -> str:
    who = "ours" if e.requested else "not requested by us"
    return f"IB shows new terms ({who}): qty {e.spec.quantity} limit {e.spec.limit_price}"


def _modification_refused(e: Any) -> str:
    return f"modification refused (error {e.code})"


def _identifiers_bound(e: Any) -> str:
    parts = []
    if e.perm_id:
        parts.append(f"permId {e.perm_id}")
    if e.order_id is not None:
        parts.append(f"clientId {e.client_id} orderId {e.order_id}")
    return "IB identifiers: " + ", ".join(parts)


def _risk_denied(e: Any) -> str:
    return f"RiskGate refused ({e.rule}): {e.reason}"


_SUMMARIES: dict[type, Callable[[Any], str]] = {
    ev.OrderCreated: _order_created,
    ev.SubmissionRequested: _submission_requested,
    ev.StatusReported: _status_reported,
    ev.ExecutionRecorded: _execution_recorded,
    ev.ExecutionCorrected: _execution_corrected,
    ev.ExecutionCancelled: _execution_cancelled,
    ev.CommissionReported: _commission_reported,
    ev.RequestSent: _request_sent,
    ev.ErrorReported: _error_reported,
    SessionMessageRecorded: _session_message_recorded,
    ev.AnomalyRecorded: _anomaly_recorded,
    ev.CancelRequested: _cancel_requested,
    ev.CancelRefused: _cancel_refused,
    ev.ModificationRequested: _modification_requested,
    ev.ModificationAcknowledged: _modification_acknowledged,
    ev.ModificationRefused: _modification_refused,
    ev.IdentifiersBound: _identifiers_bound,
    ev.RiskDenied: _risk_denied,
}


def summary(e: Any) -> str:
    """One line per event, for a person: the timeline's summary column and the demo; an event
    of a class with no line of its own reads as its class name."""
    line = _SUMMARIES.get(type(e))
    return type(e).__name__ if line is None else line(e)
