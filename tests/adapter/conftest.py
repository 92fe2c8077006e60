"""A recorded session: the simulator, a real ib_async client, and ordertrail's recorder, and
orders sent through the RiskGate and the IB gateway, writing to a real SQLite event store."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB

from ordertrail.adapters.ib.recorder import IbRecorder
from ordertrail.adapters.simulator import Scenario
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.testing.harness import Harness
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.values import ContractRef
from tests.execution.gated_orders import GatedOrders

AAPL = ContractRef(265598, "AAPL")


def quiet_market(**prices: float) -> Scenario:
    """Prices are set but nothing fills unless a test says so."""
    return Scenario(
        prices={k: Decimal(str(v)) for k, v in (prices or {"AAPL": 150.0}).items()},
        auto_fill=False,
    )


@dataclass
class Session:
    h: Harness
    ib: IB
    trail: OrderTrail
    recorder: IbRecorder
    broker: GatedOrders

    def topics(self, oid: Any) -> list[str]:
        return [type(e).__name__ for e in self.trail.history(oid)]

    def state(self, oid: Any) -> Any:
        return self.trail.get(oid).state

    async def until(self, predicate: Callable[[], object], timeout: float = 3.0) -> None:
        await self.h.wait_until(predicate, timeout)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def open_session(store_dir: Path) -> Callable[..., Any]:
    tokens = (f"t{i}" for i in itertools.count(1))

    async def connect(h: Harness, client_id: int = 1) -> Session:
        trail = OrderTrail(StoreConfig.resolve(store_dir))
        ib = IB()
        recorder = IbRecorder(ib, trail).attach()
        h.clients.append(ib)
        await ib.connectAsync("127.0.0.1", h.sim.port, clientId=client_id)
        return Session(h, ib, trail, recorder, GatedOrders(ib, trail, lambda: next(tokens)))

    return connect
