"""TCP side of the simulator: handshake, one reader task per connection, request dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from . import cancels, snapshots
from . import messages as msg
from .activity import activity
from .broker import Broker
from .contracts import NO_DEFINITION, resolve
from .error_texts import text_for
from .executions import ExecutionFilter
from .session import MessageTap, Session
from .tickets import parse_place_order
from .wire import FieldReader, ProtocolError, read_frame, read_greeting, split_fields

log = logging.getLogger("ordertrail.simulator")

Handler = Callable[[Session, list[str]], None]
# A contract in a request, as ib_async's Client writes it.
REQUEST_CONTRACT_FIELDS = (
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass",
)  # fmt: skip


class SimulatorServer:
    """Accepts TWS API connections on ``host:port`` and feeds their requests to a Broker."""

    def __init__(self, broker: Broker, tap: MessageTap | None = None) -> None:
        self.broker = broker
        self.tap = tap
        self.protocol_errors: list[str] = []
        self.unsupported: list[list[str]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._handlers: dict[int, Handler] = {
            3: self._place_order,
            4: self._cancel_order,
            5: lambda s, _f: snapshots.open_orders(broker, s, everyone=False),
            6: self._account_updates,
            7: self._executions,
            8: lambda s, _f: s.send(msg.next_valid_id(self._next_id(s))),
            9: self._contract_details,
            15: self._auto_open_orders,
            16: lambda s, _f: snapshots.open_orders(broker, s, everyone=True),
            49: lambda s, _f: s.send(msg.current_time(broker.clock())),
            58: lambda _s, _f: cancels.global_cancel(broker),
            61: lambda s, _f: snapshots.positions(broker, s),
            62: self._account_summary,
            63: lambda _s, _f: None,  # cancelAccountSummary: nothing streams
            64: self._cancel_positions,
            76: self._account_updates_multi,
            77: lambda _s, _f: None,  # cancelAccountUpdatesMulti: nothing streams
            99: self._completed_orders,
        }

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the simulator is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._on_connect, host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.close()
        # Closing our side ends each reader with EOF; cancel only what does not finish, since
        # a cancelled connection task makes asyncio's stream callback log a traceback.
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()

    def drop(self, client_id: int) -> None:
        """Close every connection of ``client_id``, as when TWS drops a client."""
        for session in self.broker.sessions:
            if session.client_id == client_id:
                writer = self._writers.get(id(session))
                session.closed = True
                if writer is not None:
                    writer.close()

    # ------------------------------------------------------------ connection
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session: Session | None = None
        try:
            session = await self._handshake(reader, writer)
            self._writers[id(session)] = writer
            while not session.closed:
                self._dispatch(session, split_fields(await read_frame(reader)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up; TWS simply forgets the connection
        except ProtocolError as exc:
            self._protocol_error(f"connection dropped: {exc}")
        finally:
            self._tasks.discard(task)
            if session is not None:
                if session.ready:
                    activity.info("client %s disconnected", session.client_id)
                session.closed = True
                self._writers.pop(id(session), None)
                if session in self.broker.sessions:
                    self.broker.sessions.remove(session)
            writer.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Session:
        low, high, options = await read_greeting(reader)
        if self.tap is not None:
            self.tap("in", None, [f"v{low}..{high}" + (f" {options}" if options else "")])
        version = min(self.broker.scenario.server_version, high)
        if version < low:
            raise ProtocolError(f"client wants versions {low}..{high}, simulator offers {version}")
        session = Session(server_version=version, write=writer.write, tap=self.tap)
        session.send(
            msg.handshake_reply(version, self.broker.clock(), self.broker.scenario.tws_time_zone)
        )
        return session

    def _dispatch(self, session: Session, fields: list[str]) -> None:
        if not session.ready and fields[:2] == ["71", "2"] and len(fields) > 2:
            # Tag startApi itself with the client id it announces, for the wire tape.
            session.client_id = int(fields[2]) if fields[2].lstrip("-").isdigit() else None
        if self.tap is not None:
            self.tap("in", session.client_id, list(fields))
        if not fields:
            self._protocol_error("empty message")
            return
        try:
            msg_id = int(fields[0])
        except ValueError:
            self._protocol_error(f"message id {fields[0]!r} is not an int")
            return
        if not session.ready:
            if msg_id == 71:
                self._start_api(session, fields)
            else:
                self._protocol_error(f"message {msg_id} before startApi")
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            self.unsupported.append(fields)
            log.warning("simulator ignores unsupported request %s", fields)
            return
        try:
            handler(session, fields)
        except ProtocolError as exc:
            self._protocol_error(f"message {msg_id}: {exc}")

    def _protocol_error(self, text: str) -> None:
        self.protocol_errors.append(text)
        log.warning("simulator protocol error: %s", text)

    def _next_id(self, session: Session) -> int:
        assert session.client_id is not None
        return self.broker.next_valid_id(session.client_id)

    # --------------------------------------------------------------- requests
    def _start_api(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        client_id = r.integer_or(0)
        session.client_id = client_id
        if any(s.client_id == client_id and s.ready for s in self.broker.sessions):
            # TWS answers a duplicate client id with error 326 and closes the socket.
            activity.info("client id %s refused: already in use (error 326)", client_id)
            session.send(msg.error(session.server_version, -1, 326, text_for(326)))
            session.closed = True
            writer = self._writers.get(id(session))
            if writer is not None:
                writer.close()
            return
        session.ready = True
        activity.info("client %s connected (server version %s)", client_id, session.server_version)
        self.broker.sessions.append(session)
        session.send(msg.managed_accounts(self.broker.scenario.accounts))
        session.send(msg.next_valid_id(self._next_id(session)))
        for m in self.broker.scenario.connect_messages:
            session.send(
                msg.error(session.server_version, m.req_id, m.code, m.text or text_for(m.code))
            )

    def _place_order(self, session: Session, fields: list[str]) -> None:
        ticket = parse_place_order(fields, session.server_version)
        self.broker.place_order(session, ticket)

    def _cancel_order(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        order_id = r.integer_or(0)
        if session.server_version >= 169:
            r.text()  # manualCancelOrderTime: an audit stamp TWS keeps, no effect here
        _no_leftover(r, "cancelOrder")
        cancels.cancel_request(self.broker, session, order_id)

    def _account_updates(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        subscribe = r.flag()
        account = r.text()
        _no_leftover(r, "reqAccountUpdates")
        snapshots.account_updates(self.broker, session, subscribe, account)

    def _account_updates_multi(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        req_id = r.integer_or(0)
        account = r.text()
        r.text()  # modelCode
        r.flag()  # ledgerAndNLV
        _no_leftover(r, "reqAccountUpdatesMulti")
        snapshots.account_updates_multi(self.broker, session, req_id, account)

    def _contract_details(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        req_id = r.integer_or(0)
        wanted = {name: r.text() for name in REQUEST_CONTRACT_FIELDS}
        r.flag()  # includeExpired: the simulator's instruments do not expire
        r.text()  # secIdType
        r.text()  # secId
        if session.server_version >= 176:
            r.text()  # issuerId
        _no_leftover(r, "reqContractDetails")
        v = session.server_version
        found = resolve(self.broker.scenario.contracts, wanted)
        if not found:
            session.send(msg.error(v, req_id, 200, NO_DEFINITION))
            return
        for instrument in found:
            session.send(msg.contract_details(v, req_id, instrument))
        session.send(msg.contract_details_end(req_id))

    def _account_summary(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        req_id = r.integer_or(0)
        r.text()  # group: every account the simulator manages
        tags = r.text()
        _no_leftover(r, "reqAccountSummary")
        snapshots.account_summary(self.broker, session, req_id, tags)

    def _executions(self, session: Session, fields: list[str]) -> None:
        r = FieldReader(fields[2:])
        req_id = r.integer_or(0)
        filt = ExecutionFilter(
            client_id=r.integer_or(0),
            account=r.text(),
            time=r.text(),
            symbol=r.text(),
            sec_type=r.text(),
            exchange=r.text(),
            side=r.text(),
        )
        _no_leftover(r, "reqExecutions")
        snapshots.executions(self.broker, session, req_id, filt)

    def _auto_open_orders(self, session: Session, fields: list[str]) -> None:
        # Only client 0 may bind TWS orders; TWS ignores the request from anyone else.
        session.auto_bind = session.client_id == 0 and FieldReader(fields[2:]).flag()

    def _cancel_positions(self, session: Session, _fields: list[str]) -> None:
        session.positions_subscribed = False

    def _completed_orders(self, session: Session, fields: list[str]) -> None:
        # reqCompletedOrders is [99, apiOnly]: no version field.
        r = FieldReader(fields[1:])
        api_only = r.flag()
        _no_leftover(r, "reqCompletedOrders")
        snapshots.completed_orders(self.broker, session, api_only)


def _no_leftover(r: FieldReader, what: str) -> None:
    if r.remaining:
        raise ProtocolError(f"{what}: {r.remaining} unexpected trailing fields")
