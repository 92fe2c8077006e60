"""The BrokerGateway port: where an approved order leaves for a broker.

Adapters: IB through ib_async (also what talks to the TWS simulator) and dry run: one gateway
per venue, and nothing else in the package sends an order. Every method that sends an order or
changes one takes the RiskGate's ``Approval`` for exactly the ticket's contract and terms, calls
``require_approval`` once before anything else, and then sends exactly the ticket; cancelling
needs none (it only ever reduces risk, and must work with the kill switch engaged).

The order is recorded (status New) by the caller before the gateway is called; the gateway
records the submission before it sends, so a failure after that leaves a PendingSubmit order
that the broker's facts will resolve, never a lost one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ordertrail.domain.errors import OrdertrailError
from ordertrail.domain.risk import Approval
from ordertrail.domain.values import ContractRef, OrderSpec


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """One recorded order, as a gateway needs it to send it."""

    client_order_id: str
    contract: ContractRef
    spec: OrderSpec
    parent_client_order_id: str | None = None
    # A close: the RiskGate refuses it unless it makes the known position smaller.
    reduce_only: bool = False


class BrokerError(OrdertrailError):
    """The broker (or the way to it) failed a request. The message says what and why."""


class BrokerUnavailable(BrokerError):
    """No connection to the broker: nothing was sent."""


class BrokerGateway(Protocol):
    @property
    def dry_run(self) -> bool:
        """True when nothing reaches a real broker (orders carry ``DRY_`` ids)."""
        ...

    async def qualify(self, contract: ContractRef) -> ContractRef:
        """The venue's one contract for ``contract`` (its conId resolved), so that positions
        never split by how an order was typed; ``BrokerError`` when none or several match."""
        ...

    def place(self, ticket: OrderTicket, approval: Approval) -> None: ...

    def bracket(
        self,
        legs: tuple[OrderTicket, OrderTicket, OrderTicket],
        approvals: tuple[Approval, Approval, Approval],
    ) -> None:
        """Parent, take-profit, stop-loss: sent in that order, only the last transmitting."""
        ...

    def modify(self, ticket: OrderTicket, approval: Approval) -> None:
        """New terms (``ticket.spec``) for a working order."""
        ...

    def cancel(self, client_order_id: str) -> None: ...

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        """Return once the broker has answered for each order, or its wait ran out."""
        ...


__all__ = ["BrokerError", "BrokerGateway", "BrokerUnavailable", "OrderTicket"]
