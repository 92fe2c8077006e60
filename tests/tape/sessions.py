"""Live sessions recorded the way ``ordertrail record`` records them (``LiveRecording``: the
real ib_async client, the recorder, the wire capture, reconnects), against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ib_async import IB, LimitOrder, Stock, Trade

from ordertrail.adapters.simulator import Scenario
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_rows
from ordertrail.adapters.tape.live import LiveRecording
from ordertrail.adapters.testing.harness import Harness
from ordertrail.adapters.trail import OrderTrail

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
# ib_async logs IB's order errors and a dropped connection at ERROR level: all provoked here.
EXPECTED_IB_ERRORS = (r"Error \d+, reqId", r"Peer closed connection", r"Unknown orderId")


def quiet_market(server_version: int = 178) -> Scenario:
    return Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False, server_version=server_version)


class Live:
    """A running ``LiveRecording`` plus helpers to drive it from a test."""

    def __init__(self, h: Harness, rec: LiveRecording, task: asyncio.Task[None]) -> None:
        self.h, self.rec, self.task = h, rec, task
        self.refs = 0

    @property
    def ib(self) -> IB:
        return self.rec.ib

    async def until(self, predicate: Callable[[], object], timeout: float = 3.0) -> None:
        await self.h.wait_until(predicate, timeout)

    async def place(self, qty: int = 10, price: float = 150) -> Trade:
        self.refs += 1
        trade = self.ib.placeOrder(AAPL, LimitOrder("BUY", qty, price, orderRef=f"t{self.refs}"))
        await self.until(lambda: trade.orderStatus.status in ("Submitted", "Inactive"))
        return trade

    async def reconnect(self, client_id: int) -> None:
        connects = self.rec.status.connects
        self.h.sim.disconnect(client_id)
        await self.until(lambda: self.rec.status.connects > connects and self.ib.isConnected())
        await asyncio.sleep(0.05)  # the reconnect's sync: open orders, completed, executions

    async def synced(self) -> None:
        """Let every message in flight arrive and be recorded."""
        await asyncio.sleep(0.05)


Script = Callable[[Live], Awaitable[None]]


async def record_live(
    h: Harness, data: Path, tape: Path, script: Script, client_id: int = 1
) -> LiveRecording:
    h.errors.expect(*EXPECTED_IB_ERRORS)
    rec = LiveRecording(
        "127.0.0.1", h.sim.port, client_id, StoreConfig.resolve(data), tape, retry_delay=0.02
    )
    stop = asyncio.Event()
    task = asyncio.ensure_future(rec.run(stop))
    live = Live(h, rec, task)
    await live.until(lambda: rec.ib.isConnected() and rec.status.connects == 1)
    await asyncio.sleep(0.05)  # the start-up sync
    await script(live)
    await live.synced()
    stop.set()
    await task
    return rec


def event_log(data: Path) -> list[tuple[Any, int, str, bytes]]:
    """The whole event log: (order id, version, topic, stored state) in notification order."""
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        return [
            (str(oid), v, topic, bytes(state))
            for _, oid, v, topic, state in stored_rows(trail.recorder)
        ]
    finally:
        trail.close()
