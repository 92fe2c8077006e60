"""The rollup benchmark runs end to end at a small size: fills alone built, both routes timed,
a small append and corrections followed by a read that catches the rollup up."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ordertrail.adapters import bench_queries, bench_rollup
from ordertrail.projections.api import Audit


def test_a_fills_only_build_writes_fills_alone(tmp_path: Path) -> None:
    built = bench_queries.build(
        tmp_path / "delta", 400, template_dir=tmp_path / "template", only=("fills",)
    )
    assert built.fills == 400
    assert sorted(p.name for p in (tmp_path / "delta").iterdir()) == ["fills"]


def test_the_benchmark_times_both_routes_and_the_catch_up(tmp_path: Path) -> None:
    out = bench_rollup.run(400, 1, tmp_path)
    assert out["fills"] == 400
    assert out["route"].startswith("answered from the rollup")
    for key in ("aggregate_from_rollup_ms", "aggregate_from_table_ms", "baseline_bare_polars_ms",
                "first_read_building_the_rollup_ms", "append_1000_first_read_ms",
                "correct_10_first_read_ms"):  # fmt: skip
        assert out[key] > 0, key
    assert "caught up" in out["append_1000_route"]
    # What the benchmark's commits left: the rollup counts every fill the table holds.
    audit = Audit(tmp_path / "data", root=tmp_path / "delta", refresh=False)
    answered = audit.sql_answer("SELECT count(*) AS n, sum(commission) AS c FROM fills")
    assert answered.route == "rollup"
    table = audit.scan("fills").select(pl.len(), pl.col("commission").sum()).collect()
    assert answered.frame.row(0) == table.row(0)
