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
from decimal import Decimal
from typing import Any

from ib_async import IB, Contract
from ib_async import CommissionReport as IbCommissionReport
from ib_async import Execution as IbExecution
from ib_async import Order as IbOrder
from ib_async import OrderState as IbOrderState

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.ib.requests import RequestRecorder
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionReport,
    OpenOrderReport,
    OrderFact,
    OrderObserved,
    Origin,
    SessionError,
    StatusReport,
)
from ordertrail.domain.ib_errors import is_session_code
from ordertrail.domain.identity import is_client_order_id
from ordertrail.domain.money import is_unset, quantity
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)

HOOKED = ("openOrder", "completedOrder", "orderStatus", "execDetails", "commissionReport", "error")
SYNC_ENDS = ("openOrderEnd", "completedOrdersEnd", "execDetailsEnd")


# An openOrder's contract and order as domain values.
Terms = tuple[ContractRef, OrderSpec]


def converted(contract: Contract, order: IbOrder) -> Terms:
    cref = mapping.contract_ref(contract)
    return cref, mapping.order_spec(order, cref)


def origin_of(client_id: int, order_id: int) -> Origin:
    """TWS by hand: clientId 0 with orderId 0 (or negative, re-bound to an API client). Any
    other clientId is an API client's order, even when IB reports it with orderId 0 (completed
    orders after a restart)."""
    return Origin.MANUAL if client_id == 0 and order_id <= 0 else Origin.API


