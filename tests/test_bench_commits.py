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
