"""How the recorder comes to know an order: from the first message that names it (an
openOrder, a completedOrder), or, at the end of a sync, from an execution whose order IB
never showed."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ib_async import IB

from ordertrail.adapters.ib.opened import OpenOrder
from ordertrail.adapters.ib.requests import RequestRecorder
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import ExecutionReport, OrderFact, OrderObserved, Origin
from ordertrail.domain.identity import is_client_order_id
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType, Side


def origin_of(client_id: int, order_id: int) -> Origin:
    """TWS by hand: clientId 0 with orderId 0 (or negative, re-bound to an API client). Any
    other clientId is an API client's order, even when IB reports it with orderId 0 (completed
    orders after a restart)."""
    return Origin.MANUAL if client_id == 0 and order_id <= 0 else Origin.API


class OrderLearning(RequestRecorder):
    def __init__(self, ib: IB, trail: OrderTrail) -> None:
        super().__init__(ib, trail)
        # The contracts of executions waiting for their order, should it never show up.
        self._contracts: dict[str, ContractRef] = {}

    def _learn_order(
        self,
        seen: OpenOrder,
        origin: Origin | None = None,
        then: Callable[[ContractRef, OrderSpec], OrderFact] | None = None,
    ) -> tuple[FactKey, UUID, bool]:
        """The order's key and id, the order observed if this store has never seen it; True
        when ``then`` (the rest of the message, given the order's contract and terms) was
        recorded with the new order."""
        ref, client_id, order_id = seen.order_ref, seen.client_id, seen.order_id
        key = FactKey(ref, seen.perm_id, client_id, order_id)
        oid = self.trail.resolve(key)
        recorded = False
        if oid is None:
            cref, spec, unnamed = seen.new_order_terms()
            rest = then(cref, spec) if then is not None else None
            oid = self.trail.observe(
                OrderObserved(
                    contract=cref,
                    spec=spec,
                    origin=origin or origin_of(client_id, order_id),
                    perm_id=seen.perm_id,
                    client_order_id=ref if is_client_order_id(ref) else None,
                    parent_key=self._parent_key(client_id, seen.parent_id),
                    provenance=unnamed,
                ),
                rest,
            )
            recorded = rest is not None
            self.stats.discovered += 1
        if key.alias is not None:
            self.trail.bind_alias(client_id, order_id, oid)
        return key, oid, recorded

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
