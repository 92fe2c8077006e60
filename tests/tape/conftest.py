"""A good tape, recorded once per module against the simulator, for the tests to damage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ordertrail.adapters.testing.harness import IbErrorLog, run_with_simulator

from .sessions import Live, quiet_market, record_live


async def small_session(s: Live) -> None:
    trade = await s.place(10)
    s.h.sim.fill(trade.order.orderId, 4, 150)
    s.h.sim.fill(trade.order.orderId, 6, 150)


@pytest.fixture(scope="module")
def good_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    tape = root / "good.tape"
    errors = IbErrorLog()

    async def body(h: object) -> None:
        await record_live(h, root / "live", tape, small_session)  # type: ignore[arg-type]

    asyncio.run(run_with_simulator(body, errors, quiet_market()))
    assert not errors.unexpected()
    return tape
