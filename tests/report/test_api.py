"""``import ordertrail``: the notebook's front door. Light to import, the CLI's filters on the
audit frames, pandas when installed, and a clear word when the PostgreSQL extra is missing."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import ordertrail
from ordertrail.adapters.store.config import StoreConfig
from tests.projections.helpers import Desk, at


def test_importing_the_domain_loads_no_io_library() -> None:
    probe = ("import sys, ordertrail.domain.order\n"
             "print(sorted(m for m in ('polars', 'deltalake', 'ib_async', 'plotly')"
             " if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_front_door_names() -> None:
    assert ordertrail.__version__ == version("ordertrail")
    assert ordertrail.Audit.__module__ == "ordertrail.projections.api"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ordertrail.Nope  # noqa: B018


def test_audit_view_takes_the_cli_filters_and_converts_to_pandas(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=10, limit="10")
    desk.status("OT-1", "Submitted", 0, 10)
    desk.fill("OT-1", "x1.01", 10, "10", at=at(1))
    desk.place("OT-2", quantity=5, limit="20", account="U2")
    desk.error("OT-2", 201, "Order rejected - reason: margin")
    audit = ordertrail.Audit(str(tmp_path / "data"))
    assert audit.view("orders", account="U2")["client_order_id"].to_list() == ["OT-2"]
    assert audit.view("orders", status=["Filled"])["client_order_id"].to_list() == ["OT-1"]
    assert audit.view("fills", since="2024-03-16", tz="UTC").is_empty()
    assert audit.view("fills", until="2024-03-16", tz="UTC").height == 1
    assert audit.errors()["client_order_id"].to_list() == ["OT-2"]
    positions = audit.view("positions", symbol="AAPL").to_pandas()
    assert positions["quantity"].tolist() == [10]
    with pytest.raises(ValueError, match="no view 'trades'"):
        audit.view("trades")


def test_a_postgresql_store_without_the_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ValueError, match=r"pip install 'ordertrail\[postgres\]'"):
        StoreConfig.resolve(None, "postgresql://trader@127.0.0.1/ordertrail")
