"""The SQL aggregate over every fill answered from the rollup of ``fills`` against the same
statement over the table, in one process, and what keeping the rollup up to date costs.

``fills`` is written as ``bench_queries.build`` writes it (the projection's own writer, one
commit, files in key order), alone. Then, medians of ``repeats``, the two routes alternated:

* the bench's aggregate through the gate, answered from the rollup (``Audit.sql``) and from
  the table (the gate's checked statement run by polars over ``fills``, as before the
  rollup), and the same aggregate written in bare polars;
* the rollup built from the table (the first read after a rebuild);
* a small commit as the projection makes it (new fills merged by key; corrections: fills
  already in the table updated in place, which rewrites the files holding them), then the
  first read after it: the rollup catches up from the log and answers.

``python -m ordertrail.adapters.bench_rollup FILLS REPEATS [FOLDER]`` prints the JSON; with a
folder, tables already built there (``FOLDER/delta``) are used and new ones kept.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ordertrail.adapters.bench_queries import AGGREGATE, build

if TYPE_CHECKING:
    from ordertrail.projections.api import Audit

# New fills in one commit (about a minute of an active account) and corrections in another.
APPENDED = 1_000
CORRECTED = 10


def _ms(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def _median(times: list[float]) -> float:
    return round(statistics.median(times), 2)


def _routes(audit: Audit, repeats: int) -> dict[str, float]:
    from ordertrail.projections.sql import run_sql

    def over_table() -> object:
        return run_sql({"fills": audit.scan("fills")}, AGGREGATE)

    def bare() -> object:
        return (
            audit.scan("fills")
            .group_by("account", "symbol")
            .agg(pl.len(), pl.col("quantity", "commission", "realized_pnl").sum())
            .collect()
        )

    rollup: list[float] = []
    table: list[float] = []
    polars: list[float] = []
    for _ in range(repeats):
        rollup.append(_ms(lambda: audit.sql(AGGREGATE)))
        table.append(_ms(over_table))
        polars.append(_ms(bare))
    return {
        "aggregate_from_rollup_ms": _median(rollup),
        "aggregate_from_table_ms": _median(table),
        "baseline_bare_polars_ms": _median(polars),
    }


def _commit(audit: Audit, frame: pl.DataFrame, position: int) -> None:
    from ordertrail.projections.rows import Batch
    from ordertrail.projections.schema import FILLS
    from ordertrail.projections.tables import Source

    tables = audit.tables
    batch = Batch(frame.to_arrow().cast(FILLS.schema))
    tables.write(tables.state(FILLS), batch, Source(1, position, 1), overwrite=False)


def _new_fills(audit: Audit, round_: int) -> pl.DataFrame:
    """``APPENDED`` fills after every fill in the table (execIds grow, as IB's do)."""
    last = audit.scan("fills").tail(APPENDED).collect()
    return last.with_columns(
        pl.concat_str(pl.lit(f"zzzz{round_:04d}."), pl.col("exec_base_id")).alias("exec_base_id")
    )


def _corrections(audit: Audit, round_: int) -> pl.DataFrame:
    """``CORRECTED`` fills of one stretch of the table with a new commission."""
    every = audit.scan("fills")
    rows = every.slice(round_ * 97_003 % 900_000, CORRECTED).collect()
    return rows.with_columns((pl.col("commission") + 1).alias("commission"))


def _catch_up(audit: Audit, repeats: int, make: Callable[[Audit, int], pl.DataFrame],
              name: str, position: int) -> dict[str, Any]:  # fmt: skip
    commits: list[float] = []
    reads: list[float] = []
    details = []
    for n in range(repeats):
        frame = make(audit, n)
        start = time.perf_counter()
        _commit(audit, frame, position + n)
        commits.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        answered = audit.sql_answer(AGGREGATE)
        reads.append((time.perf_counter() - start) * 1000)
        details.append(answered.detail)
    return {
        f"{name}_commit_ms": _median(commits),
        f"{name}_first_read_ms": _median(reads),
        f"{name}_route": details[-1],
    }


def measure(root: Path, repeats: int) -> dict[str, Any]:
    from ordertrail.projections import rollup
    from ordertrail.projections.api import Audit

    audit = Audit(root / "data", root=root / "delta", refresh=False)
    rebuilds = []
    for _ in range(max(1, repeats // 3)):
        rollup.path(audit.tables).unlink(missing_ok=True)
        rebuilds.append(_ms(lambda: audit.sql(AGGREGATE)))
    out: dict[str, Any] = {
        "fills": audit.scan("fills").select(pl.len()).collect().item(),
        "fills_files": len(audit.tables.table("fills").file_uris()),  # type: ignore[union-attr]
        "route": audit.sql_answer(AGGREGATE).explained,
        "first_read_building_the_rollup_ms": _median(rebuilds),
        **_routes(audit, repeats),
    }
    out |= _catch_up(audit, repeats, _new_fills, f"append_{APPENDED}", 10**9)
    out |= _catch_up(audit, repeats, _corrections, f"correct_{CORRECTED}", 2 * 10**9)
    out |= {"after_commits_" + k: v for k, v in _routes(audit, repeats).items()}
    return out


def run(fills: int, repeats: int, folder: Path | None = None) -> dict[str, Any]:
    if folder is not None and (folder / "delta" / "fills").exists():
        return {"repeats": repeats, **measure(folder, repeats)}
    with tempfile.TemporaryDirectory() as d:
        root = folder or Path(d)
        built = build(root / "delta", fills, template_dir=Path(d) / "template", only=("fills",))
        return {"build_s": round(built.seconds, 1), "repeats": repeats,
                **measure(root, repeats)}  # fmt: skip


if __name__ == "__main__":
    import json

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    where = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(run(n, r, where), indent=2))
