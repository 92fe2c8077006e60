"""The simulated broker: order lifecycle, fills and who hears about them.

Requests from connected clients and calls from the control API both end up here. Every broker
fact is sent the way TWS sends it (see /work/shared/ib-facts.md): statuses only to the owning
client (manual orders to client 0), commission reports to every client (they carry no clientId),
positions to every client that subscribed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from . import messages as msg
from .executions import (
    ExecutionFilter,
    SimExecution,
    corrected_exec_id,
    exec_id_for,
    wire_order_id,
)
from .order_messages import completed_order, open_order
from .orders import DONE, OrderBook, SimOrder, Status, fill_price, resting_status, stop_reached
from .positions import Position, PositionBook
from .scenario import Behaviour, BehaviourKind, CommissionTiming, Scenario
from .session import Session
from .tickets import OrderTicket, apply_modification
from .wire import Field

log = logging.getLogger("ordertrail.simulator")

# TWS's texts, so that tests and users see what a real session shows.
TEXTS = {
    103: "Duplicate order id",
    104: "Can't modify a filled order",
    200: "No security definition has been found for the request",
    201: "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
    "POSITION YOUR EQUITY WITH LOAN VALUE [0.00 USD] MUST EXCEED THE INITIAL MARGIN",
    202: "Order Canceled - reason:",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
}
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
            s.send(msg.error(s.server_version, order.order_id, code, text or TEXTS.get(code, "")))

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
            self._modify(existing, ticket)
            return
        if ticket.order_id <= self.book.max_order_id(session.client_id):
            # TWS refuses ids at or below the highest one this client id has used.
            session.send(msg.error(session.server_version, ticket.order_id, 103, TEXTS[103]))
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
        if ticket.transmit:
            self._transmit_with_family(order)

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
        if not ticket.account:
            ticket.raw["account"] = order.ticket.account
        apply_modification(order.ticket, ticket)
        if not order.transmitted:
            if ticket.transmit:
                self._transmit_with_family(order)
            return
        if order.status in (Status.SUBMITTED, Status.PRE_SUBMITTED):
            order.status = resting_status(order, self.book.parent_of(order))
        self.announce(order)
        self.try_fill(order)

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
            self.reject(order, behaviour.code, behaviour.text or None, behaviour.inactive)
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
            self._complete(order, "Filled")
        if timing == CommissionTiming.EARLY:
            self.broadcast_commission(ex)
        self._send_execution(ex)
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

    def _send_execution(self, ex: SimExecution) -> None:
        for s in self.audience(ex.order):
            if ex.order.perm_id not in s.known_perm_ids:
                s.send(open_order(s.server_version, ex.order))
                s.known_perm_ids.add(ex.order.perm_id)
            s.send(msg.exec_details(s.server_version, -1, ex))

    def correct_execution(
        self, exec_id: str, price: Decimal | None, commission: Decimal | None
    ) -> SimExecution:
        """Re-send an execution under the next execId revision (…01.01 → …01.02)."""
        old = next((e for e in self.executions if e.exec_id == exec_id), None)
        if old is None:
            raise KeyError(f"no execution {exec_id}")
        new = SimExecution(
            exec_id=corrected_exec_id(exec_id),
            order=old.order,
            order_id=old.order_id,
            client_id=old.client_id,
            time=self.clock(),
            shares=old.shares,
            price=old.price if price is None else price,
            cum_qty=old.cum_qty,
            avg_price=old.avg_price if price is None else price,
            exchange=old.exchange,
            last_liquidity=old.last_liquidity,
            commission=old.commission if commission is None else commission,
            currency=old.currency,
            realized_pnl=old.realized_pnl,
        )
        old.corrected_by = new.exec_id
        self.executions.append(new)
        old.order.exec_ids.append(new.exec_id)
        self._send_execution(new)
        self.broadcast_commission(new)
        return new

    def _after_fill(self, order: SimOrder, qty: Decimal) -> None:
        for sibling in self.book.oca_siblings(order):
            explicit = bool(order.ticket.oca_group) and order.ticket.oca_type == 1
            if explicit or sibling.remaining <= qty:
                self.cancel(sibling, reason="OCA")
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

    # ------------------------------------------------------ cancels & rejects
    def cancel_request(self, session: Session, order_id: int) -> None:
        assert session.client_id is not None
        order = self.book.get(session.client_id, order_id)
        v = session.server_version
        if order is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            session.send(msg.error(v, order_id, 10147, text))
            return
        if order.status in DONE or (order.closed and order.status != Status.INACTIVE):
            text = (
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {order.status.value}."
            )
            session.send(msg.error(v, order_id, 10148, text))
            return
        if order.defer_cancel:
            order.status = Status.PENDING_CANCEL
            self.send_status(order)
            return
        self.cancel(order)

    def cancel(self, order: SimOrder, reason: str = "", notify: bool = True) -> None:
        """Cancel ``order`` and its unfilled children; Cancelled first, then error 202."""
        order.status = Status.CANCELLED
        self._complete(order, "Cancelled by Trader" if not reason else f"Cancelled: {reason}")
        if order.announced:
            self.send_status(order)
            if notify:
                self.send_error(order, 202, TEXTS[202] + reason)
        for child in self.book.children(order):
            if not child.closed:
                self.cancel(child, reason, notify)

    def confirm_cancel(self, order: SimOrder) -> None:
        order.defer_cancel = False
        if not order.closed:
            self.cancel(order)

    def reject(self, order: SimOrder, code: int, text: str | None, inactive: bool) -> None:
        order.closed = True
        self.send_error(order, code, text)
        if inactive:
            order.status = Status.INACTIVE
            self.announce(order)
        for child in self.book.children(order):
            child.closed = True  # children of a rejected parent are never sent

    def set_inactive(self, order: SimOrder, why_held: str) -> None:
        # Inactive with a whyHeld (e.g. "locate") is not final: the order may still fill.
        order.status = Status.INACTIVE
        order.why_held = why_held
        self.send_status(order)

    def global_cancel(self) -> None:
        for order in self.book:
            if order.is_working:
                self.cancel(order)

    def _complete(self, order: SimOrder, status_text: str) -> None:
        order.closed = True
        order.completed_at = self.clock()
        order.completed_status = status_text

    # ---------------------------------------------------------------- queries
    def open_orders(self, session: Session, everyone: bool) -> None:
        for order in self.book:
            visible = everyone or order.client_id == session.client_id
            if order.manual and session.client_id == 0:
                visible = True
            if visible and order.announced and not order.closed:
                session.send(open_order(session.server_version, order))
                session.send(msg.order_status(order))
                session.known_perm_ids.add(order.perm_id)
        session.send(msg.open_order_end())

    def completed_orders(self, session: Session, api_only: bool) -> None:
        for order in self.book:
            if order.completed_at is None or (api_only and order.manual):
                continue
            parent = self.book.parent_of(order)
            parent_perm = parent.perm_id if parent is not None else 0
            session.send(completed_order(session.server_version, order, parent_perm))
        session.send(msg.completed_orders_end())

    def positions_request(self, session: Session) -> None:
        session.positions_subscribed = True
        for pos in self.positions.all():
            session.send(msg.position(pos.account, pos.contract, pos.quantity, pos.avg_cost))
        session.send(msg.position_end())

    def account_updates(self, session: Session, subscribe: bool, account: str) -> None:
        if not subscribe:
            session.account_subscription = None
            return
        account = account or self.scenario.accounts[0]
        session.account_subscription = account
        for key, value, currency in self._account_values(account):
            session.send(msg.account_value(key, value, currency, account))
        for pos in self.positions.for_account(account):
            session.send(self._portfolio(pos))
        session.send(msg.account_time(self.clock()))
        session.send(msg.account_download_end(account))

    def account_updates_multi(self, session: Session, req_id: int, account: str) -> None:
        for acct in [account] if account else self.scenario.accounts:
            for key, value, currency in self._account_values(acct):
                session.send(msg.account_update_multi(req_id, acct, key, value, currency))
        session.send(msg.account_update_multi_end(req_id))

    def _account_values(self, account: str) -> list[tuple[str, str, str]]:
        cash = str(self.scenario.cash)
        cur = self.scenario.currency
        return [
            ("AccountCode", account, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("NetLiquidation", cash, cur),
            ("TotalCashValue", cash, cur),
            ("AvailableFunds", cash, cur),
            ("BuyingPower", str(self.scenario.cash * 4), cur),
        ]

    def executions_request(self, session: Session, req_id: int, filt: ExecutionFilter) -> None:
        # Only the latest revision of a corrected execution, and only reports that exist.
        matching = [e for e in self.executions if e.corrected_by is None and filt.matches(e)]
        for ex in matching:
            session.send(msg.exec_details(session.server_version, req_id, ex))
        for ex in matching:
            if ex.exec_id not in self.held_reports and ex.exec_id not in self.silent_reports:
                session.send(msg.commission_report(ex))
        session.send(msg.exec_details_end(req_id))

    def _publish_position(self, account: str) -> None:
        for s in self.sessions:
            if not s.ready:
                continue
            for pos in self.positions.for_account(account):
                if s.positions_subscribed:
                    s.send(msg.position(account, pos.contract, pos.quantity, pos.avg_cost))
                if s.account_subscription == account:
                    s.send(self._portfolio(pos))

    def _portfolio(self, pos: Position) -> list[Field]:
        market = self.scenario.price_for(pos.con_id, pos.contract.get("symbol", ""))
        return msg.portfolio_value(
            pos.account,
            pos.contract,
            pos.quantity,
            pos.avg_cost if market is None else market,
            pos.avg_cost,
            pos.realized_pnl,
        )


def _execution_exchange(ticket: OrderTicket) -> str:
    exchange = ticket.text("exchange")
    # SMART is a router, not a venue: real executions name the venue that filled.
    return "ISLAND" if exchange in ("", "SMART") else exchange
