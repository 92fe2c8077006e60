"""Projection benchmark: rebuild every Delta table from N stored events, then time the audit
queries over the fills that produced.

``run(events, repeats)`` returns a dict (medians over repeats) for ``ordertrail bench``. The
machines this runs on are shared and noisy: read the figures as orders of magnitude and compare
ratios to the baselines measured in the same run (``decode_only``: reading and decoding the log
as the rebuild does, folding nothing; ``baseline_sqlite_orjson``: bare sqlite3 and orjson over
the same rows). ``rebuild_memory`` is the rebuild's peak memory in a fresh process, on this
store and (``memory_events``) on one of that size and, below it, one of 1,000,000 events.
``incremental`` is the time one update takes after 100 new events, on a store of
``incremental_events`` (100,000 unless told) and of ten times as many, each in a fresh process:
its ratio says whether an update costs what is new (near 1) or the history (near 10). It has
its own size so that the rebuild can be measured at 1,000,000 events without populating
10,000,000 for the update.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from ordertrail.adapters.bench_queries import median_ms
from ordertrail.adapters.bench_workload import T0, append_orders, populate

_REFRESH = """
import json, sys, time
from pathlib import Path
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.projections.api import Audit
audit = Audit(StoreConfig.resolve(Path(sys.argv[1])), refresh=False)
start, cpu = time.perf_counter(), time.process_time()
result = audit.refresh()
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "events": result.events}))
"""


def _refresh_in_fresh_process(directory: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _REFRESH, str(directory)], check=True, capture_output=True, text=True
    )
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def incremental(events: int, repeats: int, new: int = 100) -> dict[str, Any]:
    """Seconds to bring every table up to date after ``new`` more events, on a store of
    ``events`` whose tables are up to date; each update in a fresh process (nothing cached in
    memory), the median over ``repeats``."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.projections.api import Audit

    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        _, orders = populate(directory, events)
        audit = Audit(StoreConfig.resolve(directory), refresh=False)
        audit.rebuild()
        audit.close()
        seconds, cpu = [], []
        for _ in range(max(repeats, 3)):
            orders = append_orders(directory, orders, new)
            out = _refresh_in_fresh_process(directory)
            if out["events"] != new:
                raise RuntimeError(f"the update folded {out['events']} events, not {new}")
            seconds.append(out["seconds"])
            cpu.append(out["cpu"])
    # CPU time beside the wall time: the machine these run on is shared, and a loaded machine
    # stretches the wall time of one update several times over.
    return {
        "events": events,
        "new_events": new,
        "update_s": round(statistics.median(seconds), 3),
        "update_cpu_s": round(statistics.median(cpu), 3),
    }


def incremental_figure(events: int, repeats: int) -> dict[str, Any]:
    """The update after 100 new events on a store of ``events`` and of ten times as many: the
    ratio between them is the figure to watch (it stays near 1 when an update costs what is
    new, and nears 10 when it costs the history)."""
    small = incremental(events, repeats)
    large = incremental(events * 10, repeats)
    return {
        "small": small,
        "large": large,
        "ratio": round(large["update_s"] / max(small["update_s"], 1e-9), 2),
        "cpu_ratio": round(large["update_cpu_s"] / max(small["update_cpu_s"], 1e-9), 2),
    }


def _peak_memory(directory: Path, root: Path) -> dict[str, Any]:
    from ordertrail.adapters.bench import peak_memory

    return peak_memory(
        """
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.projections.api import Audit
audit = Audit(StoreConfig.resolve(Path(sys.argv[1])), root=sys.argv[2] + sys.argv[-1],
              refresh=False)
audit.projector
""",
        "audit.rebuild()",
        str(directory),
        str(root),
    )


def _decode_only(audit: Any) -> int:
    """Read and decode every stored event as the rebuild does (order by order, with its
    stored JSON), folding nothing."""
    from ordertrail.adapters.store.projection_decode import decode_rows_for_projection
    from ordertrail.adapters.store.rebuild import cyclic_gc_paused

    log = audit.projector.log
    n = 0
    with cyclic_gc_paused():
        for _ in decode_rows_for_projection(log.rows_by_order(log.head())):
            n += 1
    return n


