"""The positions pass's benchmark times the pass on every operation the orders pass hands it,
fed both ways."""

from __future__ import annotations

from pathlib import Path

from ordertrail.adapters.bench_positions import bench
from ordertrail.adapters.bench_workload import populate
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.projections.api import Audit
from tests.projections.test_tables import contents


def test_the_positions_bench_folds_every_operation_both_ways(tmp_path: Path) -> None:
    written, _ = populate(tmp_path, 600)
    result = bench(tmp_path, 2)
    audit = Audit(StoreConfig.resolve(tmp_path), root=tmp_path / "tables")
    audit.rebuild()
    # One history row per position operation: the bench folded each of them.
    assert result["operations"] == len(contents(audit)["position_history"])
    assert result["events"] == written
    assert [len(result[way]["cpu_s"]) for way in ("fed_arrow", "fed_tuples")] == [2, 2]
    assert [len(result[way]["wall_s"]) for way in ("fed_arrow", "fed_tuples")] == [2, 2]
    audit.close()
