"""Records what IB says, as facts, from ib_async's raw callbacks.

The recorder hooks the ib_async ``Wrapper`` callbacks the decoder calls for each message
(openOrder, completedOrder, orderStatus, execDetails, commissionReport, error) and sees them
*before* ib_async's own bookkeeping, so it records what IB sent and nothing ib_async invents:

* ib_async marks a Trade ``Cancelled`` on any non-warning error for a live order id (10349,
  404, 110 on a modify do not cancel anything) and sets ``ValidationError`` on warnings; here
  the error is recorded as the error it is and the domain decides what it means;
* ib_async drops an orderStatus identical to the previous one and fires no fill event for
  executions returned by ``reqExecutions``; here every message reaches the domain, which is
  idempotent, so a reconnect's open orders, completed orders and executions reconcile the store
  without a separate code path;
* commission reports for other clients' executions arrive too; they are held until their
  execution is known, and otherwise ignored without error.

Facts about an order not yet known (execDetails or orderStatus before its openOrder) are held
and recorded as soon as the order is learned; executions whose order never shows up by the end
of a sync are recorded on an order discovered from the execution itself (quantity from cumQty,
flagged in its provenance).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from ib_async import IB, Contract
from ib_async import CommissionReport as IbCommissionReport
from ib_async import Execution as IbExecution
from ib_async import Order as IbOrder
from ib_async import OrderState as IbOrderState

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.errors import OrdertrailError
from ordertrail.domain.identity import is_client_order_id
from ordertrail.domain.money import is_unset, quantity
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType, Side

log = logging.getLogger("ordertrail.ib")

HOOKED = ("openOrder", "completedOrder", "orderStatus", "execDetails", "commissionReport", "error")
SYNC_ENDS = ("openOrderEnd", "completedOrdersEnd", "execDetailsEnd")


@dataclass(slots=True)
class RecorderStats:
    statuses: int = 0
    executions: int = 0
    commissions: int = 0
    errors: int = 0
    discovered: int = 0
    repeats: int = 0
    held: int = 0
    problems: list[str] = field(default_factory=list)  # facts that could not be recorded
    warnings: list[str] = field(default_factory=list)  # recorded, but not what IB documents

    def as_dict(self) -> dict[str, int]:
        return {
            "statuses": self.statuses,
            "executions": self.executions,
            "commissions": self.commissions,
            "errors": self.errors,
            "discovered": self.discovered,
            "repeats": self.repeats,
            "held": self.held,
            "problems": len(self.problems),
            "warnings": len(self.warnings),
        }


@dataclass(slots=True)
class _Held:
    key: FactKey
    record: Callable[[], None]
    execution: IbExecution | None = None
    contract: Contract | None = None


class IbRecorder:
    """Attach to a (connected or not yet connected) ``ib_async.IB``; detach to stop."""

    def __init__(self, ib: IB, trail: OrderTrail) -> None:
        self.ib = ib
        self.trail = trail
        self.stats = RecorderStats()
        self._originals: dict[str, Any] = {}
        self._held: list[_Held] = []
        self.listeners: list[Callable[[str], None]] = []

    # ---- wiring ----

    def attach(self) -> IbRecorder:
        wrapper = self.ib.wrapper
        for name in (*HOOKED, *SYNC_ENDS):
            original = getattr(wrapper, name)
            self._originals[name] = original
            setattr(wrapper, name, self._hooked(name, original))
        self.ib.disconnectedEvent += self._on_disconnected
        return self

    def detach(self) -> None:
        for name, original in self._originals.items():
            setattr(self.ib.wrapper, name, original)
        self._originals.clear()
        self.ib.disconnectedEvent -= self._on_disconnected

    def _hooked(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        handler = getattr(self, f"_on_{name}")

        def hooked(*args: Any) -> Any:
            # Ours first: ib_async mutates what it is given (an unset realizedPNL becomes 0.0,
            # an unset execution orderId becomes 0).
            try:
                handler(*args)
            except (OrdertrailError, ValueError, LookupError) as e:
                self._problem(f"{name}: {e}")
            return original(*args)

        return hooked

    def _problem(self, text: str) -> None:
        self.stats.problems.append(text)
        log.error("could not record %s", text)

    def _warn(self, text: str) -> None:
        self.stats.warnings.append(text)
        log.warning("%s", text)

    def _notify(self, what: str) -> None:
        for listener in self.listeners:
            listener(what)

    def _on_disconnected(self) -> None:
        # (clientId, orderId) is a session alias: IB reuses orderIds across sessions.
        self.trail.forget_aliases()

    # ---- identity ----

    def _learn_order(
        self, contract: Contract, order: IbOrder, order_id: int, client_id: int
    ) -> tuple[FactKey, UUID]:
        ref = order.orderRef or None
        perm = int(order.permId or 0) or None
        key = FactKey(order_ref=ref, perm_id=perm, client_id=client_id, order_id=order_id)
        oid = self.trail.resolve(key)
        if oid is None:
            cref = mapping.contract_ref(contract)
            parent_key = None
            if order.parentId:
                parent = self.trail.resolve(FactKey(client_id=client_id, order_id=order.parentId))
                if parent is not None:
                    parent_key = self.trail.get(parent).state.order_key
            oid = self.trail.discover(
                contract=cref,
                spec=mapping.order_spec(order, cref),
                perm_id=perm,
                client_order_id=ref if is_client_order_id(ref) else None,
                origin="manual" if order_id == 0 and client_id == 0 else "discovered",
                parent_key=parent_key,
            )
            self.stats.discovered += 1
        if key.alias is not None:
            self.trail.bind_alias(client_id, order_id, oid)
        return key, oid

    def _hold_or_record(self, key: FactKey, record: Callable[[], None], **extra: Any) -> None:
        if self.trail.resolve(key) is None:
            self._held.append(_Held(key, record, **extra))
            self.stats.held += 1
            return
        record()

    def _release_held(self) -> None:
        still: list[_Held] = []
        for held in self._held:
            if self.trail.resolve(held.key) is None:
                still.append(held)
            else:
                held.record()
        self._held = still

    # ---- callbacks ----

    def _on_openOrder(  # noqa: N802 - ib_async's callback name
        self, order_id: int, contract: Contract, order: IbOrder, state: IbOrderState
    ) -> None:
        if order.whatIf:
            return
        client_id = int(order.clientId)
        key, oid = self._learn_order(contract, order, order_id, client_id)
        cref = self.trail.get(oid).state.contract
        if self.trail.record_open_order(key, spec=mapping.order_spec(order, cref)):
            self._notify("open order")
        self._release_held()

    def _on_completedOrder(  # noqa: N802
        self, contract: Contract, order: IbOrder, state: IbOrderState
    ) -> None:
        # Completed orders come back after a restart with orderId 0 and no history: the
        # orderRef or permId finds the order, and its final status is recorded unless known.
        key, oid = self._learn_order(contract, order, 0, int(order.clientId))
        current = self.trail.get(oid).state
        if current.status.value == state.status:
            self.stats.repeats += 1
            return
        filled = (
            None
            if is_unset(order.filledQuantity)
            else quantity(order.filledQuantity, "order.filledQuantity")
        )
        total = quantity(order.totalQuantity, "order.totalQuantity")
        self.trail.record_status(
            key,
            raw_status=state.status,
            filled=filled,
            remaining=None if filled is None else max(total - filled, Decimal(0)),
            avg_fill_price=None,
        )
        self.stats.statuses += 1
        if not mapping.known_status(state.status):
            self._warn(
                f"completedOrder: status={state.status!r} of permId {order.permId} is not one "
                "of IB's order statuses; recorded with an unknown_status anomaly"
            )
        self._release_held()

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
        key = FactKey(perm_id=int(perm_id) or None, client_id=int(client_id), order_id=order_id)
        n = mapping.status_numbers(
            filled, remaining, avg_fill_price, last_fill_price, mkt_cap_price
        )

        def record() -> None:
            if self.trail.record_status(
                key,
                raw_status=status,
                filled=n.filled,
                remaining=n.remaining,
                avg_fill_price=n.avg_fill_price,
                last_fill_price=n.last_fill_price,
                why_held=why_held or "",
                mkt_cap_price=n.mkt_cap_price,
            ):
                self.stats.statuses += 1
                self._notify(f"status {status}")
                if not mapping.known_status(status):
                    self._warn(
                        f"orderStatus: status={status!r} of orderId {order_id} is not one of "
                        "IB's order statuses; recorded with an unknown_status anomaly"
                    )
            else:
                self.stats.repeats += 1

        self._hold_or_record(key, record)

    def _on_execDetails(  # noqa: N802
        self, req_id: int, contract: Contract, execution: IbExecution
    ) -> None:
        x = mapping.execution(execution)
        key = FactKey(
            order_ref=x.order_ref or None,
            perm_id=x.perm_id or None,
            client_id=x.client_id,
            order_id=x.order_id,
        )

        def record() -> None:
            if self.trail.record_execution(key, x):
                self.stats.executions += 1
                self._notify(f"execution {x.exec_id}")
            else:
                self.stats.repeats += 1

        self._hold_or_record(key, record, execution=execution, contract=contract)

    def _on_commissionReport(self, report: IbCommissionReport) -> None:  # noqa: N802
        result = self.trail.record_commission(mapping.commission(report))
        if result:
            self.stats.commissions += 1
        elif result is False:
            self.stats.repeats += 1

    def _on_error(self, req_id: int, code: int, message: str, advanced_reject: str = "") -> None:
        if req_id is None or req_id <= 0:
            return  # connectivity and farm messages: not about an order
        key = FactKey(client_id=self.ib.client.clientId, order_id=req_id)
        if self.trail.resolve(key) is None:
            return  # an error for a request (reqExecutions, contract details), not an order
        if self.trail.record_error(
            key, code=int(code), message=message, advanced_reject=advanced_reject or None
        ):
            self.stats.errors += 1
            self._notify(f"error {code}")

    # ---- end of a sync: record what is still held ----

    def _on_openOrderEnd(self) -> None:  # noqa: N802
        self._release_held()

    def _on_completedOrdersEnd(self) -> None:  # noqa: N802
        self._release_held()

    def _on_execDetailsEnd(self, req_id: int) -> None:  # noqa: N802
        self._release_held()
        self.discover_orphans()

    def discover_orphans(self) -> None:
        """Executions whose order IB never showed us (filled before this session, by another
        client): record them on an order discovered from the execution itself."""
        still: list[_Held] = []
        for held in self._held:
            if held.execution is None or held.contract is None:
                still.append(held)
                continue
            x = mapping.execution(held.execution)
            if self.trail.resolve(held.key) is None:
                cref: ContractRef = mapping.contract_ref(held.contract)
                self.trail.discover(
                    contract=cref,
                    spec=OrderSpec(
                        action=OrderAction.BUY if x.side is Side.BOUGHT else OrderAction.SELL,
                        quantity=x.cum_qty or x.shares,
                        order_type=OrderType.MARKET,
                        account=x.account,
                        observed=True,
                    ),
                    perm_id=x.perm_id or None,
                    client_order_id=x.order_ref if is_client_order_id(x.order_ref) else None,
                    provenance={
                        "inferred": "order never reported; quantity from the execution's cumQty",
                        "exec_id": x.exec_id,
                    },
                )
                self.stats.discovered += 1
            held.record()
        self._held = still
