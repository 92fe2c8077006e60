"""The order-state rebuild's figures for ``ordertrail bench`` (``bench.py`` runs them): every
order's state folded from 1,000,000 stored events, against bare sqlite3 + orjson over the same
rows.

The baseline is measured once right before each repeat of every figure, not in a block of its
own after them: on a machine shared with other busy processes the CPU time of the same scan
moves by a third from one minute to the next (the other processes' load on the caches and the
memory bus), so a baseline measured a minute after the rebuild compares two different machines.
``cpu_time_ratios`` divides the medians (the baseline's over all its samples);
``paired_cpu_time_ratios`` is the median of each repeat's ratio to the baseline measured just
before it, the steadier of the two.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ordertrail.adapters.bench import (
    _baseline_scan,
    _fresh_app,
    _median_rate,
    peak_memory,
    populate,
    rate_of,
    timed,
)
from ordertrail.adapters.store.rebuild import fold_events


class _Paired:
    """Figures measured each right after a run of the baseline (module docstring)."""

    def __init__(self, n: int, repeats: int, baseline: Callable[[], object]) -> None:
        self.n, self.repeats, self.baseline = n, repeats, baseline
        self.samples: list[tuple[float, float]] = []
        self.ratios: dict[str, float] = {}

    def _baseline_cpu(self) -> float:
        self.samples.append(timed(self.baseline))
        return self.samples[-1][1]

    def rate(self, name: str, run: Callable[[], object]) -> dict[str, float]:
        samples, ratios = [], []
        for _ in range(self.repeats):
            base = self._baseline_cpu()
            samples.append(timed(run))
            ratios.append(base / max(samples[-1][1], 1e-9))
        self.ratios[name] = round(statistics.median(ratios), 3)
        return rate_of(self.n, samples)

    def in_hand(self, name: str, fold: Callable[[], object]) -> dict[str, Any]:
        """The rebuild split where its costs fall, CPU-time medians: ``fold`` until the
        states are in hand; the cyclic collector's first pass over them (the fold pauses it,
        so the caller's next collection traverses every object the fold made); freeing them
        (when the caller drops them). ``rebuild`` pays all three, since it drops the states
        at once."""
        folds, first, free, ratios = [], [], [], []
        for _ in range(self.repeats):
            base = self._baseline_cpu()
            start = time.process_time()
            states = fold()
            folds.append(time.process_time() - start)
            start = time.process_time()
            gc.collect(0)
            first.append(time.process_time() - start)
            start = time.process_time()
            del states
            free.append(time.process_time() - start)
            ratios.append(base / max(folds[-1], 1e-9))
        self.ratios[name] = round(statistics.median(ratios), 3)
        med = statistics.median(folds)
        return {
            "events": self.n,
            "median_cpu_s": round(med, 4),
            "events_per_cpu_s": round(self.n / max(med, 1e-9)),
            "first_collection_cpu_s": round(statistics.median(first), 4),
            "free_cpu_s": round(statistics.median(free), 4),
        }


def bench_rebuild(events: int, repeats: int, *, checks: bool = True) -> dict[str, Any]:
    """The order-state rebuild from a read-only EventLog (no application constructed): every
    order, only the open ones, and (for comparison) the general codec's events folded; with
    ``checks``, also ``verify`` over the same rows and the peak memory of each rebuild."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.store.eventlog import EventLog
    from ordertrail.adapters.store.rebuild import fold_orders

    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        written, _ = populate(directory, events)
        config = StoreConfig.resolve(directory)
        with EventLog.open(config) as log:
            paired = _Paired(written, repeats, lambda: _baseline_scan(config.sqlite_path))
            rebuild = paired.rate("rebuild", lambda: fold_orders(log))
            in_hand = paired.in_hand("states_in_hand", lambda: fold_orders(log))
            open_only = paired.rate("open_only", lambda: fold_orders(log, open_only=True))
            general = paired.rate("general", lambda: fold_events(e for _, e in log.events()))
        baseline = rate_of(written, paired.samples)
        result: dict[str, Any] = {
            "events": written,
            "rebuild": rebuild,
            "rebuild_states_in_hand": in_hand,
            "rebuild_open_only": open_only,
            "rebuild_general_codec": general,
            "baseline_sqlite_orjson": baseline,
            "rebuild_vs_baseline": round(rebuild["events_per_s"] / baseline["events_per_s"], 3),
            "open_only_vs_baseline": round(open_only["events_per_s"] / baseline["events_per_s"], 3),
            "general_codec_vs_baseline": round(
                general["events_per_s"] / baseline["events_per_s"], 3
            ),
            # The same ratios in this process's CPU time: on a shared machine the wall-clock
            # ones move with whatever else runs during each measurement.
            "cpu_time_ratios": {
                name: round(r["events_per_cpu_s"] / baseline["events_per_cpu_s"], 3)
                for name, r in (
                    ("rebuild", rebuild),
                    ("states_in_hand", in_hand),
                    ("open_only", open_only),
                    ("general", general),
                )
            },
            "paired_cpu_time_ratios": paired.ratios,
        }
        if checks:
            result.update(_rebuild_checks(directory, written, repeats, rebuild))
    return result


def _rebuild_checks(
    directory: Path, written: int, repeats: int, rebuild: dict[str, Any]
) -> dict[str, Any]:
    from ordertrail.adapters.store.verify import verify

    # What `rebuild` adds before it folds: the tamper check over the same rows.
    app = _fresh_app(directory)
    check = _median_rate(written, repeats, lambda: verify(app.recorder, None))
    app.close()
    return {
        "verify": check,
        "verify_vs_rebuild": round(check["events_per_s"] / rebuild["events_per_s"], 3),
        "memory": _rebuild_memory(directory),
        "memory_open_only": _rebuild_memory(directory, open_only=True),
    }


def _rebuild_memory(directory: Path, *, open_only: bool = False) -> dict[str, Any]:
    result = peak_memory(
        """
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import fold_orders
log = EventLog.open(StoreConfig.resolve(Path(sys.argv[1])))
log.head()
""",
        f"""
states, _ = fold_orders(log, open_only={open_only})
extra["orders"] = len(states)
""",
        str(directory),
    )
    extra_kib = result["rebuild_extra_mib"] * 1024
    result["extra_kib_per_order"] = round(extra_kib / max(result["orders"], 1), 2)
    return result
