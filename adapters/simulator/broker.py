"""The simulated broker: order lifecycle, fills and who hears about them.

Requests from connected clients and calls from the control API both end up here. Every broker
fact is sent the way TWS sends it: statuses only to the owning client (manual orders to client
0), commission reports to every client (they carry no clientId), positions to every client that
subscribed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from . import cancels
from . import messages as msg
from .activity import activity
from .contracts import NO_DEFINITION, ambiguous_text, resolve
from .error_texts import text_for
from .executions import SimExecution, exec_id_for, wire_order_id
from .order_messages import open_order
from .orders import OrderBook, SimOrder, Status, fill_price, resting_status, stop_reached
from .positions import PositionBook
from .scenario import Behaviour, BehaviourKind, CommissionTiming, Scenario
from .session import Session
from .snapshots import portfolio_message
from .tickets import OrderTicket, apply_modification

log = logging.getLogger("ordertrail.simulator")

NO_AUTO_FILL = frozenset({BehaviourKind.STUCK, BehaviourKind.REST, BehaviourKind.INACTIVE})


class Broker:
    def __init__(self, scenario: Scenario, clock: Callable[[], datetime]) -> None:
        self.scenario = scenario
        self.clock = clock
        self.book = OrderBook(scenario.first_perm_id)
        self.positions = PositionBook()
        self.executions: list[SimExecution] = []
        self.sessions: list[Session] = []
        self.held_reports: dict[str, SimExecution] = {}
        self.silent_reports: set[str] = set()
        self._exec_seq = 0
        self._manual_only: set[int] = set()  # permIds that must never fill automatically
        # (code, text, inactive) for the next new orders: rejected before any acknowledgement.
        self.next_rejections: list[tuple[int, str | None, bool]] = []

    # ----------------------------------------------------------------- routing
    def audience(self, order: SimOrder) -> list[Session]:
        owner = 0 if order.manual else order.client_id
        return [s for s in self.sessions if s.ready and s.client_id == owner]

    def send_open_order(self, order: SimOrder) -> None:
        for s in self.audience(order):
            s.send(open_order(s.server_version, order))
            s.known_perm_ids.add(order.perm_id)

    def send_status(self, order: SimOrder) -> None:
        for s in self.audience(order):
            if order.perm_id not in s.known_perm_ids:
                s.send(open_order(s.server_version, order))
                s.known_perm_ids.add(order.perm_id)
            s.send(msg.order_status(order))

    def announce(self, order: SimOrder) -> None:
        """openOrder then orderStatus: how TWS acknowledges an order or a modification."""
        order.announced = True
        self.send_open_order(order)
        self.send_status(order)

    def send_error(self, order: SimOrder, code: int, text: str | None = None) -> None:
        # Errors are addressed by orderId only: a manual order's errors reach no one useful.
        for s in self.audience(order):
            s.send(msg.error(s.server_version, order.order_id, code, text or text_for(code)))

    def broadcast_commission(self, ex: SimExecution) -> None:
        for s in self.sessions:
            if s.ready:
                s.send(msg.commission_report(ex))

    def next_valid_id(self, client_id: int) -> int:
        return max(self.scenario.next_order_id, self.book.max_order_id(client_id) + 1)

    # ------------------------------------------------------------ order entry
    def place_order(self, session: Session, ticket: OrderTicket) -> None:
        assert session.client_id is not None
        existing = self.book.get(session.client_id, ticket.order_id)
        if existing is not None:
            activity.info(
                "client %s modifies order %s: %s %s %s %s",
                session.client_id, ticket.order_id, ticket.action, ticket.total_quantity,
                ticket.order_type, ticket.lmt_price or "",
            )  # fmt: skip
            self._modify(existing, ticket)
            return
        activity.info(
            "client %s places order %s: %s %s %s %s %s",
            session.client_id, ticket.order_id, ticket.action, ticket.total_quantity,
            ticket.symbol, ticket.order_type, ticket.lmt_price or "",
        )  # fmt: skip
        if ticket.order_id <= self.book.max_order_id(session.client_id):
            # TWS refuses ids at or below the highest one this client id has used.
            session.send(msg.error(session.server_version, ticket.order_id, 103, text_for(103)))
            return
        if not ticket.account:
            # TWS books an order without an account to the (first) managed account.
            ticket.raw["account"] = self.scenario.accounts[0]
        order = SimOrder(
            ticket=ticket,
            client_id=session.client_id,
            order_id=ticket.order_id,
            perm_id=self.book.next_perm_id(),
            placed_at=self.clock(),
        )
        self.book.add(order)
        session.known_perm_ids.add(order.perm_id)
        behaviour = self.scenario.behaviour_for(ticket.order_ref)
        if behaviour is not None:
            order.completed_total_quantity = behaviour.completed_total_quantity
        if self.next_rejections:
            cancels.reject(self, order, *self.next_rejections.pop(0))
            return
        refused = self._qualify(ticket)
        if refused is not None:
            cancels.reject(self, order, 200, refused, inactive=False)
            return
        if ticket.transmit:
            self._transmit_with_family(order)

    def _qualify(self, ticket: OrderTicket) -> str | None:
        """Resolve the contract as TWS does and echo it back filled in; or say why not."""
        if not self.scenario.contracts:
            return None  # a scenario without a contract list accepts any contract
        found = resolve(self.scenario.contracts, ticket.raw)
        if len(found) != 1:
            return NO_DEFINITION if not found else ambiguous_text(ticket.symbol)
        ticket.raw.update(found[0].contract_fields())
        return None

    def place_manual(self, ticket: OrderTicket) -> SimOrder:
        """An order typed into TWS by hand: orderId 0 and clientId 0, unless client 0 binds it."""
        order = SimOrder(
            ticket=ticket,
            client_id=0,
            order_id=0,
            perm_id=self.book.next_perm_id(),
            placed_at=self.clock(),
            manual=True,
        )
        self.book.add(order)
        binders = [s for s in self.sessions if s.ready and s.client_id == 0 and s.auto_bind]
        if binders:
            self.book.rekey(order, self.book.next_bound_order_id())
            for s in binders:
                s.send(msg.order_bound(order.perm_id, 0, order.order_id))
        self.transmit(order)
        return order

    def _modify(self, order: SimOrder, ticket: OrderTicket) -> None:
        if order.status == Status.FILLED:
            self.send_error(order, 104)
            return
        if order.closed:
            self.send_error(order, 103)
            return
        refusal = self._modify_refusal(order) if order.transmitted else None
        if refusal is not None:
            # IB refuses the modify with an error for the order id and keeps the old terms.
            self.send_error(order, *refusal)
            return
        if not ticket.account:
            ticket.raw["account"] = order.ticket.account
        self._qualify(ticket)
        apply_modification(order.ticket, ticket)
        if not order.transmitted:
            if ticket.transmit:
                self._transmit_with_family(order)
            return
        if order.status in (Status.SUBMITTED, Status.PRE_SUBMITTED):
            order.status = resting_status(order, self.book.parent_of(order))
        self.announce(order)
        self.try_fill(order)

    def _modify_refusal(self, order: SimOrder) -> tuple[int, str | None] | None:
        if order.refused_modifications:
            code, text = order.refused_modifications.pop(0)
            return code, text or None
        behaviour = self.scenario.behaviour_for(order.ticket.order_ref)
        if behaviour is not None and behaviour.refuse_modify is not None:
            return behaviour.refuse_modify, behaviour.refuse_modify_text or None
        return None

    def _transmit_with_family(self, order: SimOrder) -> None:
        # IB's bracket idiom: parent and first children with transmit=False, the last child
        # with transmit=True sends the whole family; the parent goes first.
        parent = self.book.parent_of(order)
        root = parent if parent is not None and not parent.transmitted else order
        family = [root, *(c for c in self.book.children(root) if not c.transmitted)]
        if order not in family:
            family.append(order)
        for member in family:
            if root.closed and member is not root:
                continue  # a rejected parent leaves its children unsent
            self.transmit(member)

    def transmit(self, order: SimOrder) -> None:
        order.transmitted = True
        behaviour = self.scenario.behaviour_for(order.ticket.order_ref)
        if behaviour is not None and behaviour.kind in NO_AUTO_FILL:
            self._manual_only.add(order.perm_id)
        if behaviour is not None and behaviour.kind == BehaviourKind.STUCK:
            return  # PendingSubmit forever: TWS never says a word
        if behaviour is not None and behaviour.kind == BehaviourKind.REJECT:
            cancels.reject(self, order, behaviour.code, behaviour.text or None, behaviour.inactive)
            return
        if behaviour is not None and behaviour.kind == BehaviourKind.INACTIVE:
            order.status = Status.INACTIVE
            order.why_held = behaviour.why_held
            self.announce(order)
            return
        order.status = resting_status(order, self.book.parent_of(order))
        self.announce(order)
        if behaviour is not None and behaviour.kind == BehaviourKind.FILLS:
            self._scripted_fills(order, behaviour)
        else:
            self.try_fill(order)

    def _scripted_fills(self, order: SimOrder, behaviour: Behaviour) -> None:
        self._manual_only.add(order.perm_id)
        for step in behaviour.fills:
            price = step.price or self.market_price(order) or order.ticket.lmt_price
            if price is None or not order.is_working:
                break
            self.execute(order, step.qty, price, timing=behaviour.commission_timing)

    # ---------------------------------------------------------------- fills
    def market_price(self, order: SimOrder) -> Decimal | None:
        return self.scenario.price_for(order.ticket.con_id, order.ticket.symbol)

    def try_fill(self, order: SimOrder) -> None:
        if not (self.scenario.auto_fill and order.is_working and order.announced):
            return
        if order.perm_id in self._manual_only or order.ticket.outside_rth:
            return
        if order.status not in (Status.SUBMITTED, Status.PRE_SUBMITTED):
            return
        parent = self.book.parent_of(order)
        if parent is not None and parent.status != Status.FILLED:
            return
        market = self.market_price(order)
        if market is not None and not order.stop_triggered and stop_reached(order, market):
            order.stop_triggered = True
        price = fill_price(order, market)
        if price is None:
            wanted = resting_status(order, parent)
            if wanted != order.status:
                order.status = wanted
                self.send_status(order)
            return
        self.execute(order, order.remaining, price, liquidity=2)

    def reprice(self) -> None:
        """Re-evaluate every working order after a price change (stops may trigger)."""
        for order in self.book:
            self.try_fill(order)

    def execute(
        self,
        order: SimOrder,
        qty: Decimal,
        price: Decimal,
        *,
        commission: Decimal | None = None,
        timing: CommissionTiming = CommissionTiming.WITH,
        send_status: bool = True,
        liquidity: int = 1,
    ) -> SimExecution:
        """Fill ``qty`` of ``order`` at ``price`` and tell the clients, in TWS's order."""
        qty = min(qty, order.remaining)
        if qty <= 0:
            raise ValueError(f"order {order.order_id} (permId {order.perm_id}) has nothing left")
        order.record_fill(qty, price)
        signed = qty if order.ticket.is_buy else -qty
        position, realized = self.positions.apply_fill(
            order.ticket.account, order.ticket.raw, signed, price
        )
        fee = self.scenario.commission_for(qty) if commission is None else commission
        self._exec_seq += 1
        ex = SimExecution(
            exec_id=exec_id_for(order.perm_id, self._exec_seq),
            order=order,
            order_id=wire_order_id(order),
            client_id=order.client_id,
            time=self.clock(),
            shares=qty,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            exchange=_execution_exchange(order.ticket),
            last_liquidity=liquidity,
            commission=fee,
            currency=order.ticket.text("currency") or self.scenario.currency,
            realized_pnl=None if realized is None else realized - fee,
        )
        self.executions.append(ex)
        order.exec_ids.append(ex.exec_id)
        if order.remaining == 0:
            order.status = Status.FILLED
            self.complete(order, "Filled")
        if timing == CommissionTiming.EARLY:
            self.broadcast_commission(ex)
        self.send_execution(ex)
        if timing == CommissionTiming.WITH:
            self.broadcast_commission(ex)
        if send_status:
            self.send_status(order)
            if order.status == Status.FILLED:
                self.send_open_order(order)  # TWS re-sends openOrder with the final state
        if timing == CommissionTiming.LATE:
            self.broadcast_commission(ex)
        elif timing == CommissionTiming.HELD:
            self.held_reports[ex.exec_id] = ex
        elif timing == CommissionTiming.NEVER:
            self.silent_reports.add(ex.exec_id)
        self._publish_position(position.account)
        self._after_fill(order, qty)
        return ex

    def send_execution(self, ex: SimExecution) -> None:
        for s in self.audience(ex.order):
            if ex.order.perm_id not in s.known_perm_ids:
                s.send(open_order(s.server_version, ex.order))
                s.known_perm_ids.add(ex.order.perm_id)
            s.send(msg.exec_details(s.server_version, -1, ex, self.scenario.tws_time_zone))

    def _after_fill(self, order: SimOrder, qty: Decimal) -> None:
        for sibling in self.book.oca_siblings(order):
            explicit = bool(order.ticket.oca_group) and order.ticket.oca_type == 1
            if explicit or sibling.remaining <= qty:
                cancels.cancel(self, sibling, reason="OCA")
            else:
                # OCA types 2 and 3 (and bracket legs) reduce the others by the filled quantity.
                new_total = sibling.ticket.total_quantity - qty
                sibling.ticket.raw["totalQuantity"] = str(new_total)
                self.announce(sibling)
        if order.status == Status.FILLED:
            for child in self.book.children(order):
                if child.is_working and child.announced:
                    wanted = resting_status(child, order)
                    if wanted != child.status:
                        child.status = wanted
                        self.send_status(child)
                    self.try_fill(child)

    def send_session_message(
        self, code: int, text: str | None, req_id: int = -1, client_id: int | None = None
    ) -> None:
        """An error not answering any request: to ``client_id``'s connections, or to all."""
        for s in self.sessions:
            if s.ready and client_id in (None, s.client_id):
                s.send(msg.error(s.server_version, req_id, code, text or text_for(code)))

    def complete(self, order: SimOrder, status_text: str) -> None:
        order.closed = True
        order.completed_at = self.clock()
        order.completed_status = status_text

    def _publish_position(self, account: str) -> None:
        for s in self.sessions:
            if not s.ready:
                continue
            for pos in self.positions.for_account(account):
                if s.positions_subscribed:
                    s.send(msg.position(account, pos.contract, pos.quantity, pos.avg_cost))
                if s.account_subscription == account:
                    s.send(portfolio_message(self.scenario, pos))


def _execution_exchange(ticket: OrderTicket) -> str:
    exchange = ticket.text("exchange")
    # SMART is a router, not a venue: real executions name the venue that filled.
    return "ISLAND" if exchange in ("", "SMART") else exchange
