"""The columnar decode of the log (``columnar_log.decoded_chunks``) against the Python decode
the rebuild uses today, in the same run, on a store already populated
(``bench_workload.populate``); and the decode's peak memory in a fresh process.

    python -m ordertrail.adapters.bench_columnar DIR [repeats] [rows_per_chunk]
    python -m ordertrail.adapters.bench_columnar DIR memory [rows_per_chunk]
    python -m ordertrail.adapters.bench_columnar DIR parts [repeats] [rows_per_chunk]
    python -m ordertrail.adapters.bench_columnar DIR decode [repeats] [rows_per_chunk]

``DIR`` holds the store (``events.sqlite``): copy a store first, a reader of a WAL store
writes beside it. Prints JSON: medians of events per second of CPU and of wall-clock time,
the two routes alternated in each repeat. ``parts``: the CPU seconds of the decode's two C
stages measured alone (the log read through ADBC; Arrow's JSON reader on each topic's rows
with the decoder's schema, and with one field only, the reader's floor) beside the whole
decode, alternated in each repeat. ``decode``: the columnar decode alone (no Python decode
beside it), for a shell loop that alternates two versions of the code on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _columnar(directory: Path, rows: int, head: int | None = None) -> Callable[[], int]:
    from ordertrail.adapters.store.columnar_log import decoded_chunks
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog

    def run() -> int:
        with EventLog.open(StoreConfig.resolve(directory)) as log:
            upto = log.head() if head is None else head
            return sum(c.log.num_rows for c in decoded_chunks(log, upto, rows))

    return run


def _python(directory: Path, head: int | None = None) -> Callable[[], int]:
    """The baseline: the rebuild's read and decode today (order by order, msgspec), one
    domain event per row."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog
    from ordertrail.adapters.store.projection_decode import decode_rows_for_projection
    from ordertrail.adapters.store.rebuild import cyclic_gc_paused

    def run() -> int:
        n = 0
        with EventLog.open(StoreConfig.resolve(directory)) as log, cyclic_gc_paused():
            upto = log.head() if head is None else head
            for _ in decode_rows_for_projection(log.rows_by_order(upto)):
                n += 1
        return n

    return run


