"""A live recording session: an ``IbSession`` (ib_async, the recorder) with the wire capture
attached before it connects, reconnecting until told to stop.

Each (re)connect runs ib_async's start-up sync (open orders, completed orders, executions),
which is the recorder's reconnect reconciliation; the capture starts a new tape segment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ordertrail.adapters.ib.session import IbSession
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.ports import BrokerUnavailable

from .capture import WireCapture
from .clock import TapeClock
from .format import Header
from .ledger import TapeLedger
from .writer import TapeFile

log = logging.getLogger("ordertrail.tape")


@dataclass(slots=True)
class LiveStatus:
    connected: bool = False
    connects: int = 0
    messages: int = 0
    segments: int = 0
    last: str = ""
    errors: list[str] = field(default_factory=list)


class LiveRecording:
    """``await run(stop)`` records until ``stop`` is set; everything is flushed on return."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: int,
        config: StoreConfig,
        tape_path: Path,
        *,
        connect_timeout: float = 4.0,
        retry_delay: float = 1.0,
        on_change: Callable[[LiveStatus], None] | None = None,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.config = config
        self.tape_path = tape_path
        self.connect_timeout = connect_timeout
        self.retry_delay = retry_delay
        self.on_change = on_change
        self.status = LiveStatus()
        self.clock = TapeClock()
        self.trail = OrderTrail(config, clock=self.clock)
        self.ledger = TapeLedger(config)
        self.session = IbSession(self.trail)
        self.ib = self.session.ib
        self.recorder = self.session.recorder
        self.recorder.listeners.append(self._noticed)
        self.capture = WireCapture(
            self.ib,
            TapeFile(tape_path),
            self.clock,
            mark=lambda: int(self.trail.recorder.max_notification_id() or 0),
            on_segment_start=self._segment_started,
            on_segment_end=self._segment_ended,
        ).attach()
        self._lost = asyncio.Event()
        self.ib.disconnectedEvent += self._lost.set

    def _changed(self) -> None:
        self.status.messages = self.capture.messages
        if self.on_change is not None:
            self.on_change(self.status)

    def _noticed(self, what: str) -> None:
        self.status.last = what
        self._changed()

    def _segment_started(self, header: Header, mark: int) -> None:
        self.ledger.start(header, tape=str(self.tape_path), position=mark, how="live")
        self.status.segments += 1

    def _segment_ended(self, header: Header, last_seq: int, reason: str) -> None:
        self.ledger.finish(header.session, last_seq)
        self.status.last = f"segment ended: {reason}"

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._lost.clear()
                try:
                    # live=None: recording only listens, whatever the account.
                    await self.session.connect(
                        self.host,
                        self.port,
                        self.client_id,
                        timeout=self.connect_timeout,
                        live=None,
                    )
                except (OSError, TimeoutError, ConnectionError, BrokerUnavailable) as e:
                    self.status.errors.append(f"connect: {e}")
                    self.status.last = str(e)
                    self._changed()
                    await _wait_either(stop, None, self.retry_delay)
                    continue
                self.status.connected = True
                self.status.connects += 1
                self.status.last = "connected"
                self._changed()
                await _wait_either(stop, self._lost, None)
                self.status.connected = False
                self._changed()
                if not stop.is_set():
                    await _wait_either(stop, None, self.retry_delay)
        finally:
            self.close()

    def close(self) -> None:
        if self.ib.isConnected():
            self.ib.disconnect()
        self.capture.close()
        self.session.close()
        self.trail.close()
        self.ledger.close()
        self._changed()


async def _wait_either(a: asyncio.Event, b: asyncio.Event | None, timeout: float | None) -> None:
    waits = [asyncio.ensure_future(a.wait())]
    if b is not None:
        waits.append(asyncio.ensure_future(b.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
