"""The pytest plugin of ``ordertrail[testing]``: fixtures to test your own IB programs against
the TWS simulator, with the real ib_async client over loopback.

* ``ib_errors`` — fails the test on any ERROR the ``ib_async`` logger emits that the test did
  not declare with ``ib_errors.expect(regex)``.
* ``sim_run`` — ``sim_run(body, scenario=None)`` runs ``await body(harness)`` against a fresh
  simulator on a free port; ``harness.sim`` is the control API, ``await harness.connect(id)``
  gives a connected ``ib_async.IB``.

No pytest-asyncio needed: each body runs in its own ``asyncio.run``. See docs/testing-kit.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest

from ordertrail.adapters.testing.harness import IbErrorLog, SimBody, run_with_simulator


@pytest.fixture
def ib_errors() -> Iterator[IbErrorLog]:
    log = IbErrorLog()
    logger = logging.getLogger("ib_async")
    logger.addHandler(log)
    try:
        yield log
    finally:
        logger.removeHandler(log)
    assert not log.unexpected(), f"unexpected ib_async errors: {log.unexpected()}"


@pytest.fixture
def sim_run(ib_errors: IbErrorLog) -> Callable[..., None]:
    """``sim_run(body, scenario=None)``: run ``await body(harness)`` against a fresh simulator."""

    def run(body: SimBody, scenario: object | None = None, **sim_kwargs: object) -> None:
        asyncio.run(run_with_simulator(body, ib_errors, scenario, **sim_kwargs))  # type: ignore[arg-type]

    return run
