"""The rebuild's orders pass and its groups alone: what they cost the main thread, apart from
reading and decoding the log (which the rebuild does on a thread of its own).

``python -m ordertrail.adapters.bench_orders STORE [repeats]`` on a store already populated
(``bench_workload.populate``): the log is decoded into chunks once, as the rebuild reads it
(``rebuild.rebuild_chunks``), and held in memory (about 1.5 GiB at 1,000,000 events); the
decoding's time is the same-run baseline. Then, ``repeats`` times, every chunk is taken by the
orders pass (``columnar_pass.take_chunk``, columns where they cover, the fold for the rest,
into fresh spill files) and the brackets' and OCA groups' rows are made and spilled
(``rebuild.spill_groups``), and, apart, every chunk is split between the columns and the fold
(``columnar_frame.split``, the first step of the pass: what it costs of the pass's time). It
prints medians of CPU and wall-clock seconds with the events, the group rows they made and
the orders the split sent to the fold.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _timed(run: Callable[[], object]) -> tuple[float, float, object]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = run()
    return time.process_time() - cpu, time.perf_counter() - wall, out


def _pass(chunks: list[Any], log: Any, head: int) -> dict[str, Any]:
    """One orders pass over the chunks, then the groups: CPU and wall seconds of each."""
    from ordertrail.adapters.store.rebuild import cyclic_gc_paused
    from ordertrail.projections import rebuild
    from ordertrail.projections.columnar_frame import split
    from ordertrail.projections.columnar_pass import take_chunk
    from ordertrail.projections.spill import SpillFolder, read_spill

    spill = SpillFolder()
    try:
        with cyclic_gc_paused():
            fold = rebuild.OrderPass(spill, head)
            orders_cpu, orders_wall, _ = _timed(
                lambda: [take_chunk(fold, chunk, log, head, True) for chunk in chunks]
            )
            groups_cpu, groups_wall, path = _timed(lambda: rebuild.spill_groups(fold, spill))
            split_cpu, split_wall, folded = _timed(
                lambda: sum(len(split(chunk).fallback) for chunk in chunks)
            )
        return {
            "orders_pass": {"cpu_s": orders_cpu, "wall_s": orders_wall},
            "groups": {"cpu_s": groups_cpu, "wall_s": groups_wall},
            "split": {"cpu_s": split_cpu, "wall_s": split_wall},
            "group_rows": 0 if path is None else read_spill(path).num_rows,  # type: ignore[arg-type]
            "folded_orders": folded,
        }
    finally:
        spill.remove()


def run(store: Path, repeats: int) -> dict[str, Any]:
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog
    from ordertrail.projections.rebuild import rebuild_chunks

    with EventLog.open(StoreConfig.resolve(store)) as log:
        head = log.head()
        decode_cpu, decode_wall, decoded = _timed(lambda: list(rebuild_chunks(log, head)))
        chunks: list[Any] = decoded  # type: ignore[assignment]
        events = sum(int(c.log.num_rows) for c in chunks)
        runs = []
        for _ in range(repeats):
            gc.collect()
            runs.append(_pass(chunks, log, head))
    out: dict[str, Any] = {
        "events": events,
        "chunks": len(chunks),
        "repeats": repeats,
        "group_rows": runs[-1]["group_rows"],
        "folded_orders": runs[-1]["folded_orders"],
    }
    for stage in ("orders_pass", "groups", "split"):
        out[stage] = {
            k: round(statistics.median(r[stage][k] for r in runs), 3) for k in ("cpu_s", "wall_s")
        }
    out["orders_pass"]["cpu_events_per_s"] = round(events / max(out["orders_pass"]["cpu_s"], 1e-9))
    out["baseline_decode_once"] = {"cpu_s": round(decode_cpu, 3), "wall_s": round(decode_wall, 3)}
    return out


if __name__ == "__main__":
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(run(Path(sys.argv[1]), repeats), indent=2))
