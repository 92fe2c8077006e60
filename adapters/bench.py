"""``ordertrail bench``: apply, append and rebuild rates, printed as JSON.

Medians over repeats, with a baseline measured in the same process (reading the same rows with
bare sqlite3 + orjson, the floor any rebuild from SQLite pays), because the machines this runs on
are shared and noisy: compare ratios, not absolute numbers between runs.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ordertrail.adapters.store.rebuild import fold_events
from ordertrail.domain.events import OrderCreated
from ordertrail.domain.facts import ExecutionReport, StatusReport
from ordertrail.domain.order import Order
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import ContractRef, Execution, OrderAction, OrderSpec, OrderType, Side

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CONTRACT = ContractRef(265598, "AAPL", exchange="SMART")
SPEC = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("187.25"))


def _fill_order(i: int) -> list[Any]:
    """created, submitted, Submitted, fills of 30, 30, 40 → Filled."""
    ts = T0 + timedelta(microseconds=i)
    o = Order.place(client_order_id=f"OT-b{i}", contract=CONTRACT, spec=SPEC, ts_recorded=ts)
    o.submit(client_id=1, order_id=i + 1, ts_recorded=ts)
    o.record(
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(100),
            perm_id=10_000_000 + i,
        ),
        ts_recorded=ts,
    )
    for n, qty in enumerate((30, 30, 40)):
        o.record(
            ExecutionReport(
                Execution(
                    exec_id=f"0000{i:08x}.{n:04d}.01",
                    time=ts,
                    account="DU1",
                    exchange="NASDAQ",
                    side=Side.BOUGHT,
                    shares=Decimal(qty),
                    price=Decimal("187.25"),
                    perm_id=10_000_000 + i,
                    client_id=1,
                    order_id=i + 1,
                )
            ),
            ts_recorded=ts,
        )
    return list(o.collect_events())


def _cancel_order(i: int) -> list[Any]:
    """created, submitted, Submitted, Cancelled."""
    ts = T0 + timedelta(microseconds=i)
    o = Order.place(client_order_id=f"OT-c{i}", contract=CONTRACT, spec=SPEC, ts_recorded=ts)
    o.submit(client_id=1, order_id=i + 1, ts_recorded=ts)
    for status in ("Submitted", "Cancelled"):
        o.record(
            StatusReport(raw_status=status, filled=Decimal(0), remaining=Decimal(100)),
            ts_recorded=ts,
        )
    return list(o.collect_events())


def fold_with_gc_running(events: list[Any]) -> dict[Any, OrderState]:
    """The same fold with the cyclic collector left running throughout (for comparison)."""
    states: dict[Any, OrderState] = {}
    created = OrderCreated
    for e in events:
        if type(e) is created:
            states[e.originator_id] = e.new_state()
        else:
            e.fold(states[e.originator_id])
    return states


def _folder(events: list[Any], fold: Callable[[list[Any]], object]) -> Callable[[], object]:
    return lambda: fold(events)


def _median_rate(n: int, repeats: int, run: Callable[[], object]) -> dict[str, float]:
    """Wall-clock and this process's CPU time, medians: on a machine shared with other busy
    processes the CPU figure is the steadier one (both are single-threaded work)."""
    samples = [timed(run) for _ in range(repeats)]
    return rate_of(n, samples)


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall-clock seconds, this process's CPU seconds) of one ``run()``; what it returns is
    dropped inside the measurement."""
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - start, time.process_time() - start_cpu


def rate_of(n: int, samples: list[tuple[float, float]]) -> dict[str, float]:
    med = statistics.median(w for w, _ in samples)
    med_cpu = statistics.median(c for _, c in samples)
    return {
        "events": n,
        "median_s": round(med, 4),
        "events_per_s": round(n / med),
        "median_cpu_s": round(med_cpu, 4),
        "events_per_cpu_s": round(n / max(med_cpu, 1e-9)),
    }


