"""The trail's commands: what the execution layer asks of an order before IB hears of it.

Mixed into ``OrderTrail`` (``service.py``), whose loading, saving and batch they use; a command
that the order's state does not allow raises ``CommandRefused`` and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.order import Order
from ordertrail.domain.values import ContractRef, OrderSpec

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)


class Commands:
    """Mixed into ``OrderTrail``. The attributes are the service's."""

    clock: Callable[[], datetime]
    _aliases: dict[tuple[int, int], UUID]

    if TYPE_CHECKING:

        def exists(self, aggregate_id: UUID) -> bool: ...

        def get(self, aggregate_id: UUID) -> Order: ...

        def _change(self, aggregate_id: UUID, decide: Callable[..., T], *args: Any) -> T: ...

        def _create(self, aggregate: A) -> bool: ...

    def place(
        self,
        *,
        client_order_id: str,
        contract: ContractRef,
        spec: OrderSpec,
        parent_key: str | None = None,
        group_id: str | None = None,
    ) -> UUID:
        order = Order.place(
            client_order_id=client_order_id,
            contract=contract,
            spec=spec,
            ts_recorded=self.clock(),
            parent_key=parent_key,
            group_id=group_id,
        )
        # The client order id is the order's durable identity (IB echoes it in orderRef): a
        # second order under it would merge two orders' facts, so the command is refused.
        if self.exists(order.id):
            raise CommandRefused(
                "place", self.get(order.id).state.status.value, f"{client_order_id} is taken"
            )
        if not self._create(order):
            raise CommandRefused("place", "unknown", f"{client_order_id} is taken")
        return order.id

    def submit(self, oid: UUID, *, client_id: int, order_id: int, mode: str | None = None) -> None:
        """``mode``: the trading mode the approval was given in (paper, live, dry_run)."""
        self._change(
            oid,
            lambda o: o.submit(
                client_id=client_id, order_id=order_id, ts_recorded=self.clock(), mode=mode
            ),
        )
        self._aliases[(client_id, order_id)] = oid

    def deny(self, oid: UUID, *, rule: str, reason: str) -> None:
        self._change(oid, lambda o: o.deny(rule=rule, reason=reason, ts_recorded=self.clock()))

    def request_cancel(self, oid: UUID) -> None:
        self._change(oid, lambda o: o.request_cancel(ts_recorded=self.clock()))

    def request_modify(self, oid: UUID, spec: OrderSpec) -> None:
        self._change(oid, lambda o: o.request_modify(spec, ts_recorded=self.clock()))
