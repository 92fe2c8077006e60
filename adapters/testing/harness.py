"""Run the real ib_async client against the simulator, in your own tests.

``Harness`` holds one simulator and any number of real ib_async clients and tears them down
together. ``IbErrorLog`` collects ERROR records of the ``ib_async`` logger: ib_async swallows
malformed messages and only logs them, so a test that ignores those logs can pass on garbage.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ib_async import IB

from ordertrail.adapters.simulator import Scenario, Simulator


class IbErrorLog(logging.Handler):
    """Collects ERROR records of the ``ib_async`` loggers; some may be declared expected."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected: list[re.Pattern[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def expect(self, *patterns: str) -> None:
        """Declare ERROR messages (regexes, searched) that this test provokes on purpose."""
        self.expected += [re.compile(p) for p in patterns]

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]

    def unexpected(self) -> list[str]:
        return [m for m in self.messages() if not any(p.search(m) for p in self.expected)]


class Harness:
    """One simulator and any number of real ib_async clients, torn down together."""

    def __init__(self, sim: Simulator, errors: IbErrorLog) -> None:
        self.sim = sim
        self.errors = errors
        self.clients: list[IB] = []

    async def connect(self, client_id: int = 1, **kwargs: Any) -> IB:
        ib = IB()
        self.clients.append(ib)
        await ib.connectAsync("127.0.0.1", self.sim.port, clientId=client_id, **kwargs)
        return ib

    async def wait_until(self, predicate: Callable[[], object], timeout: float = 2.0) -> None:
        """Yield to the loop until ``predicate()`` is truthy; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.005)

    async def settle(self, seconds: float = 0.05) -> None:
        """Let all messages in flight be delivered and handled (for asserting absence)."""
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        for ib in self.clients:
            if ib.isConnected():
                ib.disconnect()
        await asyncio.sleep(0)
        await self.sim.stop()


SimBody = Callable[[Harness], Awaitable[None]]


async def run_with_simulator(
    body: SimBody, errors: IbErrorLog, scenario: Scenario | None = None, **sim_kwargs: object
) -> None:
    """Start a simulator on a free port, ``await body(harness)``, tear everything down and
    fail on protocol errors or requests the simulator does not support."""
    sim = await Simulator(scenario, **sim_kwargs).start()  # type: ignore[arg-type]
    harness = Harness(sim, errors)
    try:
        await asyncio.wait_for(body(harness), timeout=20)
    finally:
        await harness.close()
    assert sim.protocol_errors == [], sim.protocol_errors
    assert sim.unsupported_requests == [], sim.unsupported_requests
