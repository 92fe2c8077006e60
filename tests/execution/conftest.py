"""Shared set-up of the execution tests: an engine on the real ib_async client against the
simulator (facts recorded by ``IbRecorder``), a dry-run engine, and a fast clock."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB

from ordertrail.adapters.execution import (
    DryRunGateway,
    IbGateway,
    OrderExecutionEngine,
    OrderManager,
)
from ordertrail.adapters.ib.recorder import IbRecorder
from ordertrail.adapters.simulator import Instrument, Scenario, Simulator
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.order import Order
from ordertrail.domain.risk import RiskPolicy
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import ContractRef

AAPL = ContractRef(265598, "AAPL")
MSFT = ContractRef(272093, "MSFT")
# Futures for the roll: the June contract and the September one it rolls into.
ES_JUN = ContractRef(495512557, "ES", "FUT", "CME", multiplier=Decimal(50), expiry="20240621")
ES_SEP = ContractRef(495512563, "ES", "FUT", "CME", multiplier=Decimal(50), expiry="20240920")


# What TWS resolves the tests' contracts to: orders typed by symbol are qualified against it.
LISTED = [
    Instrument(265598, "AAPL", primary_exchange="NASDAQ", long_name="APPLE INC"),
    Instrument(272093, "MSFT", primary_exchange="NASDAQ", long_name="MICROSOFT CORP"),
    Instrument(495512557, "ES", "FUT", "CME", local_symbol="ESM4", min_tick=Decimal("0.25")),
    Instrument(495512563, "ES", "FUT", "CME", local_symbol="ESU4", min_tick=Decimal("0.25")),
]


def priced(**extra: Any) -> Scenario:
    extra.setdefault("contracts", list(LISTED))
    return Scenario(
        prices={"AAPL": Decimal(150), "MSFT": Decimal(400), "ES": Decimal(5000)}, **extra
    )


def tokens() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"t{next(counter):04d}"


class FastClock:
    """Virtual seconds: ``sleep`` advances them at once and yields a moment to the loop so
    ib_async can deliver what the simulator sent."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0.002)


@dataclass
class Live:
    ib: IB
    trail: OrderTrail
    engine: OrderExecutionEngine
    recorder: IbRecorder
    clock: FastClock

    def state(self, client_order_id: str) -> OrderState:
        return self.trail.get(Order.id_for(client_order_id=client_order_id)).state

    def manager(self, **kwargs: Any) -> OrderManager:
        kwargs.setdefault("poll_interval", 1.0)
        return OrderManager(self.engine, clock=self.clock, sleep=self.clock.sleep, **kwargs)


@pytest.fixture
def trail(tmp_store: StoreConfig, clock: Any) -> OrderTrail:
    return OrderTrail(tmp_store, clock=clock)


async def live(
    h: Any, trail: OrderTrail, policy: RiskPolicy | None = None, client_id: int = 1
) -> Live:
    """A connected engine: the IB gateway over the simulator, facts recorded."""
    ib = await h.connect(client_id)
    recorder = IbRecorder(ib, trail).attach()
    new_token = tokens()
    engine = OrderExecutionEngine(trail, IbGateway(ib, trail), policy=policy, new_token=new_token)
    return Live(ib, trail, engine, recorder, FastClock())


def dry_engine(trail: OrderTrail, policy: RiskPolicy | None = None) -> OrderExecutionEngine:
    return OrderExecutionEngine(trail, DryRunGateway(trail), policy=policy, new_token=tokens())


@dataclass
class Served:
    """A simulator on its own loop in a thread: the CLI runs its own asyncio.run."""

    sim: Simulator
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return self.sim.port

    def control(self, act: Callable[[Simulator], Any]) -> Any:
        """Run ``act`` on the simulator's own loop (its state is that loop's alone)."""

        async def call() -> Any:
            return act(self.sim)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)


def serve_simulator(scenario: Scenario) -> Iterator[Served]:
    loop = asyncio.new_event_loop()
    sim = Simulator(scenario)
    loop.run_until_complete(sim.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Served(sim, loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(sim.stop())
        loop.close()
        assert sim.protocol_errors == []


def serve(scenario: Scenario) -> Iterator[int]:
    for served in serve_simulator(scenario):
        yield served.port


@pytest.fixture
def simulator_port() -> Iterator[int]:
    yield from serve(priced())


@pytest.fixture
def served() -> Iterator[Served]:
    yield from serve_simulator(priced())
