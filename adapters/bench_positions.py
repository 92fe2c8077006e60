"""The rebuild's positions pass alone, on a ready store: ``python -m
ordertrail.adapters.bench_positions STORE [REPEATS]``.

The orders pass runs once; what it hands the positions pass (each fill event's operation and
each fill row) is kept as Arrow. Then, ``REPEATS`` times, alternately: the pass fed those
operations as Arrow tables (the columnar orders route's way) and fed them as ``Op`` tuples
(the fold's way: converted to columns when the inputs are flushed, before the clock starts),
each on fresh spill files, with the cyclic collector paused as in a rebuild. Prints JSON: the
median CPU and wall seconds of ``positions_pass`` (the history rows' ranges and the fill rows'
ranges of keys read back included), µs of CPU per operation and operations per second of
each. (Before/after figures of a change come from running this in turn with each version
installed: docs/benchmarks.md.)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import cyclic_gc_paused
from ordertrail.projections.op_spill import op_tuples
from ordertrail.projections.position_pass import PositionInputs, positions_pass
from ordertrail.projections.rebuild import orders_pass
from ordertrail.projections.spill import SpillFolder, read_spill


def pass_inputs(store: Path) -> tuple[int, pa.Table, pa.Table]:
    """(log head, every operation, every fill row) the orders pass hands the positions pass."""
    spill = SpillFolder()
    try:
        with EventLog.open(StoreConfig.resolve(store)) as log:
            head = log.head()
            fold, _ = orders_pass(log, head, spill, None)
        inputs = fold.position_inputs
        inputs.flush()
        if any(bucket.misfits.position_keys() for bucket in inputs.ops):
            raise SystemExit("bench_positions: the store has operations the columns cannot hold")
        ops = pa.concat_tables([bucket.table() for bucket in inputs.ops])
        paths = [p for p in (f.close() for f in inputs.fills) if p is not None]
        fills = pa.concat_tables([read_spill(p) for p in paths])
        return head, ops.combine_chunks(), fills.combine_chunks()
    finally:
        spill.remove()


def timed_pass(head: int, ops: pa.Table, fills: pa.Table, as_tuples: bool) -> tuple[float, float]:
    """CPU and wall seconds of one positions pass fed ``ops`` one way."""
    spill = SpillFolder()
    try:
        inputs = PositionInputs(spill, head)
        if as_tuples:
            for op in op_tuples(ops):
                inputs.add_op(op)
        else:
            for batch in ops.to_batches(65_536):
                inputs.add_ops(pa.Table.from_batches([batch]))
        inputs.add_fill_rows(fills)
        inputs.flush()
        with cyclic_gc_paused():
            start, wall = time.process_time(), time.perf_counter()
            result = positions_pass(inputs, spill)
            for _ in result.history_out.chunks():
                pass
            for _ in result.fills_out.chunks():
                pass
            return time.process_time() - start, time.perf_counter() - wall
    finally:
        spill.remove()


def bench(store: Path, repeats: int) -> dict[str, Any]:
    head, ops, fills = pass_inputs(store)
    times: dict[str, list[tuple[float, float]]] = {"arrow": [], "tuples": []}
    for _ in range(repeats):
        for way in times:
            times[way].append(timed_pass(head, ops, fills, way == "tuples"))
    n = ops.num_rows
    out: dict[str, Any] = {"events": head, "operations": n, "repeats": repeats}
    for way, runs in times.items():
        seconds = [cpu for cpu, _ in runs]
        median = statistics.median(seconds)
        out[f"fed_{way}"] = {
            "cpu_s": [round(s, 3) for s in seconds],
            "median_cpu_s": round(median, 3),
            "wall_s": [round(w, 3) for _, w in runs],
            "median_wall_s": round(statistics.median(w for _, w in runs), 3),
            "us_per_operation": round(median / n * 1e6, 2),
            "operations_per_s": round(n / median),
        }
    return out


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(bench(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3)))