class IbRecorder(RequestRecorder):
    """Attach to a (connected or not yet connected) ``ib_async.IB``; detach to stop."""

    def __init__(self, ib: IB, trail: OrderTrail) -> None:
        super().__init__(ib, trail)
        self._originals: dict[str, Any] = {}
        # The contracts of executions waiting for their order, should it never show up.
        self._contracts: dict[str, ContractRef] = {}
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
            self._guarded(name, handler, *args)
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

    # ---- identity ----

    def _learn_order(
        self,
        contract: Contract,
        order: IbOrder,
        order_id: int,
        client_id: int,
        origin: Origin | None = None,
        then: Callable[[ContractRef], OrderFact] | None = None,
        terms: Terms | None = None,
    ) -> tuple[FactKey, bool]:
        """The order's key, the order observed if this store has never seen it; True when
        ``then`` (the rest of the message) was recorded with the new order. ``terms``: the
        message's contract and order converted already."""
        ref = order.orderRef or None
        perm = int(order.permId or 0) or None
        key = FactKey(order_ref=ref, perm_id=perm, client_id=client_id, order_id=order_id)
        oid = self.trail.resolve(key)
        recorded = False
        if oid is None:
            cref, spec = terms or converted(contract, order)
            unnamed = mapping.unnamed_terms(order)
            rest = then(cref) if then is not None else None
            oid = self.trail.observe(
                OrderObserved(
                    contract=cref,
                    spec=spec,
                    origin=origin or origin_of(client_id, order_id),
                    perm_id=perm,
                    client_order_id=ref if is_client_order_id(ref) else None,
                    parent_key=self._parent_key(client_id, order.parentId),
                    provenance=unnamed or None,
                ),
                rest,
            )
            recorded = rest is not None
            self.stats.discovered += 1
        if key.alias is not None:
            self.trail.bind_alias(client_id, order_id, oid)
        return key, recorded

    # ---- incoming ----

    def _on_openOrder(  # noqa: N802 - ib_async's callback name
        self, order_id: int, contract: Contract, order: IbOrder, state: IbOrderState
    ) -> None:
        self.record_open_order(order_id, contract, order, None)

    def record_open_order(
        self, order_id: int, contract: Contract, order: IbOrder, terms: Terms | None
    ) -> None:
        """An openOrder; ``terms``: its contract and order converted already (a replay
        converted them while checking the tape), or None."""
        if order.whatIf:
            return
        client_id = int(order.clientId)

        def report(cref: ContractRef) -> OpenOrderReport:
            # The order's terms depend on its contract only through whether it trades at
            # negative prices: the stored contract of a known order may be another's.
            same = (
                terms is not None and terms[0].allows_negative_prices == cref.allows_negative_prices
            )
            return OpenOrderReport(
                spec=terms[1] if same and terms is not None else mapping.order_spec(order, cref),
                perm_id=int(order.permId or 0) or None,
                client_id=client_id,
                order_id=order_id,
            )

        # An order seen first here is saved with what this openOrder says of it, in one
        # transaction: a kill between the two would leave it without its identifiers.
        key, recorded = self._learn_order(
            contract, order, order_id, client_id, then=report, terms=terms
        )
        if not recorded:
            cref = self.trail.get(self.trail.require(key)).state.contract
            recorded = bool(self.trail.record(key, report(cref)))
        if recorded:
            self._notify("open order")

    def _on_completedOrder(  # noqa: N802
        self, contract: Contract, order: IbOrder, state: IbOrderState
    ) -> None:
        # Completed orders come back after a restart with orderId 0 and no history: the
        # orderRef or permId finds the order, and its final status is recorded unless known.
        # IB may report totalQuantity 0 with a non-zero filledQuantity: the filled figure is
        # recorded as IB reported it, and the order shows the fills not yet seen.
        # completedOrder carries no clientId (neither IB's message nor ib_async's decoder has
        # one): who placed such an order is unknown, never assumed to be a person in TWS.
        key, _ = self._learn_order(contract, order, 0, 0, Origin.DISCOVERED)
        current = self.trail.get(self.trail.require(key)).state
        if current.status.value == state.status:
            self.stats.repeats += 1
            return
        filled = (
            None
            if is_unset(order.filledQuantity)
            else quantity(order.filledQuantity, "order.filledQuantity")
        )
        total = None if is_unset(order.totalQuantity) else Decimal(str(order.totalQuantity))
        remaining = None if filled is None or not total else max(total - filled, Decimal(0))
        fact = StatusReport(raw_status=state.status, filled=filled, remaining=remaining)
        self._counted(self.trail.record(key, fact), "statuses", f"status {state.status}")
        self._check_status("completedOrder", state.status, "permId", order.permId)

    def _check_status(self, message: str, status: str, id_name: str, id_value: int) -> None:
        # Runs for every orderStatus: the warning's text is made only for a status IB's API
        # does not list.
        if not mapping.known_status(status):
            self._warn(
                f"{message}: status={status!r} of {id_name} {id_value} is not one of IB's order "
                "statuses; recorded with an unknown_status anomaly"
            )

    def _on_orderStatus(  # noqa: N802
        self,
        order_id: int,
        status: str,
        filled: float,
        remaining: float,
        avg_fill_price: float,
        perm_id: int,
        parent_id: int,
        last_fill_price: float,
        client_id: int,
        why_held: str,
        mkt_cap_price: float = 0.0,
    ) -> None:
        n = mapping.status_numbers(
            filled, remaining, avg_fill_price, last_fill_price, mkt_cap_price
        )
        self.record_status(order_id, status, n, perm_id, client_id, why_held)

    # The three ``record_*`` methods take a message's values converted already (a replay
    # converted them while checking the tape, and does not again).

    def record_converted(self, what: str, entry: str, *args: Any) -> None:
        """``record_status``, ``record_execution`` or ``record_commission`` (``entry``) for
        the message ``what``, with its problems on record as a hook's are."""
        self._guarded(what, getattr(self, entry), *args)

    def record_status(
        self,
        order_id: int,
        status: str,
        n: mapping.StatusNumbers,
        perm_id: int,
        client_id: int,
        why_held: str,
    ) -> None:
        perm = int(perm_id) or None
        key = FactKey(perm_id=perm, client_id=int(client_id), order_id=order_id)
        # Positional, in the fact's field order (raw_status, filled, remaining, avg_fill_price,
        # last_fill_price, why_held, perm_id, mkt_cap_price): a frozen dataclass matches
        # keywords one by one, and this runs for every orderStatus.
        fact = StatusReport(
            status,
            n.filled,
            n.remaining,
            n.avg_fill_price,
            n.last_fill_price,
            why_held or "",
            perm,
            n.mkt_cap_price,
        )
        self._counted(self.trail.record(key, fact), "statuses", f"status {status}")
        self._check_status("orderStatus", status, "orderId", order_id)

    def _on_execDetails(  # noqa: N802
        self, req_id: int, contract: Contract, execution: IbExecution
    ) -> None:
        self.record_execution(contract, mapping.execution(execution))

    def record_execution(self, contract: Contract, x: Execution) -> None:
        key = FactKey(
            order_ref=x.order_ref or None,
            perm_id=x.perm_id or None,
            client_id=x.client_id,
            order_id=x.order_id,
        )
        result = self.trail.record(key, ExecutionReport(x))
        if result is None:
            self._contracts[x.base_id] = mapping.contract_ref(contract)
        self._counted(result, "executions", f"execution {x.exec_id}")

    def _on_commissionReport(self, report: IbCommissionReport) -> None:  # noqa: N802
        self.record_commission(mapping.commission(report))

    def record_commission(self, report: CommissionReport) -> None:
        result = self.trail.record(None, CommissionReported(report))
        if result is not None:
            self._counted(result, "commissions", "commission")

    def _on_error(self, req_id: int, code: int, message: str, advanced_reject: str = "") -> None:
        code = int(code)
        if req_id is None or req_id <= 0 or is_session_code(code) or req_id in self._unknown_ids:
            fact = SessionError(
                code=code,
                message=message,
                req_id=int(req_id if req_id is not None else -1),
                client_id=self.client_id,
                advanced_reject=advanced_reject or None,
            )
            self._counted(self.trail.record(None, fact), "session", f"session {code}")
            return
        # Errors are routed by (clientId, reqId) only: the reqId is the order id of the request
        # it answers, or the id of another request (reqExecutions, contract details).
        key = FactKey(client_id=self.client_id, order_id=req_id)
        error = ErrorReport(code=code, message=message, advanced_reject=advanced_reject or None)
        self._counted(self.trail.record(key, error), "errors", f"error {code}")

    # ---- end of a sync: what is still waiting ----

    def _on_openOrderEnd(self) -> None:  # noqa: N802
        pass

    def _on_completedOrdersEnd(self) -> None:  # noqa: N802
        pass

    def _on_execDetailsEnd(self, req_id: int) -> None:  # noqa: N802
        self.discover_orphans()

    def discover_orphans(self) -> None:
        """Executions whose order IB never showed us (filled before this session, by another
        client): record them on an order observed from the execution itself."""
        for waiting in self.trail.waiting:
            fact = waiting.fact
            if not isinstance(fact, ExecutionReport):
                continue
            x = fact.execution
            contract = self._contracts.pop(x.base_id, None)
            if contract is None or self.trail.resolve(waiting.key) is not None:
                continue
            self.trail.record(
                None,
                OrderObserved(
                    contract=contract,
                    spec=OrderSpec(
                        action=OrderAction.BUY if x.side is Side.BOUGHT else OrderAction.SELL,
                        quantity=x.cum_qty or x.shares,
                        order_type=OrderType.MARKET,
                        account=x.account,
                        observed=True,
                    ),
                    origin=origin_of(x.client_id or 0, x.order_id or 0),
                    perm_id=x.perm_id or None,
                    client_order_id=x.order_ref if is_client_order_id(x.order_ref) else None,
                    provenance={
                        "inferred": "order never reported; quantity from the execution's cumQty",
                        "exec_id": x.exec_id,
                    },
                ),
            )
            self.stats.discovered += 1