def bench_apply(orders: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, make in (("fill", _fill_order), ("cancel", _cancel_order)):
        events = [e for i in range(orders) for e in make(i)]
        per_order = len(events) // orders
        # GC is on. The production fast path (fold_events) pauses the cyclic collector for the
        # length of the fold (rebuild.py says why); the second figure leaves it running.
        result = _median_rate(len(events), repeats, _folder(events, fold_events))
        running = _median_rate(len(events), repeats, _folder(events, fold_with_gc_running))
        result["events_per_s_cyclic_gc_running_throughout"] = running["events_per_s"]
        result["events_per_order"] = per_order
        out[name] = result
    return out


def _fresh_app(directory: Path) -> Any:
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.trail import OrderTrail

    return OrderTrail(StoreConfig.resolve(directory))


def bench_append(repeats: int, orders: int = 2_000) -> dict[str, Any]:
    """One save per event (a live session), and all events of many orders in one save."""
    events_per_save: list[float] = []
    batched: list[float] = []
    n = 0
    for _ in range(repeats):
        sample = [e for i in range(orders) for e in _fill_order(i)]
        n = len(sample)
        with tempfile.TemporaryDirectory() as d:
            app = _fresh_app(Path(d))
            start = time.perf_counter()
            for e in sample:
                app.save(e)
            events_per_save.append(n / (time.perf_counter() - start))
            app.close()
        with tempfile.TemporaryDirectory() as d:
            app = _fresh_app(Path(d))
            start = time.perf_counter()
            for k in range(0, n, 6000):
                app.save(*sample[k : k + 6000])
            batched.append(n / (time.perf_counter() - start))
            app.close()
    return {
        "events": n,
        "one_save_per_event_events_per_s": round(statistics.median(events_per_save)),
        "batched_6000_events_per_s": round(statistics.median(batched)),
    }


def populate(
    directory: Path, events: int, make: Callable[[int], list[Any]] | None = None
) -> tuple[int, int]:
    """Write ``events`` stored events (``make(i)`` gives order i's events; the fill workload by
    default) through eventsourcing's own recorder; returns (events written, orders)."""
    build = make or _fill_order
    app = _fresh_app(directory)
    written = 0
    i = 0
    batch: list[Any] = []
    while written < events:
        evs = build(i)[: events - written]
        batch.extend(evs)
        written += len(evs)
        i += 1
        if len(batch) >= 30_000:
            app.recorder.insert_events([app.mapper.to_stored_event(e) for e in batch])
            batch.clear()
    if batch:
        app.recorder.insert_events([app.mapper.to_stored_event(e) for e in batch])
    app.close()
    return written, i


def _baseline_scan(path: Path) -> int:
    """Bare sqlite3 + orjson over the same rows: the floor for any rebuild from SQLite."""
    import sqlite3

    import orjson

    conn = sqlite3.connect(path)
    n = 0
    loads = orjson.loads
    query = "SELECT originator_id, originator_version, topic, state FROM stored_events"
    for row in conn.execute(query):
        loads(row[3])
        n += 1
    conn.close()
    return n


def bench_encode(repeats: int, orders: int = 2_000) -> dict[str, Any]:
    """Encoding events for the store: sealed with their hash-chain link (what is written)
    against eventsourcing's plain mapper with the same transcoder (the baseline)."""
    from eventsourcing.persistence import Mapper

    from ordertrail.adapters.store.codec import EventMapper, OrjsonTranscoder

    sample = [e for i in range(orders) for e in _fill_order(i)]
    plain: Mapper[Any] = Mapper(transcoder=OrjsonTranscoder())

    def chained() -> None:
        encode = EventMapper().to_stored_event
        for e in sample:
            encode(e)

    def baseline() -> None:
        for e in sample:
            plain.to_stored_event(e)

    sealed = _median_rate(len(sample), repeats, chained)
    base = _median_rate(len(sample), repeats, baseline)
    return {
        "chained": sealed,
        "baseline_unchained": base,
        "chained_vs_baseline": round(sealed["events_per_s"] / base["events_per_s"], 3),
    }


# VmHWM, not ru_maxrss: on Linux a child's ru_maxrss can report its large parent's peak.
_PROBE = """
import json, sys
from pathlib import Path
extra = {}
%s
if sys.argv[-1] == "work":
%s
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        extra["peak_kib"] = int(line.split()[1])
print(json.dumps(extra))
"""


def peak_memory(setup: str, work: str, *args: str) -> dict[str, Any]:
    """Peak RSS of a fresh process that runs ``setup`` then ``work``, against one that runs
    only ``setup``; ``work`` may put figures of its own in the dict ``extra``."""
    indented = "\n".join("    " + line for line in work.strip().splitlines())
    code = _PROBE % (setup.strip(), indented)
    out: dict[str, dict[str, Any]] = {}
    for mode in ("idle", "work"):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args, mode], check=True, capture_output=True, text=True
        )
        out[mode] = json.loads(proc.stdout)
    peak, idle = out["work"].pop("peak_kib"), out["idle"]["peak_kib"]
    return {
        "peak_rss_mib": round(peak / 1024, 1),
        "startup_rss_mib": round(idle / 1024, 1),
        "rebuild_extra_mib": round((peak - idle) / 1024, 1),
        **out["work"],
    }


def run_benchmarks(*, orders: int, events: int, repeats: int) -> str:
    from ordertrail.adapters.bench_rebuild import bench_rebuild

    gc.enable()
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "repeats": repeats,
        "gc": gc.isenabled(),
        "apply_in_memory": bench_apply(orders, repeats),
        "store_append_sqlite": bench_append(max(1, min(repeats, 3))),
        "encode_for_store": bench_encode(repeats),
        "rebuild_from_sqlite": bench_rebuild(events, repeats),
    }
    result["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return json.dumps(result, indent=2)


if __name__ == "__main__":
    # The order-state rebuild alone, without verify or the memory probes:
    # python -m ordertrail.adapters.bench [events] [repeats]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    from ordertrail.adapters.bench_rebuild import bench_rebuild

    print(json.dumps(bench_rebuild(n, r, checks=False), indent=2))