def _timed(run: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = run()
    return n, time.perf_counter() - wall, time.process_time() - cpu


def _alternated(
    routes: dict[str, Callable[[], int]], repeats: int
) -> dict[str, list[tuple[int, float, float]]]:
    """Each route's (count, wall, CPU) of each repeat, the routes run in turn in each."""
    seen: dict[str, list[tuple[int, float, float]]] = {name: [] for name in routes}
    for _ in range(repeats):
        for name, run in routes.items():
            seen[name].append(_timed(run))
    return seen


def rates(directory: Path, repeats: int, rows: int) -> dict[str, Any]:
    routes = {"columnar": _columnar(directory, rows), "python_decode": _python(directory)}
    # Imports and each topic's decoder made once, outside the figures.
    _columnar(directory, rows, 20_000)()
    _python(directory, 20_000)()
    seen = _alternated(routes, repeats)
    out: dict[str, Any] = {"store": str(directory), "repeats": repeats, "rows_per_chunk": rows}
    for name, runs in seen.items():
        events = runs[0][0]
        out[name] = {
            "events": events,
            "cpu_s": round(statistics.median(r[2] for r in runs), 3),
            "wall_s": round(statistics.median(r[1] for r in runs), 3),
            "events_per_cpu_s": round(statistics.median(events / r[2] for r in runs)),
            "events_per_wall_s": round(statistics.median(events / r[1] for r in runs)),
        }
    base = out["python_decode"]
    out["columnar_vs_python_cpu"] = round(base["cpu_s"] / out["columnar"]["cpu_s"], 2)
    out["columnar_vs_python_wall"] = round(base["wall_s"] / out["columnar"]["wall_s"], 2)
    return out


def decode_only(directory: Path, repeats: int, rows: int) -> dict[str, Any]:
    """CPU and wall-clock seconds (medians) of the columnar decode alone."""
    import ordertrail

    run = _columnar(directory, rows)
    _columnar(directory, rows, 20_000)()  # imports and each topic's decoder, outside
    runs = _alternated({"decode": run}, repeats)["decode"]
    return {
        "store": str(directory),
        "code": str(Path(ordertrail.__file__).parent),
        "repeats": repeats,
        "rows_per_chunk": rows,
        "events": runs[0][0],
        "cpu_s": round(statistics.median(r[2] for r in runs), 3),
        "wall_s": round(statistics.median(r[1] for r in runs), 3),
    }


def _pages(directory: Path, rows: int) -> Callable[[], list[Any]]:
    from ordertrail.adapters.store.columnar_read import order_pages
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog

    def run() -> list[Any]:
        with EventLog.open(StoreConfig.resolve(directory)) as log:
            return list(order_pages(log, log.head(), rows))

    return run


def _by_topic(pages: list[Any]) -> list[tuple[str, Any]]:
    """Each page's payloads of each known topic, as the decoder hands them to the reader."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    from ordertrail.adapters.store.columnar_schema import KNOWN

    out = []
    for page in pages:
        encoded = pc.dictionary_encode(page["topic"]).combine_chunks()
        codes = np.asarray(encoded.indices)
        for code, topic in enumerate(encoded.dictionary.to_pylist()):
            if topic in KNOWN:
                rows = pa.array(np.flatnonzero(codes == code))
                out.append((topic, page["payload"].take(rows).combine_chunks()))
    return out


def _parse(payloads: list[tuple[str, Any]], one_field: bool) -> Callable[[], int]:
    """Arrow's JSON reader over every topic's payloads: with the decoder's schema (unknown
    keys an error), or with ``timestamp`` alone (the others skipped)."""
    import pyarrow as pa

    from ordertrail.adapters.store.columnar_parse import _read, parse_schema
    from ordertrail.adapters.store.columnar_schema import KNOWN

    only = pa.schema([pa.field("timestamp", pa.string())])
    schemas = {t: parse_schema(s) for t, s in KNOWN.items()}

    def run() -> int:
        n = 0
        for topic, rows in payloads:
            table = _read(rows, only, "ignore") if one_field else _read(rows, schemas[topic])
            n += 0 if table is None else table.num_rows
        return n

    return run


def parts(directory: Path, repeats: int, rows: int) -> dict[str, Any]:
    """CPU seconds (medians) of the decode's stages alone beside the whole decode."""
    pages = _pages(directory, rows)
    payloads = _by_topic(pages())
    routes = {
        "decode": _columnar(directory, rows),
        "read": lambda: sum(p.num_rows for p in pages()),
        "parse_every_field": _parse(payloads, False),
        "parse_one_field": _parse(payloads, True),
    }
    seen = _alternated(routes, repeats)
    out: dict[str, Any] = {"store": str(directory), "repeats": repeats, "rows_per_chunk": rows}
    for name, runs in seen.items():
        out[name] = {"rows": runs[0][0], "cpu_s": round(statistics.median(r[2] for r in runs), 3)}
    return out


def memory(directory: Path, rows: int) -> dict[str, Any]:
    """Peak RSS of a fresh process decoding the whole log chunk by chunk (each dropped when
    the next comes, as a rebuild consumes them), against one that only opened the store."""
    from ordertrail.adapters.bench import peak_memory

    found = peak_memory(
        """
from ordertrail.adapters.store.columnar_log import decoded_chunks
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
log = EventLog.open(StoreConfig.resolve(Path(sys.argv[1])))
head = log.head()
""",
        """
extra["events"] = 0
for chunk in decoded_chunks(log, head, int(sys.argv[2])):
    extra["events"] += chunk.log.num_rows
    del chunk
""",
        str(directory),
        str(rows),
    )
    return {"store": str(directory), "rows_per_chunk": rows, **found}


if __name__ == "__main__":
    from ordertrail.adapters.store.columnar_log import ROWS_PER_CHUNK

    store = Path(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "parts":
        repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
        size = int(sys.argv[4]) if len(sys.argv) > 4 else ROWS_PER_CHUNK
        print(json.dumps(parts(store, repeats, size), indent=2))
    elif len(sys.argv) > 2 and sys.argv[2] == "decode":
        repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
        size = int(sys.argv[4]) if len(sys.argv) > 4 else ROWS_PER_CHUNK
        print(json.dumps(decode_only(store, repeats, size), indent=2))
    elif len(sys.argv) > 2 and sys.argv[2] == "memory":
        size = int(sys.argv[3]) if len(sys.argv) > 3 else ROWS_PER_CHUNK
        print(json.dumps(memory(store, size), indent=2))
    else:
        repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
        size = int(sys.argv[3]) if len(sys.argv) > 3 else ROWS_PER_CHUNK
        print(json.dumps(rates(store, repeats, size), indent=2))
