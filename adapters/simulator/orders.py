"""The simulator's order book and fill model.

Fill model (also in docs/simulator.md):

* A scenario gives a price per conId or symbol. Without a price an order rests.
* MKT fills its whole remaining quantity at the price. A LMT is marketable when the price is at
  or better than the limit (BUY: price <= limit, SELL: price >= limit) and then fills at the
  price, i.e. at the limit or better. A STP (STP LMT) triggers when the price reaches the stop
  (BUY: price >= stop, SELL: price <= stop) and then behaves like MKT (LMT at its limit).
  Other order types rest until the control API fills them.
* Untriggered stops and ``outsideRth`` orders are reported PreSubmitted (IB holds them at its
  own servers until they may go to the exchange) and are never filled automatically.
* Children of a parent that has not filled yet are PreSubmitted and wait; once the parent is
  filled they are evaluated like any order.
* Partial fills happen only through the control API or a scenario behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .tickets import OrderTicket


class Status(StrEnum):
    """Order statuses as TWS spells them on the wire."""

    PENDING_SUBMIT = "PendingSubmit"
    PENDING_CANCEL = "PendingCancel"
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    API_CANCELLED = "ApiCancelled"
    CANCELLED = "Cancelled"
    FILLED = "Filled"
    INACTIVE = "Inactive"


DONE = frozenset({Status.FILLED, Status.CANCELLED, Status.API_CANCELLED})
STOP_TYPES = frozenset({"STP", "STP LMT", "TRAIL", "TRAIL LIMIT"})


@dataclass(slots=True, eq=False)
class SimOrder:
    """One order at the simulated broker. ``client_id`` 0 with ``manual`` is a TWS-entered one."""

    ticket: OrderTicket
    client_id: int
    order_id: int
    perm_id: int
    placed_at: datetime
    manual: bool = False
    status: Status = Status.PENDING_SUBMIT
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    why_held: str = ""
    transmitted: bool = False
    # False while the broker has said nothing about the order (held, or a stuck PendingSubmit).
    announced: bool = False
    # True once the order can no longer trade: done, or rejected into Inactive.
    closed: bool = False
    stop_triggered: bool = False
    defer_cancel: bool = False
    # Set: the quantity completedOrder reports instead of the order's (IB sends 0 at times).
    completed_total_quantity: Decimal | None = None
    # Set: the next modification is refused with this (code, text) and the order keeps its terms.
    refused_modifications: list[tuple[int, str]] = field(default_factory=list)
    completed_at: datetime | None = None
    completed_status: str = ""
    exec_ids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return max(self.ticket.total_quantity - self.filled, Decimal(0))

    @property
    def is_working(self) -> bool:
        return self.transmitted and not self.closed and self.remaining > 0

    def record_fill(self, qty: Decimal, price: Decimal) -> None:
        total = self.avg_fill_price * self.filled + price * qty
        self.filled += qty
        self.avg_fill_price = total / self.filled if self.filled else Decimal(0)
        self.last_fill_price = price


def is_stop(order: SimOrder) -> bool:
    return order.ticket.order_type in STOP_TYPES


def stop_reached(order: SimOrder, market: Decimal) -> bool:
    stop = order.ticket.aux_price
    if stop is None:
        return False
    return market >= stop if order.ticket.is_buy else market <= stop


def fill_price(order: SimOrder, market: Decimal | None) -> Decimal | None:
    """The price a working order would fill at now, or None if it rests."""
    if market is None:
        return None
    kind = order.ticket.order_type
    if kind in STOP_TYPES:
        if not (order.stop_triggered or stop_reached(order, market)):
            return None
        kind = "LMT" if kind in ("STP LMT", "TRAIL LIMIT") else "MKT"
    if kind == "MKT":
        return market
    if kind == "LMT":
        limit = order.ticket.lmt_price
        if limit is None:
            return None
        marketable = market <= limit if order.ticket.is_buy else market >= limit
        return market if marketable else None
    return None


def resting_status(order: SimOrder, parent: SimOrder | None) -> Status:
    """What TWS reports for a newly transmitted order that did not fill at once."""
    waits_for_parent = parent is not None and parent.status != Status.FILLED
    if waits_for_parent or order.ticket.outside_rth:
        return Status.PRE_SUBMITTED
    if is_stop(order) and not order.stop_triggered:
        return Status.PRE_SUBMITTED
    return Status.SUBMITTED


class OrderBook:
    """All orders of the session, by (clientId, orderId) and by permId."""

    def __init__(self, first_perm_id: int) -> None:
        self._by_key: dict[tuple[int, int], SimOrder] = {}
        self._by_perm: dict[int, SimOrder] = {}
        self._next_perm_id = first_perm_id
        self._next_bound_id = -1

    def next_perm_id(self) -> int:
        perm_id = self._next_perm_id
        self._next_perm_id += 1
        return perm_id

    def next_bound_order_id(self) -> int:
        # TWS gives manual orders bound to client 0 negative ids, counting down.
        order_id = self._next_bound_id
        self._next_bound_id -= 1
        return order_id

    def add(self, order: SimOrder) -> None:
        if not order.manual:
            self._by_key[(order.client_id, order.order_id)] = order
        self._by_perm[order.perm_id] = order

    def rekey(self, order: SimOrder, order_id: int) -> None:
        self._by_key.pop((order.client_id, order.order_id), None)
        order.order_id = order_id
        self._by_key[(order.client_id, order_id)] = order

    def get(self, client_id: int, order_id: int) -> SimOrder | None:
        return self._by_key.get((client_id, order_id))

    def by_perm_id(self, perm_id: int) -> SimOrder | None:
        return self._by_perm.get(perm_id)

    def __iter__(self) -> Iterator[SimOrder]:
        return iter(list(self._by_perm.values()))

    def max_order_id(self, client_id: int) -> int:
        ids = [oid for (cid, oid) in self._by_key if cid == client_id]
        return max(ids, default=0)

    def children(self, parent: SimOrder) -> list[SimOrder]:
        return [
            o
            for o in self
            if o.client_id == parent.client_id
            and o.ticket.parent_id == parent.order_id
            and o is not parent
        ]

    def parent_of(self, order: SimOrder) -> SimOrder | None:
        if not order.ticket.parent_id:
            return None
        return self.get(order.client_id, order.ticket.parent_id)

    def oca_siblings(self, order: SimOrder) -> list[SimOrder]:
        """Orders cancelled or reduced when ``order`` fills.

        An explicit ocaGroup links orders of the same account; children of one parent (a
        bracket's take-profit and stop-loss) are linked implicitly, as TWS does.
        """
        group = order.ticket.oca_group
        parent_id = order.ticket.parent_id
        siblings = []
        for other in self:
            if other is order or not other.is_working:
                continue
            same_group = bool(group) and other.ticket.oca_group == group
            same_group = same_group and other.ticket.account == order.ticket.account
            same_parent = bool(parent_id) and (
                other.client_id == order.client_id and other.ticket.parent_id == parent_id
            )
            if same_group or same_parent:
                siblings.append(other)
        return siblings
