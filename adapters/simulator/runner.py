"""Entry points for running the simulator as a process (``ordertrail simulate``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from .activity import show_activity
from .control import Simulator
from .scenario import Scenario, load_scenario

log = logging.getLogger("ordertrail.simulator")


async def serve(host: str, port: int, scenario: Scenario | None = None) -> None:
    """Run a simulator on ``host:port`` until cancelled."""
    sim = await Simulator(scenario).start(host, port)
    log.info(
        "TWS simulator listening on %s:%s (server version %s, accounts %s)",
        host,
        sim.port,
        sim.scenario.server_version,
        ",".join(sim.scenario.accounts),
    )
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def run_simulator(port: int, scenario_path: Path | None = None) -> None:
    """Serve on 127.0.0.1:``port`` until Ctrl-C, saying where it listens and logging every
    connection and order on stderr. Raises ScenarioError for a bad scenario file."""
    scenario = load_scenario(scenario_path) if scenario_path is not None else Scenario()
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(min(log.getEffectiveLevel(), logging.INFO))
    show_activity()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve("127.0.0.1", port, scenario))
