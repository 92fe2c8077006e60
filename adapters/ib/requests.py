"""What the recorder shares between its two directions: the stats, the listeners, and the
translation of requests leaving the client into facts (``outbound.py`` reads the wire)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ib_async import IB

from ordertrail.adapters.ib.outbound import (
    Sent,
    SentCancel,
    SentGlobalCancel,
    SentPlace,
    read_outbound,
)
from ordertrail.adapters.ib.stats import RecorderStats
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.errors import OrdertrailError
from ordertrail.domain.facts import (
    ErrorReport,
    OrderObserved,
    Origin,
    OutboundRequest,
    RequestKind,
    SessionError,
)
from ordertrail.domain.identity import is_client_order_id
from ordertrail.domain.values import OrderSpec

log = logging.getLogger("ordertrail.ib")


class RequestRecorder:
    """Turns each request that leaves ib_async's client into a fact on the trail."""

    def __init__(self, ib: IB, trail: OrderTrail) -> None:
        self.ib = ib
        self.trail = trail
        self.stats = RecorderStats()
        self.listeners: list[Callable[[str], None]] = []
        # Order ids this session sent requests for that name no order we can know (a cancel of
        # an id IB never gave out): their errors go straight to the session log.
        self._unknown_ids: set[int] = set()

    def guarded(self, what: str, handler: Callable[..., None], *args: Any) -> None:
        """``handler(*args)`` with its problems on record (a live hook's, or a replay's kept
        message's): a fact that cannot be recorded is kept among the problems and logged as an
        error, never raised into ib_async's handler."""
        try:
            handler(*args)
        except (OrdertrailError, ValueError, LookupError) as e:
            self._problem(f"{what}: {e}")

    def _problem(self, text: str) -> None:
        self.stats.problems.append(text)
        log.error("could not record %s", text)

    def _warn(self, text: str) -> None:
        self.stats.warnings.append(text)
        log.warning("%s", text)

    def _notify(self, what: str) -> None:
        for listener in self.listeners:
            listener(what)

    def _counted(self, result: bool | None, stat: str, note: str) -> None:
        if result:
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)
            self._notify(note)
        elif result is False:
            self.stats.repeats += 1
        else:
            self.stats.held += 1

    @property
    def client_id(self) -> int:
        return int(self.ib.client.clientId)

    # ---- outbound ----

    def on_outbound(self, fields: list[str]) -> None:
        """One message as it left the client (live: from the connection; replay: a tape's
        outbound line). What cannot be read is a problem on record, never an exception in the
        program that sent it."""
        self.guarded("outbound", self._outbound, fields)

    def on_sent(self, sent: Sent) -> None:
        """One request read already by ``read_outbound`` (a replay reads its tape's outbound
        lines while checking the tape, and does not read them again)."""
        self.guarded("outbound", self._sent_request, sent)

    def _outbound(self, fields: list[str]) -> None:
        sent = read_outbound(fields, int(self.ib.client.serverVersion() or 0))
        if sent is not None:
            self._sent_request(sent)

    def _sent_request(self, sent: Sent) -> None:
        cid = self.client_id
        if isinstance(sent, SentGlobalCancel):
            self._session(-1, 0, "reqGlobalCancel sent", RequestKind.GLOBAL_CANCEL)
            return
        key = FactKey(client_id=cid, order_id=sent.order_id)
        oid = self.trail.resolve(key)
        if isinstance(sent, SentCancel):
            if oid is None:
                # A cancel of an id this store never saw: IB will answer 10147; both go to
                # the session log, linked by the order id.
                self._session(sent.order_id, 0, "cancelOrder sent", RequestKind.CANCEL)
                self._unknown_ids.add(sent.order_id)
                return
            self._request(key, RequestKind.CANCEL, sent.order_id, None)
            return
        self._sent_place(key, oid, sent)

    def _sent_place(self, key: FactKey, oid: Any, sent: SentPlace) -> None:
        if oid is None:
            # A program sharing the connection placed an order: it exists from the moment it
            # left, even if IB rejects it before ever giving it a permId.
            ref = sent.order_ref if is_client_order_id(sent.order_ref) else None
            # Only an order without a client order id is named by when it was sent.
            sent_as = None
            if not ref:
                sent_as = f"{key.client_id}:{key.order_id}@{self.trail.clock().isoformat()}"
            oid = self.trail.observe(
                OrderObserved(
                    contract=sent.contract,
                    spec=sent.spec,
                    origin=Origin.API,
                    client_order_id=ref,
                    sent_as=sent_as,
                    parent_key=self._parent_key(key.client_id or 0, sent.parent_id),
                    provenance={"seen": "placeOrder leaving the client", **sent.unnamed},
                )
            )
            self.trail.bind_alias(key.client_id or 0, sent.order_id, oid)
            self.stats.discovered += 1
        state = self.trail.get(oid).state
        kind = RequestKind.MODIFY if state.requests or state.acknowledged else RequestKind.PLACE
        self._request(key, kind, sent.order_id, sent.spec)

    def _request(
        self, key: FactKey, kind: RequestKind, order_id: int, spec: OrderSpec | None
    ) -> None:
        cid = key.client_id or 0
        fact = OutboundRequest(kind=kind, client_id=cid, order_id=order_id, spec=spec)
        self._counted(self.trail.record(key, fact), "requests", f"{kind.value} sent")

    def _session(self, req_id: int, code: int, message: str, kind: RequestKind) -> None:
        fact = SessionError(code=code, message=f"{message} ({kind.value})", req_id=req_id,
                            client_id=self.client_id)  # fmt: skip
        self._counted(self.trail.record(None, fact), "session", message)

    def _parent_key(self, client_id: int, parent_id: int) -> str | None:
        if not parent_id:
            return None
        parent = self.trail.resolve(FactKey(client_id=client_id, order_id=parent_id))
        return None if parent is None else self.trail.get(parent).state.order_key

    def _errors_to_session_log(self) -> None:
        for waiting in self.trail.take_waiting(ErrorReport):
            e = waiting.fact
            assert isinstance(e, ErrorReport)
            fact = SessionError(
                code=e.code,
                message=e.message,
                req_id=waiting.key.order_id or -1,
                client_id=waiting.key.client_id or self.client_id,
                advanced_reject=e.advanced_reject,
                ts_event=e.ts_event,
            )
            filed = self.trail.record(None, fact, at=waiting.arrived)
            self._counted(filed, "session", f"session {e.code}")
