"""The control API: a running simulator plus methods that make the broker do things.

Every method is a plain synchronous call meant to be used from code running in the simulator's
own event loop (a test, a demo): it changes the broker's state and writes the resulting messages
to the sockets at once. The client sees them once the loop lets it read, e.g. after
``await asyncio.sleep(0)`` or while awaiting one of ib_async's events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType

from . import cancels, corrections
from .broker import Broker
from .executions import SimExecution
from .orders import SimOrder
from .positions import Position
from .scenario import Behaviour, CommissionTiming, Scenario
from .server import SimulatorServer
from .session import MessageTap
from .tickets import OrderTicket
from .wire import Field

Number = Decimal | int | float | str


def _dec(value: Number) -> Decimal:
    # str() first so that a float like 150.1 stays 150.1 rather than its binary expansion.
    return value if isinstance(value, Decimal) else Decimal(str(value))


class Simulator:
    """A TWS API server on loopback plus the levers a test or demo needs."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        on_message: MessageTap | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.scenario = scenario if scenario is not None else Scenario()
        self.broker = Broker(self.scenario, clock or (lambda: datetime.now(UTC)))
        self.server = SimulatorServer(self.broker, on_message)

    # ------------------------------------------------------------- lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Listen on ``host:port`` (0 picks a free port; read it from :attr:`port`)."""
        await self.server.start(host, port)
        return self

    async def stop(self) -> None:
        await self.server.close()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def protocol_errors(self) -> list[str]:
        """Malformed or unexpected input from clients; empty in a healthy session."""
        return self.server.protocol_errors

    @property
    def unsupported_requests(self) -> list[list[str]]:
        return self.server.unsupported

    # --------------------------------------------------------------- lookups
    def order(self, order_id: int, client_id: int | None = None) -> SimOrder:
        """The order with ``order_id`` (of ``client_id`` when several clients used the id)."""
        if client_id is not None:
            found = self.broker.book.get(client_id, order_id)
            if found is None:
                raise KeyError(f"no order {order_id} of client {client_id}")
            return found
        matches = [o for o in self.broker.book if o.order_id == order_id and not o.manual]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} orders have id {order_id}; pass client_id")
        return matches[0]

    def order_by_ref(self, order_ref: str) -> SimOrder:
        matches = [o for o in self.broker.book if o.ticket.order_ref == order_ref]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} orders have orderRef {order_ref!r}")
        return matches[0]

    def order_by_perm_id(self, perm_id: int) -> SimOrder:
        found = self.broker.book.by_perm_id(perm_id)
        if found is None:
            raise KeyError(f"no order with permId {perm_id}")
        return found

    @property
    def orders(self) -> list[SimOrder]:
        return list(self.broker.book)

    @property
    def executions(self) -> list[SimExecution]:
        return list(self.broker.executions)

    def positions(self, account: str | None = None) -> list[Position]:
        book = self.broker.positions
        return book.all() if account is None else book.for_account(account)

    def _resolve(self, order: SimOrder | int, client_id: int | None) -> SimOrder:
        return order if isinstance(order, SimOrder) else self.order(order, client_id)

    # ---------------------------------------------------------------- market
    def set_price(self, instrument: str | int, price: Number) -> None:
        """Set the price of a symbol (str) or conId (int); working orders are re-evaluated."""
        if isinstance(instrument, int):
            self.scenario.prices_by_con_id[instrument] = _dec(price)
        else:
            self.scenario.prices[instrument] = _dec(price)
        self.broker.reprice()

    def add_behaviour(self, behaviour: Behaviour) -> None:
        """Script what happens to the next orders carrying ``behaviour.order_ref``."""
        self.scenario.behaviours.append(behaviour)

    # ----------------------------------------------------------------- fills
    def fill(
        self,
        order: SimOrder | int,
        qty: Number | None = None,
        price: Number | None = None,
        *,
        client_id: int | None = None,
        commission: Number | None = None,
        commission_timing: CommissionTiming | str = CommissionTiming.WITH,
        send_status: bool = True,
    ) -> str:
        """Fill ``qty`` (default: all that remains) at ``price`` (default: market, else limit).

        Works on any order that still has quantity left, including PendingCancel, Inactive
        and already Cancelled ones (a fill racing a cancel). ``send_status=False`` leaves out
        the orderStatus, to be sent later with :meth:`send_order_status`. Returns the execId.
        """
        target = self._resolve(order, client_id)
        amount = target.remaining if qty is None else _dec(qty)
        fill_at = self._price(target, price)
        ex = self.broker.execute(
            target,
            amount,
            fill_at,
            commission=None if commission is None else _dec(commission),
            timing=CommissionTiming(commission_timing),
            send_status=send_status,
        )
        return ex.exec_id

    def _price(self, order: SimOrder, price: Number | None) -> Decimal:
        if price is not None:
            return _dec(price)
        found = self.broker.market_price(order) or order.ticket.lmt_price
        if found is None:
            raise ValueError(f"no price for order {order.order_id}: set one or pass price")
        return found

    def release_commission_report(self, exec_id: str) -> None:
        """Send a report held back with commission_timing="held"."""
        ex = self.broker.held_reports.pop(exec_id)
        self.broker.broadcast_commission(ex)

    def correct_execution(
        self, exec_id: str, *, price: Number | None = None, commission: Number | None = None
    ) -> str:
        """Send a correction of ``exec_id`` (suffix .01 → .02); returns the new execId."""
        new = corrections.correct_execution(
            self.broker,
            exec_id,
            None if price is None else _dec(price),
            None if commission is None else _dec(commission),
        )
        return new.exec_id

    # ------------------------------------------------------ rejects & cancels
    def reject(
        self,
        order: SimOrder | int,
        code: int = 201,
        text: str | None = None,
        *,
        inactive: bool = False,
        client_id: int | None = None,
    ) -> None:
        """Error ``code`` (201, 200, 103, ...) for the order, optionally followed by Inactive."""
        cancels.reject(self.broker, self._resolve(order, client_id), code, text, inactive)

    def reject_next(
        self, code: int = 201, text: str | None = None, *, inactive: bool = False
    ) -> None:
        """Reject the next new order (any client, any orderRef) before acknowledging it: only
        error ``code`` for its id, no openOrder or orderStatus, then Inactive if asked."""
        self.broker.next_rejections.append((code, text, inactive))

    def refuse_modify(
        self,
        order: SimOrder | int,
        code: int = 201,
        text: str = "",
        *,
        client_id: int | None = None,
    ) -> None:
        """Refuse the order's next modification with error ``code`` (201, 110, ...): no openOrder
        with the new terms; the order keeps working, and can fill, on its old terms."""
        self._resolve(order, client_id).refused_modifications.append((code, text))

    def report_completed_quantity(
        self, order: SimOrder | int, total_quantity: Number, *, client_id: int | None = None
    ) -> None:
        """Make completedOrder carry ``total_quantity`` (IB sends 0 at times after a restart)
        while its filledQuantity stays what was filled."""
        self._resolve(order, client_id).completed_total_quantity = _dec(total_quantity)

    def set_inactive(
        self, order: SimOrder | int, why_held: str = "", *, client_id: int | None = None
    ) -> None:
        cancels.set_inactive(self.broker, self._resolve(order, client_id), why_held)

    def cancel(
        self,
        order: SimOrder | int,
        reason: str = "",
        *,
        with_error: bool = True,
        error_first: bool = False,
        client_id: int | None = None,
    ) -> None:
        """An unsolicited cancel by the broker: Cancelled, then error 202 (202 first with
        ``error_first``; none without ``with_error``)."""
        target = self._resolve(order, client_id)
        cancels.cancel(self.broker, target, reason, notify=with_error, error_first=error_first)

    def defer_cancel(self, order: SimOrder | int, *, client_id: int | None = None) -> None:
        """Answer the next cancel request with PendingCancel only; the order keeps working."""
        self._resolve(order, client_id).defer_cancel = True

    def confirm_cancel(self, order: SimOrder | int, *, client_id: int | None = None) -> None:
        """Carry out a cancel held in PendingCancel (202 placed as ``scenario.cancel_error``)."""
        cancels.confirm_cancel(self.broker, self._resolve(order, client_id))

    # --------------------------------------------------------- raw messages
    def send_order_status(
        self, order: SimOrder | int, times: int = 1, *, client_id: int | None = None
    ) -> None:
        """Re-send the current orderStatus (TWS repeats statuses 2-3 times at times)."""
        target = self._resolve(order, client_id)
        for _ in range(times):
            self.broker.send_status(target)

    def send_open_order(
        self, order: SimOrder | int, times: int = 1, *, client_id: int | None = None
    ) -> None:
        target = self._resolve(order, client_id)
        for _ in range(times):
            self.broker.send_open_order(target)

    def send_error(
        self, order: SimOrder | int, code: int, text: str = "", *, client_id: int | None = None
    ) -> None:
        self.broker.send_error(self._resolve(order, client_id), code, text or None)

    def send_session_message(
        self,
        code: int,
        text: str = "",
        *,
        req_id: int = -1,
        client_id: int | None = None,
    ) -> None:
        """An error message about no request of the client, to every connected client (or to
        ``client_id``): connectivity 1100/1101/1102/2110, farm status 2103-2108/2157/2158,
        504; TWS's text unless ``text`` is given. ``req_id`` -1 is a session message; any
        other id names an order nobody placed."""
        self.broker.send_session_message(code, text or None, req_id, client_id)

    # ------------------------------------------------------- manual & clients
    def place_manual(
        self,
        symbol: str,
        action: str,
        qty: Number,
        order_type: str = "LMT",
        lmt_price: Number | None = None,
        *,
        aux_price: Number | None = None,
        account: str | None = None,
        con_id: int = 0,
        order_ref: str = "",
    ) -> SimOrder:
        """An order entered by hand in TWS (orderId 0; client 0 sees it, and may bind it)."""
        raw = {
            "conId": str(con_id),
            "symbol": symbol,
            "secType": "STK",
            "exchange": "SMART",
            "currency": self.scenario.currency,
            "action": action,
            "totalQuantity": str(_dec(qty)),
            "orderType": order_type,
            "lmtPrice": "" if lmt_price is None else str(_dec(lmt_price)),
            "auxPrice": "" if aux_price is None else str(_dec(aux_price)),
            "tif": "DAY",
            "account": account or self.scenario.accounts[0],
            "orderRef": order_ref,
            "transmit": "1",
            "origin": "0",
            "openClose": "",
        }
        return self.broker.place_manual(OrderTicket(order_id=0, raw=raw))

    def disconnect(self, client_id: int) -> None:
        """Drop the connection(s) of ``client_id``; its orders keep working at the broker."""
        self.server.drop(client_id)

    def send_raw(self, client_id: int, fields: list[Field]) -> None:
        """Send any message to a client; for protocol experiments."""
        for session in self.broker.sessions:
            if session.client_id == client_id:
                session.send(fields)
