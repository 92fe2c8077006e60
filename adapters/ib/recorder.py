"""Records what IB says, and what the client asks of IB, as facts.

The recorder is a translator: each message becomes ``(key, fact)`` handed to the trail service's
one entrance, ``OrderTrail.record``. It hooks the ib_async ``Wrapper`` callbacks the decoder
calls for each incoming message (openOrder, completedOrder, orderStatus, execDetails,
commissionReport, error) and sees them *before* ib_async's own bookkeeping, so it records what IB
sent and nothing ib_async invents (docs/adr/0007-recorder-on-raw-callbacks.md):

* ib_async marks a Trade ``Cancelled`` on any non-warning error for a live order id (10349,
  404, 110 on a modify do not cancel anything) and sets ``ValidationError`` on warnings; here
  the error is recorded as the error it is, and the domain reads it against the request it
  answers;
* ib_async drops an orderStatus identical to the previous one and fires no fill event for
  executions returned by ``reqExecutions``; here every message reaches the domain, which is
  idempotent, so a reconnect's snapshots reconcile the store without a separate code path.

It also reads every outbound message from ib_async's connection (``outbound.py``): placeOrder
for a new order id, placeOrder for a known one (a modify), cancelOrder, reqGlobalCancel —
ordertrail's own or a program's sharing the same ``IB``. A replay feeds a tape's outbound lines to
``on_outbound`` so live and replay agree.

Facts about an order not yet known wait in the trail's waiting room; at the end of a sync an
execution whose order never showed up makes its own order (quantity from cumQty, flagged in its
provenance), and an error whose order never showed up goes to the session log.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ib_async import IB

from ordertrail.adapters.ib.incoming import IncomingRecorder
from ordertrail.adapters.trail import OrderTrail

HOOKED = ("openOrder", "completedOrder", "orderStatus", "execDetails", "commissionReport", "error")
SYNC_ENDS = ("openOrderEnd", "completedOrdersEnd", "execDetailsEnd")


class IbRecorder(IncomingRecorder):
    """Attach to a (connected or not yet connected) ``ib_async.IB``; detach to stop."""

    def __init__(self, ib: IB, trail: OrderTrail) -> None:
        super().__init__(ib, trail)
        self._originals: dict[str, Any] = {}
        self._orig_send: Callable[[bytes], None] | None = None

    # ---- wiring ----

    def attach(self) -> IbRecorder:
        """Attach before a WireCapture, so the tape's clock is set while outbound facts are
        recorded (the capture wraps what it finds)."""
        wrapper = self.ib.wrapper
        for name in (*HOOKED, *SYNC_ENDS):
            original = getattr(wrapper, name)
            self._originals[name] = original
            setattr(wrapper, name, self._hooked(name, original))
        conn = self.ib.client.conn
        self._orig_send = conn.sendMsg
        conn.sendMsg = self._sent  # type: ignore[method-assign]
        self.ib.disconnectedEvent += self._on_disconnected
        return self

    def detach(self) -> None:
        self._errors_to_session_log()
        for name, original in self._originals.items():
            setattr(self.ib.wrapper, name, original)
        self._originals.clear()
        if self._orig_send is not None:
            self.ib.client.conn.sendMsg = self._orig_send  # type: ignore[method-assign]
            self._orig_send = None
        self.ib.disconnectedEvent -= self._on_disconnected

    def _hooked(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        handler = getattr(self, f"_on_{name}")

        def hooked(*args: Any) -> Any:
            # Ours first: ib_async mutates what it is given (an unset realizedPNL becomes 0.0,
            # an unset execution orderId becomes 0).
            self.guarded(name, handler, *args)
            return original(*args)

        return hooked

    def _sent(self, data: bytes) -> None:
        if len(data) > 4 and not data.startswith(b"API\0"):
            size = struct.unpack(">I", data[:4])[0]
            fields = data[4 : 4 + size].decode(errors="backslashreplace").split("\0")[:-1]
            self.on_outbound(fields)
        assert self._orig_send is not None
        self._orig_send(data)

    def _on_disconnected(self) -> None:
        # (clientId, orderId) is a session alias: IB reuses orderIds across sessions. Errors
        # still waiting for an order that never came are about nothing we will know.
        self._errors_to_session_log()
        self._unknown_ids.clear()
        self.trail.forget_aliases()
