"""The query benchmark's tables: the projection's schemas and layout, rows of the real shape
(every order's events, fills and history), at any size."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from deltalake import DeltaTable
from typer.testing import CliRunner

from ordertrail.adapters import bench_queries
from ordertrail.adapters.cli import app
from ordertrail.projections.api import Audit
from ordertrail.projections.schema import TABLES


def test_built_tables_have_the_projections_schemas_and_layout(tmp_path: Path) -> None:
    built = bench_queries.build(tmp_path / "delta", 400, template_dir=tmp_path / "template")
    assert (built.fills, built.orders) == (400, 96)
    audit = Audit(tmp_path / "data", root=tmp_path / "delta", refresh=False)
    for spec in TABLES:
        if spec.name == "brackets":  # the template's orders have no parent and no OCA group
            continue
        dt = DeltaTable(audit.tables.uri(spec.name))
        assert dt.schema().to_arrow().names == spec.schema.names, spec.name
        assert dt.metadata().partition_columns == list(spec.partition_by), spec.name
    fills = audit.scan("fills").collect()
    assert fills.height == 400
    assert fills["exec_base_id"].is_unique().all()
    assert fills["exec_base_id"].is_sorted()
    orders = audit.scan("orders").collect()
    assert orders["order_key"].is_sorted()
    assert orders["perm_id"].is_unique().all()
    assert orders["account"].n_unique() == bench_queries.ACCOUNTS
    events = audit.scan("events").collect()
    assert events.height == built.events
    assert events["notification_id"].is_unique().all()
    per_order = orders.join(events.group_by("order_id").len(), on="order_id")
    assert (per_order["len"] == per_order["events"]).all()
    assert (events["day"] == events["ts_recorded"].dt.date()).all()
    # Orders spread over the year's trading days, each order's own events within it.
    assert events["day"].n_unique() > 50
    one = orders.row(37, named=True)
    timeline = audit.timeline(one["client_order_id"])
    assert timeline.height == one["events"]
    assert timeline["summary"].str.contains(one["symbol"]).any()
    payloads = events.filter(pl.col("order_id") == one["order_id"])["payload"]
    assert payloads.str.contains(one["client_order_id"]).any()
    history = audit.scan("position_history").collect()
    assert history.height == built.history_rows
    assert (
        history.filter(pl.col("cause") == "ExecutionRecorded")["exec_id"]
        .is_in(fills["exec_id"].to_list() + fills["replaces_exec_id"].drop_nulls().to_list())
        .all()
    )


def test_bench_refuses_a_size_below_one_fill() -> None:
    result = CliRunner().invoke(app, ["bench", "--suite", "projections", "--fills", "0"])
    assert result.exit_code == 1
    assert "--fills must be at least 1" in result.output
