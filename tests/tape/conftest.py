"""A good tape, recorded once per module against the simulator, for the tests to damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from .sessions import Live, recorded_tape


async def small_session(s: Live) -> None:
    trade = await s.place(10)
    s.h.sim.fill(trade.order.orderId, 4, 150)
    s.h.sim.fill(trade.order.orderId, 6, 150)


@pytest.fixture(scope="module")
def good_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_tape(tmp_path_factory.mktemp("good"), "good.tape", small_session)
