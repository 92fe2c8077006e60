"""How an order's events read to a person: one line each. Kept apart from the fold so the
timeline's summary column and the CLI's order histories say the same thing."""

from __future__ import annotations

from typing import Any

from ordertrail.domain import events as ev
from ordertrail.domain.session import SessionMessageRecorded


def summary(e: Any) -> str:
    """One line per event, for a person: the timeline's summary column and the demo."""
    t = type(e)
    if t is ev.OrderCreated:
        s = e.spec
        px = f" @ {s.limit_price}" if s.limit_price is not None else ""
        stop = f" stop {s.stop_price}" if s.stop_price is not None else ""
        return (
            f"{e.origin}: {s.action.value} {s.quantity} {e.contract.symbol} "
            f"{s.order_type.value}{px}{stop} {s.tif.value}"
        )
    if t is ev.SubmissionRequested:
        mode = f" ({e.mode})" if getattr(e, "mode", None) else ""
        return f"submit as clientId {e.client_id} orderId {e.order_id}{mode}"
    if t is ev.StatusReported:
        held = f" whyHeld={e.why_held}" if e.why_held else ""
        return f"IB status {e.raw_status} filled={e.filled} remaining={e.remaining}{held}"
    if t is ev.ExecutionRecorded:
        x = e.execution
        return f"execution {x.exec_id} {x.side.value} {x.shares} @ {x.price} on {x.exchange}"
    if t is ev.ExecutionCorrected:
        x = e.execution
        return f"correction {x.exec_id} (replaces {e.replaces_exec_id}) {x.shares} @ {x.price}"
    if t is ev.ExecutionCancelled:
        return f"execution {e.exec_id} cancelled: {e.reason}"
    if t is ev.CommissionReported:
        r = e.report
        pnl = f" realized {r.realized_pnl}" if r.realized_pnl is not None else ""
        return f"commission {r.commission} {r.currency} for {r.exec_id}{pnl}"
    if t is ev.RequestSent:
        terms = ""
        if e.spec is not None:
            px = f" @ {e.spec.limit_price}" if e.spec.limit_price is not None else ""
            terms = f": {e.spec.action.value} {e.spec.quantity} {e.spec.order_type.value}{px}"
        return f"{e.kind.value} sent as clientId {e.client_id} orderId {e.order_id}{terms}"
    if t is ev.ErrorReported:
        effect = f" ({e.effect.replace('_', ' ')})" if e.effect else ""
        return f"IB error {e.code}: {e.message}{effect}"
    if t is SessionMessageRecorded:
        about = f" (reqId {e.req_id})" if e.req_id > 0 else ""
        code = f"IB {e.code}: " if e.code else ""
        return f"session, clientId {e.client_id}{about}: {code}{e.message}"
    if t is ev.AnomalyRecorded:
        return f"ANOMALY {e.kind}: received {e.received}; expected {e.expected}"
    if t is ev.CancelRequested:
        return "cancel requested"
    if t is ev.CancelRefused:
        why = f"error {e.code}" if e.code else "IB put the order back to work"
        return f"cancel did not happen ({why})"
    if t is ev.ModificationRequested:
        return f"modify requested: qty {e.spec.quantity} limit {e.spec.limit_price}"
    if t is ev.ModificationAcknowledged:
        who = "ours" if e.requested else "not requested by us"
        return f"IB shows new terms ({who}): qty {e.spec.quantity} limit {e.spec.limit_price}"
    if t is ev.ModificationRefused:
        return f"modification refused (error {e.code})"
    if t is ev.IdentifiersBound:
        parts = []
        if e.perm_id:
            parts.append(f"permId {e.perm_id}")
        if e.order_id is not None:
            parts.append(f"clientId {e.client_id} orderId {e.order_id}")
        return "IB identifiers: " + ", ".join(parts)
    if t is ev.RiskDenied:
        return f"RiskGate refused ({e.rule}): {e.reason}"
    return t.__name__
