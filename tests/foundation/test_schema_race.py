"""Several processes opening one fresh PostgreSQL database at the same moment all get a
working store: the schema is created once, under an advisory lock (without it, concurrent
``CREATE TABLE IF NOT EXISTS`` fails in one of them on a duplicate ``pg_type`` row)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail

WRITERS = 6

# Each process waits for the start file, then opens the store and places one order.
CHILD = """
import sys, time
from decimal import Decimal
from pathlib import Path
from ordertrail.adapters.trail import OrderTrail
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

start, url, n = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
while not start.exists():
    time.sleep(0.001)
trail = OrderTrail(StoreConfig.resolve(sys.argv[4], url))
spec = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.LIMIT, limit_price=Decimal("1.5"))
trail.place(client_order_id=f"OT-race-{n}", contract=ContractRef(1, "X"), spec=spec)
trail.close()
"""


@pytest.mark.postgres
def test_processes_creating_the_schema_at_once_all_succeed(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    start = tmp_path / "start"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(start), fresh_pg_url, str(n), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    time.sleep(2)  # let every interpreter reach the wait (ordering only; nothing is timed)
    start.touch()
    failures = []
    for child in children:
        _, err = child.communicate(timeout=120)
        if child.returncode != 0:
            failures.append(err.strip().splitlines()[-1:])
    assert failures == []
    trail = OrderTrail(StoreConfig.resolve(tmp_path, fresh_pg_url))
    try:
        assert len(trail.states()) == WRITERS
    finally:
        trail.close()
