"""The rebuild's commits alone: what committing every table costs, apart from making its rows.

``python -m ordertrail.adapters.bench_commits STORE [repeats] [tail]`` on a store already
populated (``bench_workload.populate``): every table's chunks, as the rebuild yields them
(``Rebuild.tables``), are saved once as Arrow IPC files in a temporary folder; then, ``repeats``
times, they are committed into a fresh folder as the rebuild commits them
(``DeltaTables.rewrite``) and, as the same-run baseline, written by Arrow's Parquet writer into
one bare file per table (no Delta log, no statistics, no partitions). It prints medians of CPU
and wall-clock seconds, per table and in all, with each table's rows, files and commits.

``tail``: the whole rebuild of the store into a fresh folder, ``repeats`` times each way,
alternated, and what it costs from the end of the positions pass to its last commit (wall
clock, and the CPU of every thread): as the rebuild writes (``file_writes.commit_rebuilt``:
files written on background threads beside the passes, ADR 0117) and, as the same-run
baseline, every table written and committed one after another once the passes are over, as
before (``DeltaTables.rewrite``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

Saved = dict[str, list[Path]]


def save_chunks(store: Path, folder: Path) -> tuple[int, Saved, dict[str, int]]:
    """Every table's chunks from a rebuild of ``store``, each in its own IPC file; the log
    head, the files, each table's rows."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog
    from ordertrail.projections.rebuild import Rebuild

    saved: Saved = {}
    rows: dict[str, int] = {}
    with EventLog.open(StoreConfig.resolve(store)) as log:
        head = log.head()
        for spec, chunks in Rebuild(log, head, folder).tables(None):
            paths = saved[spec.name] = []
            rows[spec.name] = 0
            for i, chunk in enumerate(chunks):
                rows[spec.name] += chunk.num_rows
                path = folder / f"chunk-{spec.name}-{i:05d}.arrow"
                with pa.ipc.new_file(str(path), chunk.schema) as writer:
                    writer.write_table(chunk)
                paths.append(path)
    return head, saved, rows


def _read(paths: list[Path]) -> Iterator[pa.Table]:
    for path in paths:
        with pa.memory_map(str(path)) as source:
            yield pa.ipc.open_file(source).read_all()


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall-clock seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def commit_tables(saved: Saved, root: Path, head: int) -> dict[str, dict[str, Any]]:
    """Each table committed from its saved chunks as the rebuild commits it."""
    from ordertrail.projections.schema import TABLES
    from ordertrail.projections.tables import DeltaTables, Source

    tables = DeltaTables(root)
    source = Source(store=1, position=head, head=1)
    out: dict[str, dict[str, Any]] = {}
    for spec in TABLES:
        state = tables.state(spec)
        cpu, wall = _timed(lambda: tables.rewrite(state, _read(saved[spec.name]), source))  # noqa: B023
        table = tables.table(spec.name)
        assert table is not None
        out[spec.name] = {"cpu_s": cpu, "wall_s": wall, "files": len(table.file_uris()),
                          "commits": table.version() + 1}  # fmt: skip
    return out


def bare_parquet(saved: Saved, folder: Path) -> dict[str, dict[str, Any]]:
    """Each table's chunks written by Arrow into one Parquet file: encoding and nothing else."""
    folder.mkdir()
    out: dict[str, dict[str, Any]] = {}
    for name, paths in saved.items():

        def write(name: str = name, paths: list[Path] = paths) -> None:
            writer: pq.ParquetWriter | None = None
            for chunk in _read(paths):
                if writer is None:
                    writer = pq.ParquetWriter(str(folder / f"{name}.parquet"), chunk.schema)
                writer.write_table(chunk)
            if writer is not None:
                writer.close()

        cpu, wall = _timed(write)
        out[name] = {"cpu_s": cpu, "wall_s": wall}
    return out


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _marked(rebuilt: Iterable[Any], ended: list[tuple[float, float]]) -> Iterator[Any]:
    """The rebuild's tables; the time the passes ended noted (the last table given)."""
    yield from rebuilt
    ended.append(_now())


def rebuild_tail(store: Path, root: Path, overlapped: bool) -> dict[str, float]:
    """One rebuild into ``root``: wall and CPU seconds from the end of the passes to the last
    commit (spill files removed), and in all."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog
    from ordertrail.adapters.store.rebuild import cyclic_gc_paused
    from ordertrail.projections.file_writes import commit_rebuilt
    from ordertrail.projections.rebuild import Rebuild
    from ordertrail.projections.tables import DeltaTables, Source

    ended: list[tuple[float, float]] = []
    with EventLog.open(StoreConfig.resolve(store)) as log, cyclic_gc_paused():
        head = log.head()
        tables = DeltaTables(root)
        states = tables.states()
        source = Source(store=1, position=head, head=1)
        begun = _now()
        with Rebuild(log, head, root).spilled(None) as rebuilt:
            if overlapped:
                commit_rebuilt(tables, states, _marked(rebuilt, ended), source)
            else:
                every = list(_marked(rebuilt, ended))
                for spec, chunks in every:
                    tables.rewrite(states[spec.name], chunks, source)
        done = _now()
    (wall, cpu) = ended[0]
    return {"after_passes_wall_s": done[0] - wall, "after_passes_cpu_s": done[1] - cpu,
            "rebuild_wall_s": done[0] - begun[0], "rebuild_cpu_s": done[1] - begun[1]}  # fmt: skip


def tail(store: Path, repeats: int) -> dict[str, Any]:
    """``rebuild_tail`` each way, alternated; medians."""
    runs: dict[str, list[dict[str, float]]] = {"overlapped": [], "baseline_one_after_another": []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(repeats):
            for name in runs:
                root = Path(d) / f"{name}-{r}"
                runs[name].append(rebuild_tail(store, root, name == "overlapped"))
                shutil.rmtree(root)
    return {name: {key: round(statistics.median(run[key] for run in found), 3)
                   for key in found[0]} for name, found in runs.items()}  # fmt: skip


def _medians(runs: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, first in runs[0].items():
        out[name] = {
            key: round(statistics.median(r[name][key] for r in runs), 3)
            if key.endswith("_s") else value
            for key, value in first.items()
        }  # fmt: skip
    out["all"] = {key: round(sum(t[key] for t in out.values()), 3) for key in ("cpu_s", "wall_s")}
    return out


def run(store: Path, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        head, saved, rows = save_chunks(store, folder)
        commits, bare = [], []
        for r in range(repeats):
            commits.append(commit_tables(saved, folder / f"delta-{r}", head))
            bare.append(bare_parquet(saved, folder / f"bare-{r}"))
            shutil.rmtree(folder / f"delta-{r}")
            shutil.rmtree(folder / f"bare-{r}")
    committed = _medians(commits)
    for name, count in rows.items():
        committed[name]["rows"] = count
    return {"events": head, "repeats": repeats, "commits": committed,
            "baseline_bare_parquet": _medians(bare)}  # fmt: skip


if __name__ == "__main__":
    store, repeats = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if sys.argv[3:] == ["tail"]:
        print(json.dumps({"repeats": repeats, "tail": tail(store, repeats)}, indent=2))
    else:
        print(json.dumps(run(store, repeats), indent=2))