def _rates(written: int, run: Callable[[], int]) -> tuple[float, float]:
    """(events per second of wall-clock time, per second of this process's CPU time) of one
    run of ``run``, which returns the events it read (``written`` when it returns 0). On a
    shared machine the CPU-time rate is the steadier of the two."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = run() or written
    return n / (time.perf_counter() - wall), n / max(time.process_time() - cpu, 1e-9)


def rebuild_memory(events: int, store: Path | None = None) -> dict[str, Any]:
    """The rebuild's peak memory (VmHWM of a fresh process, beside one that only opened the
    store) on a store of ``events`` events of the workload: in ``store`` if given (populated
    there unless it holds them already: 10,000,000 events take tens of minutes to write, and
    can then be measured again), else in a temporary folder."""
    if store is not None:
        written = _populated(store, events)
        with tempfile.TemporaryDirectory() as tables:
            return {"events": written, **_peak_memory(store, Path(tables) / "probe")}
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        written, _ = populate(directory, events)
        return {"events": written, **_peak_memory(directory, directory / "probe")}


def _populated(store: Path, events: int) -> int:
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog

    config = StoreConfig.resolve(store)
    if config.sqlite_path.exists():
        with EventLog.open(config) as log:
            head = log.head()
        if head != events:
            raise SystemExit(f"{config.sqlite_path}: holds {head} events, not {events}")
        return head
    written, _ = populate(store, events)
    return written


def memory_sizes(events: int, memory_events: int | None) -> list[int]:
    """The store sizes the rebuild's peak memory is measured on besides the benchmark's own:
    1,000,000 events and ``memory_events`` (the goal is stated at 10,000,000)."""
    if memory_events is None:
        return []
    return sorted({n for n in (1_000_000, memory_events) if n != events and n <= memory_events})


def _orders_pass_only(audit: Any, columns: bool = False) -> int:
    """The rebuild's orders pass alone (read, decode, fold or columns, the events, orders and
    fill rows spilled, the operations handed over), no positions pass and no commit: through
    the fold for every order, or (``columns``) from decoded chunks."""
    from ordertrail.adapters.store.rebuild import cyclic_gc_paused
    from ordertrail.projections.rebuild import columnar_orders_pass, orders_pass
    from ordertrail.projections.spill import SpillFolder

    log = audit.projector.log
    head = log.head()
    spill = SpillFolder()
    try:
        with cyclic_gc_paused():
            if columns:
                chunks = _columnar_chunks()(log, head)
                fold, n = columnar_orders_pass(log, head, spill, None, chunks)
            else:
                fold, n = orders_pass(log, head, spill, None)
            fold.events_out.flush()
            fold.position_inputs.flush()
    finally:
        spill.remove()
    return n


def _columnar_chunks() -> Any:
    from ordertrail.projections.rebuild import rebuild_chunks

    return rebuild_chunks


@contextmanager
def _route(columns: bool) -> Iterator[None]:
    """Rebuilds in this block take the columnar route (``columns``) or fold every order."""
    from ordertrail.projections import rebuild

    before = rebuild.DEFAULT_CHUNKS
    rebuild.DEFAULT_CHUNKS = _columnar_chunks() if columns else None
    try:
        yield
    finally:
        rebuild.DEFAULT_CHUNKS = before


def _rebuild_by(audit: Any, columns: bool) -> int:
    with _route(columns):
        events: int = audit.rebuild().events
    return events


def on_store(store: Path, repeats: int) -> dict[str, Any]:
    """The rebuild's rates on a store already populated (``populate``: 1,000,000 events take
    minutes to write, and each version of the code is then measured on the same rows), by
    both routes of its orders pass (every order folded, the route before the columns, and the
    columnar route), with the orders pass alone and the same-run baselines (decode only; bare
    sqlite3 + orjson), medians in events per second of CPU time and of wall-clock time."""
    from ordertrail.adapters.bench import _baseline_scan
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.projections.api import Audit

    config = StoreConfig.resolve(store)
    runs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as d:
        audit = Audit(config, root=Path(d) / "delta", refresh=False)
        written = audit.projector.log.head()
        measured: dict[str, Callable[[], int]] = {
            "rebuild": lambda: _rebuild_by(audit, columns=False),
            "rebuild_columnar": lambda: _rebuild_by(audit, columns=True),
            "orders_pass": lambda: _orders_pass_only(audit),
            "orders_pass_columnar": lambda: _orders_pass_only(audit, columns=True),
            "decode_only": lambda: _decode_only(audit),
            "baseline_sqlite_orjson": lambda: _baseline_scan(config.sqlite_path),
        }
        for _ in range(repeats):
            for name, measure in measured.items():
                runs.setdefault(name, []).append(_rates(written, measure))
        audit.close()
    out: dict[str, Any] = {"events": written, "repeats": repeats}
    for name, rates in runs.items():
        out[name] = {
            "cpu_events_per_s": round(statistics.median(r[1] for r in rates)),
            "wall_events_per_s": round(statistics.median(r[0] for r in rates)),
        }
    cpu = {name: out[name]["cpu_events_per_s"] for name in runs}
    out["rebuild_vs_decode_only_cpu"] = round(cpu["rebuild"] / cpu["decode_only"], 3)
    out["columnar_vs_fold_cpu"] = {
        "rebuild": round(cpu["rebuild_columnar"] / cpu["rebuild"], 3),
        "orders_pass": round(cpu["orders_pass_columnar"] / cpu["orders_pass"], 3),
    }
    return out


def run(
    events: int,
    repeats: int,
    *,
    incremental: bool = True,
    memory_events: int | None = None,
    incremental_events: int | None = None,
) -> dict[str, Any]:
    """The rebuild's rate on ``events`` events with its same-run baselines, the queries over
    what it wrote, its peak memory there and (``memory_events``) on a store of that size, and
    the incremental figure on stores of ``incremental_events`` (default ``events``) and ten
    times as many."""
    from ordertrail.adapters.bench import _baseline_scan
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.projections.api import Audit

    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        written, orders = populate(directory, events)
        config = StoreConfig.resolve(directory)

        audit = Audit(config, root=directory / "delta", refresh=False)
        runs: list[tuple[tuple[float, float], ...]] = []
        for _ in range(repeats):
            runs.append(
                (
                    _rates(written, lambda: audit.rebuild().events),
                    _rates(written, lambda: _decode_only(audit)),
                    _rates(written, lambda: _baseline_scan(config.sqlite_path)),
                )
            )

        fills = audit.scan("fills").select("exec_id").collect().height
        target = f"OT-b{orders // 2}"
        mid = T0 + timedelta(milliseconds=orders // 2)
        aggregate = (
            "SELECT account, symbol, count(*) AS fills, sum(quantity) AS shares, "
            "sum(commission) AS commission, sum(realized_pnl) AS pnl "
            "FROM fills GROUP BY account, symbol ORDER BY account, symbol"
        )

        def queries() -> dict[str, float]:
            return {
                "timeline_ms": median_ms(repeats, lambda: audit.timeline(target)),
                "positions_as_of_recorded_ms": median_ms(
                    repeats, lambda: audit.positions(as_of=mid, clock="recorded")
                ),
                "positions_as_of_ib_ms": median_ms(
                    repeats, lambda: audit.positions(as_of=mid, clock="ib")
                ),
                "sql_aggregate_ms": median_ms(repeats, lambda: audit.sql(aggregate)),
            }

        as_written = queries()
        audit.compact()
        compacted = queries()
        memory = {"events": written, **_peak_memory(directory, directory / "probe")}
        audit.close()

    rebuild, decode, bare = (statistics.median(r[i][0] for r in runs) for i in range(3))
    rebuild_cpu, decode_cpu, bare_cpu = (statistics.median(r[i][1] for r in runs) for i in range(3))
    memories = [memory, *(rebuild_memory(n) for n in memory_sizes(events, memory_events))]
    return {
        "events": written,
        "orders": orders,
        "fills": fills,
        "rebuild_events_per_s": round(rebuild),
        "decode_only_events_per_s": round(decode),
        "baseline_sqlite_orjson_events_per_s": round(bare),
        "rebuild_vs_decode_only": round(rebuild / decode, 3),
        "rebuild_vs_baseline_sqlite_orjson": round(rebuild / bare, 3),
        # The same three rates in events per second of this process's CPU time.
        "cpu_time": {
            "rebuild_events_per_s": round(rebuild_cpu),
            "decode_only_events_per_s": round(decode_cpu),
            "baseline_sqlite_orjson_events_per_s": round(bare_cpu),
            "rebuild_vs_decode_only": round(rebuild_cpu / decode_cpu, 3),
            "rebuild_vs_baseline_sqlite_orjson": round(rebuild_cpu / bare_cpu, 3),
        },
        "rebuild_memory": memories,
        "queries": as_written,
        "queries_after_compact": compacted,
        "incremental": (
            incremental_figure(incremental_events or events, repeats) if incremental else None
        ),
        "repeats": repeats,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    only = sys.argv[3] if len(sys.argv) > 3 else ""  # "incremental", or "rebuild" without it
    memory_at = int(sys.argv[4]) if len(sys.argv) > 4 and only not in ("memory", "store") else None
    if only == "store":  # argv[4]: a populated store (argv[1] is not used)
        print(json.dumps(on_store(Path(sys.argv[4]), r), indent=2))
    elif only == "incremental":
        print(json.dumps(incremental_figure(n, r), indent=2))
    elif only == "memory":  # argv[4]: a folder to keep (or find) the populated store in
        kept = Path(sys.argv[4]) if len(sys.argv) > 4 else None
        print(json.dumps(rebuild_memory(n, kept), indent=2))
    else:
        print(
            json.dumps(run(n, r, incremental=only != "rebuild", memory_events=memory_at), indent=2)
        )
