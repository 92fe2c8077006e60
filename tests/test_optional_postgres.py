"""The README's main job runs on a machine without PostgreSQL's driver (the ``[postgres]``
extra): nothing on the SQLite path may import psycopg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
sys.modules["psycopg"] = None  # as if the [postgres] extra were not installed
from decimal import Decimal
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType
from ordertrail.projections.api import Audit

config = StoreConfig.resolve(sys.argv[1])
trail = OrderTrail(config)
spec = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.LIMIT, limit_price=Decimal(1))
oid = trail.place(client_order_id="OT-nopg-1", contract=ContractRef(265598, "AAPL"), spec=spec)
print(Audit(config).orders().height)
"""


def test_a_sqlite_store_needs_no_postgres_driver(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
