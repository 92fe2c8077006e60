"""``python -m ordertrail.adapters.bench_orders STORE``: the rebuild's orders pass and groups
alone, over chunks decoded once (tiny: this checks the command and what it counts, never a
timing)."""

from __future__ import annotations

from pathlib import Path

from ordertrail.adapters import bench_orders
from ordertrail.adapters.bench_workload import populate


def test_the_orders_bench_takes_every_event_and_makes_the_groups(tmp_path: Path) -> None:
    written, _ = populate(tmp_path, 600)
    out = bench_orders.run(tmp_path, 2)
    assert out["events"] == written
    assert out["chunks"] >= 1
    # The workload places brackets (a parent, its take-profit and stop in one OCA group).
    assert out["group_rows"] > 0
    assert out["orders_pass"]["cpu_s"] > 0
    assert out["split"]["cpu_s"] > 0
    # Every order of the workload takes the columns.
    assert out["folded_orders"] == 0
    assert out["baseline_decode_once"]["cpu_s"] > 0
