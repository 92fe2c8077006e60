"""``python -m ordertrail.adapters.bench_commits STORE``: the rebuild's commits alone, each table
committed from the chunks a rebuild yields, beside Arrow writing the same rows (tiny: this
checks the command and what it counts, never a timing)."""

from __future__ import annotations

from pathlib import Path

from ordertrail.adapters import bench_commits
from ordertrail.adapters.bench_workload import populate
from ordertrail.projections.schema import TABLES


def test_the_commits_bench_counts_every_tables_rows_files_and_commits(tmp_path: Path) -> None:
    written, orders = populate(tmp_path, 600)
    out = bench_commits.run(tmp_path, 1)
    assert out["events"] == written
    committed = out["commits"]
    assert committed["events"]["rows"] == written
    assert committed["orders"]["rows"] == orders
    for spec in TABLES:
        assert committed[spec.name]["commits"] == 1  # created by the commit naming its files
        assert committed[spec.name]["files"] >= 1
        assert out["baseline_bare_parquet"][spec.name]["cpu_s"] >= 0
    assert committed["all"]["cpu_s"] > 0


def test_the_tail_bench_rebuilds_both_ways_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """``… STORE 1 tail``: the rebuild with its files written beside the passes, and the same
    rebuild committing one table after another, each into a fresh folder it then removes."""
    populate(tmp_path / "store", 600)
    out = bench_commits.tail(tmp_path / "store", 1)
    for way in ("overlapped", "baseline_one_after_another"):
        figures = out[way]
        assert 0 <= figures["after_passes_wall_s"] <= figures["rebuild_wall_s"]
        assert figures["rebuild_cpu_s"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
