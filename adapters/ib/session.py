"""The composition root for a connection to IB: the one place that wires ``ib_async.IB``, the
recorder (and, for ``record``, the wire capture), the trail service and the gateway.

The CLI's order commands, the demo and ``record`` open a session instead of wiring IB
themselves. ``connect`` turns every way a connection fails into one ``ConnectFailed`` line that
names the cause: TWS answers a duplicate client id with error 326 and closes the socket, which
ib_async only logs before timing out with an empty message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ib_async import IB

from ordertrail.adapters.ib.gateway import IbGateway
from ordertrail.adapters.ib.recorder import IbRecorder
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.ports import BrokerUnavailable
from ordertrail.domain.values import ContractRef

# The ports TWS and IB Gateway listen on for live (not paper) accounts.
LIVE_PORTS = frozenset({7496, 4001})
PAPER_ACCOUNT_PREFIX = "DU"
# Errors IB sends (with reqId -1) instead of accepting a connection.
CONNECT_REFUSALS = frozenset({326, 502, 504, 1100})


def _decimal(q: float) -> Decimal:
    # IB sends positions as doubles: 1300.0 is the integer 1300, fractional shares stay.
    d = Decimal(str(q))
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


class ConnectFailed(BrokerUnavailable):
    """The connection to TWS / IB Gateway could not be made; the message names the cause."""


class LiveAccountRefused(BrokerUnavailable):
    """A live account or live port without the trader's explicit ``--live``."""


@dataclass(frozen=True, slots=True)
class Venue:
    host: str
    port: int
    client_id: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port} as client id {self.client_id}"


def trading_mode(port: int, accounts: list[str]) -> str:
    """``live`` when the port or any managed account is a live one, else ``paper``."""
    if port in LIVE_PORTS:
        return "live"
    if any(not a.startswith(PAPER_ACCOUNT_PREFIX) for a in accounts if a):
        return "live"
    return "paper"


class IbSession:
    """One IB connection with ordertrail's recorder attached and its gateway ready.

    ``attach`` callables run on the ``IB`` object before it connects (the wire capture of
    ``record``); the recorder is attached first, so every fact of the connect's start-up sync
    is recorded.
    """

    def __init__(
        self,
        trail: OrderTrail,
        *,
        ib: IB | None = None,
        ack_timeout: float = 2.0,
        attach: tuple[Callable[[IB], Any], ...] = (),
    ) -> None:
        self.trail = trail
        self.ib = ib if ib is not None else IB()
        self.recorder = IbRecorder(self.ib, trail).attach()
        self.gateway = IbGateway(self.ib, trail, ack_timeout=ack_timeout)
        self.mode = "paper"
        for hook in attach:
            hook(self.ib)

    async def connect(
        self,
        host: str,
        port: int,
        client_id: int,
        *,
        timeout: float = 10.0,
        live: bool | None = False,
    ) -> IbSession:
        """Connect, or raise ``ConnectFailed`` naming why. ``live=False`` refuses a live account
        or port (``LiveAccountRefused``), ``True`` allows it, ``None`` (recording) ignores it."""
        venue = Venue(host, port, client_id)
        refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_error(req_id: int, code: int, text: str, *_: Any) -> None:
            if req_id == -1 and code in CONNECT_REFUSALS and not refused.done():
                refused.set_result(f"IB error {code}: {text}")

        self.ib.errorEvent += on_error
        try:
            await self._race(venue, refused, timeout)
        finally:
            self.ib.errorEvent -= on_error
        self.mode = trading_mode(port, self.ib.managedAccounts())
        self.gateway.mode = self.mode
        if self.mode == "live" and live is False:
            accounts = ", ".join(self.ib.managedAccounts()) or "none"
            self.ib.disconnect()
            raise LiveAccountRefused(
                f"{venue} is a live session (port {port}, accounts {accounts}): "
                "pass --live (or set ORDERTRAIL_LIVE=1) to send real orders"
            )
        return self

    async def _race(self, venue: Venue, refused: asyncio.Future[str], timeout: float) -> None:
        connecting = asyncio.ensure_future(
            self.ib.connectAsync(venue.host, venue.port, clientId=venue.client_id, timeout=timeout)
        )
        done, _ = await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
        if refused in done:
            connecting.cancel()
            with contextlib.suppress(BaseException):
                await connecting
            self.ib.disconnect()
            raise ConnectFailed(f"cannot connect to {venue}: {refused.result()}")
        refused.cancel()
        try:
            connecting.result()
        except ConnectionRefusedError:
            raise ConnectFailed(
                f"cannot connect to {venue}: connection refused (is TWS, IB Gateway or "
                "`ordertrail simulate` listening there, with its API enabled?)"
            ) from None
        except TimeoutError:
            self.ib.disconnect()
            raise ConnectFailed(
                f"cannot connect to {venue}: no API handshake within the timeout (is the API "
                "enabled in TWS, and is this port a TWS API port?)"
            ) from None
        except (OSError, ConnectionError) as e:
            self.ib.disconnect()
            raise ConnectFailed(f"cannot connect to {venue}: {e or type(e).__name__}") from None

    def position(self, contract: ContractRef) -> Decimal | None:
        """IB's position in a qualified contract, summed over the managed accounts (what IB
        reported at connect and since); None for a contract without a conId."""
        if not contract.con_id:
            return None
        held = (p.position for p in self.ib.positions() if p.contract.conId == contract.con_id)
        return sum((_decimal(q) for q in held), Decimal(0))

    def close(self) -> None:
        self.recorder.detach()
        if self.ib.isConnected():
            self.ib.disconnect()

    async def settle(self, seconds: float = 0.2) -> None:
        """Let IB's last answers arrive and be recorded before disconnecting."""
        if self.ib.isConnected():
            await asyncio.sleep(seconds)
