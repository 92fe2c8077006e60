"""Audit queries at scale: the projection's Delta tables at millions of fills, written without
the event store.

Producing 10,000,000 fills through the event store and the projection rebuild would take hours
on a small machine, so this writes the tables directly, with the projection's own specs and
writer (``projections/schema.py``, ``projections/tables.py``), from a *template*: a few dozen
real orders (1–8 fills each, a status after every fill, commission reports, corrections) are
stored in a real event store and projected by the real rebuild; the generator then repeats
their rows, one template cycle after another, giving each copy its own identity (client order
id, order id, permId, execIds, account and conId out of many) and its own time (orders spread
evenly over the trading hours of 252 business days). Each table is written as the rebuild
writes it (``DeltaTables.rewrite``: Arrow's Parquet files, one commit): the append-only
tables' rows in log order (notification ids keep growing), each day's in files of its own; the
keyed tables' sorted by their key. The figures inside a row (prices,
quantities, position figures) are the template's: the queries' cost does not depend on them.

``build(root, fills)`` writes the tables; ``run(fills, repeats)`` builds them in a temporary
folder and times the queries ``ordertrail bench --suite projections`` reports.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.adapters.bench_template import CYCLE_FILLS, TEMPLATE_COID, Template, template
from ordertrail.domain.identity import order_uuid
from ordertrail.projections.journal_fold import fold_fills

ACCOUNTS = 12
CONTRACTS = 4_000
TRADING_DAYS = 252
FIRST_DAY = date(2025, 1, 2)
OPEN_UTC = timedelta(hours=14, minutes=30)
SESSION = timedelta(hours=6, minutes=30)
_US = 1_000_000


# ---- one batch of cycles ------------------------------------------------------------------------


def _trading_day_starts() -> np.ndarray:
    days = np.busday_offset(np.datetime64(FIRST_DAY, "D"), np.arange(TRADING_DAYS), roll="forward")
    return days.astype("datetime64[us]").astype(np.int64) + OPEN_UTC // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Scale:
    """How many template cycles, and where order ``i`` sits on the calendar."""

    cycles: int
    orders_per_cycle: int
    day_starts: np.ndarray

    @property
    def orders(self) -> int:
        return self.cycles * self.orders_per_cycle

    def identity(self, cycle_lo: int, cycle_hi: int) -> pl.DataFrame:
        """One row per generated order of cycles [lo, hi): its template order, index, keys,
        account, contract and start time (UTC microseconds)."""
        per = self.orders_per_cycle
        i = np.arange(cycle_lo * per, cycle_hi * per, dtype=np.int64)
        day = i * TRADING_DAYS // self.orders
        first = -(-(day * self.orders) // TRADING_DAYS)
        per_day = self.orders / TRADING_DAYS
        slot_us = SESSION // timedelta(microseconds=1) / per_day
        start = self.day_starts[day] + ((i - first) * slot_us).astype(np.int64)
        mix = i * 2_654_435_761
        con = mix % CONTRACTS
        coids = [f"OT-q{n:09d}" for n in i.tolist()]
        return pl.DataFrame(
            {
                "_i": i,
                "_j": i % per,
                "_cycle": i // per,
                "_coid": coids,
                "_order_id": [str(order_uuid(client_order_id=c)) for c in coids],
                "_account": [f"U{7_000_000 + a}" for a in (mix // CONTRACTS % ACCOUNTS).tolist()],
                "_con_id": 100_000 + con,
                "_symbol": [f"C{c:04d}" for c in con.tolist()],
                "_new_start": start,
            }
        )


def _shift(frame: pl.DataFrame, columns: list[str]) -> list[pl.Expr]:
    """Each time column moved from its template order's start to its copy's start."""
    start = pl.col("_new_start").cast(pl.Datetime("us", "UTC"))
    out = []
    for name in columns:
        dtype = frame.schema[name]
        out.append((start + (pl.col(name) - pl.col("_start"))).cast(dtype).alias(name))
    return out


def _ids(tmpl: Template) -> list[pl.Expr]:
    return [
        pl.col("_order_id").alias("order_id"),
        pl.concat_str(pl.lit("coid:"), pl.col("_coid")).alias("order_key"),
    ]


def _order_columns(tmpl: Template) -> list[pl.Expr]:
    """The copy's identity in the columns ``orders`` and ``fills`` share."""
    return [
        *_ids(tmpl),
        pl.col("_coid").alias("client_order_id"),
        pl.col("_coid").alias("order_ref"),
        (pl.col("_i") + 1_000_000_000).alias("perm_id"),
        pl.col("_account").alias("account"),
        pl.col("_con_id").alias("con_id"),
        pl.col("_symbol").alias("symbol"),
        (pl.col("notification_id") + pl.col("_cycle") * tmpl.head).alias("notification_id"),
    ]


def _events(tmpl: Template, who: pl.DataFrame) -> pl.DataFrame:
    t = tmpl.events
    return (
        who.join(t.drop("order_id", "order_key"), on="_j")
        .with_columns(
            *_ids(tmpl),
            (pl.col("notification_id") + pl.col("_cycle") * tmpl.head).alias("notification_id"),
            *_shift(t, ["ts_event", "ts_recorded"]),
            pl.col("payload").str.replace_all(TEMPLATE_COID, pl.col("_coid")),
            pl.col("summary")
            .str.replace_all(TEMPLATE_COID, pl.col("_coid"))
            .str.replace(
                " TMPL ", pl.concat_str(pl.lit(" "), pl.col("_symbol"), pl.lit(" ")), literal=True
            ),
        )
        .with_columns(pl.col("ts_recorded").dt.date().alias("day"))
        .sort("notification_id")
        .select(t.columns[: t.columns.index("payload") + 1])
    )


def _orders(tmpl: Template, who: pl.DataFrame) -> pl.DataFrame:
    t = tmpl.orders
    times = ["created_ib", "created_recorded", "updated_recorded", "first_fill_ib",
             "first_fill_recorded"]  # fmt: skip
    return (
        who.join(t.drop("order_id", "order_key"), on="_j")
        .with_columns(*_order_columns(tmpl), *_shift(t, times))
        .sort("_i")
        .select(t.columns[: t.columns.index("notification_id") + 1])
    )


def _exec_base(cycle: pl.Expr, rank: pl.Expr) -> pl.Expr:
    # IB's execIds grow through a session (``0000e0d5.6571b9f5.01.01``): here one per fill.
    seq = (cycle * CYCLE_FILLS + rank).cast(pl.String).str.zfill(8)
    return pl.concat_str(pl.lit("0000e0d5."), seq, pl.lit(".01"))


def _fills(tmpl: Template, who: pl.DataFrame) -> pl.DataFrame:
    t = tmpl.fills
    base = _exec_base(pl.col("_cycle"), pl.col("_rank"))
    suffix = pl.col("exec_id").str.extract(r"(\.\d+)$")
    return (
        who.join(t.drop("order_id", "order_key"), on="_j")
        .with_columns(base.alias("exec_base_id"))
        .with_columns(
            *_order_columns(tmpl),
            pl.concat_str(pl.col("exec_base_id"), suffix).alias("exec_id"),
            pl.when(pl.col("replaces_exec_id").is_not_null())
            .then(pl.concat_str(pl.col("exec_base_id"), pl.lit(".01")))
            .alias("replaces_exec_id"),
            (pl.col("_i") + 1).alias("ib_order_id"),
            *_shift(t, ["ts_event", "ts_ib", "ts_recorded", "first_recorded"]),
        )
        .sort("exec_base_id")
        .select(t.columns[: t.columns.index("notification_id") + 1])
    )


def _history(tmpl: Template, who: pl.DataFrame) -> pl.DataFrame:
    t = tmpl.history
    suffix = pl.col("exec_id").str.extract(r"(\.\d+)$")
    return (
        who.join(t, on="_j")
        .with_columns(
            pl.concat_str(_exec_base(pl.col("_cycle"), pl.col("_rank")), suffix).alias("exec_id"),
            pl.col("_account").alias("account"),
            pl.col("_con_id").alias("con_id"),
            pl.col("_symbol").alias("symbol"),
            (pl.col("notification_id") + pl.col("_cycle") * tmpl.head).alias("notification_id"),
            *_shift(t, ["ts_event", "ts_recorded", "last_fill_ib"]),
        )
        .with_columns(pl.col("ts_recorded").dt.date().alias("day"))
        .sort("notification_id")
        .select(t.columns[: t.columns.index("day") + 1])
    )


# ---- writing ------------------------------------------------------------------------------------

# Template cycles generated at once (about 10,000 orders and 43,000 fills): memory stays bounded.
CYCLES_PER_BATCH = 200


@dataclass(frozen=True, slots=True)
class Built:
    fills: int
    orders: int
    events: int
    history_rows: int
    positions: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "fills": self.fills,
            "orders": self.orders,
            "events": self.events,
            "position_history_rows": self.history_rows,
            "positions": self.positions,
            "build_s": round(self.seconds, 1),
        }


def _arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    return frame.to_arrow().cast(schema)


def build(
    root: Path, fills: int, *, template_dir: Path | None = None, only: tuple[str, ...] = ()
) -> Built:
    """Write every projection table under ``root`` for ``fills`` fills (rounded up to whole
    template cycles of 200), as the projection's rebuild lays them out; with ``only``, just
    the tables it names (``("fills",)`` takes a fraction of the time)."""
    from ordertrail.projections.schema import (
        EVENTS,
        FILLS,
        ORDERS,
        POSITION_HISTORY,
        POSITIONS,
        TableSpec,
    )
    from ordertrail.projections.tables import DeltaTables, Source

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        tmpl = template(template_dir or Path(scratch))
    scale = Scale(-(-fills // CYCLE_FILLS), tmpl.orders.height, _trading_day_starts())
    head = scale.cycles * tmpl.head
    source = Source(store=1, position=head, head=1)
    tables = DeltaTables(root)

    def batches() -> Iterator[pl.DataFrame]:
        for lo in range(0, scale.cycles, CYCLES_PER_BATCH):
            yield scale.identity(lo, min(lo + CYCLES_PER_BATCH, scale.cycles))

    counts: dict[str, int] = {}

    def rows(make: Callable[[Template, pl.DataFrame], pl.DataFrame], spec: TableSpec
             ) -> Iterator[pa.Table]:  # fmt: skip
        counts[spec.name] = 0
        for who in batches():
            table = _arrow(make(tmpl, who), spec.schema)
            counts[spec.name] += table.num_rows
            yield table

    # Each table in one commit of the files the rebuild writes (``DeltaTables.rewrite``): the
    # keyed tables' rows come in key order, the append-only tables' in log order.
    for spec, make in ((ORDERS, _orders), (FILLS, _fills), (EVENTS, _events),
                       (POSITION_HISTORY, _history)):  # fmt: skip
        if not only or spec.name in only:
            tables.rewrite(tables.state(spec), rows(make, spec), source)
    positions = 0
    if not only or POSITIONS.name in only:
        last = _positions(tables, tmpl)
        tables.rewrite(tables.state(POSITIONS), [_arrow(last, POSITIONS.schema)], source)
        positions = last.height
    return Built(
        fills=scale.cycles * CYCLE_FILLS,
        orders=scale.orders,
        events=counts.get("events", 0),
        history_rows=counts.get("position_history", 0),
        positions=positions,
        seconds=time.perf_counter() - started,
    )


def _positions(tables: Any, tmpl: Template) -> pl.DataFrame:
    """One row per (account, conId, origin): the last history row's figures, with the template's
    running state (the queries never read it)."""
    from ordertrail.projections.schema import POSITIONS

    last = (
        pl.scan_delta(tables.uri("position_history"))
        .group_by("account", "con_id", "origin")
        .agg(pl.all().sort_by("notification_id").last())
        .collect()
    )
    state = tmpl.positions["running_state"][0]
    return (
        last.with_columns(
            pl.col("ts_recorded").alias("updated_recorded"), pl.lit(state).alias("running_state")
        )
        .select(POSITIONS.schema.names)
        .sort("account", "con_id", "origin")
    )


# ---- the queries --------------------------------------------------------------------------------

AGGREGATE = (
    "SELECT account, symbol, count(*) AS fills, sum(quantity) AS shares, "
    "sum(commission) AS commission, sum(realized_pnl) AS pnl "
    "FROM fills GROUP BY account, symbol ORDER BY account, symbol"
)


def median_ms(repeats: int, call: Callable[[], object]) -> float:
    """The median wall time of ``call`` in milliseconds, over at least three runs."""
    times = []
    for _ in range(max(repeats, 3)):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def queries(audit: Any, built: Built, repeats: int) -> dict[str, float]:
    """Medians of the audit queries, each beside a bare polars read of the same rows."""
    target = f"OT-q{built.orders // 2:09d}"
    mid_day = _trading_day_starts()[TRADING_DAYS // 2]
    mid = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(mid_day) + 3 * 3600 * _US)
    events = audit.tables.uri("events")
    fills = audit.tables.uri("fills")
    oid = str(order_uuid(client_order_id=target))
    return {
        "timeline_ms": median_ms(repeats, lambda: audit.timeline(target)),
        "baseline_events_scan_one_order_ms": median_ms(
            repeats,
            lambda: pl.scan_delta(events).filter(pl.col("order_id") == oid).collect(),
        ),
        "positions_as_of_recorded_ms": median_ms(
            repeats, lambda: audit.positions(as_of=mid, clock="recorded")
        ),
        "positions_as_of_ib_ms": median_ms(repeats, lambda: audit.positions(as_of=mid, clock="ib")),
        # The fold of every fill executed by then, as the query ran before IB-clock snapshots.
        "baseline_ib_journal_fold_ms": median_ms(
            repeats,
            lambda: fold_fills(audit.scan("fills").filter(pl.col("ts_ib") <= mid)).collect(),
        ),
        "sql_aggregate_ms": median_ms(repeats, lambda: audit.sql(AGGREGATE)),
        "baseline_polars_aggregate_ms": median_ms(
            repeats,
            lambda: (
                pl.scan_delta(fills)
                .group_by("account", "symbol")
                .agg(pl.len(), pl.col("quantity", "commission", "realized_pnl").sum())
                .collect()
            ),
        ),
    }


def run(fills: int, repeats: int) -> dict[str, Any]:
    """Build the tables for ``fills`` fills in a temporary folder; time the queries as written
    and after ``compact``."""
    from ordertrail.projections.api import Audit

    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        built = build(directory / "delta", fills, template_dir=directory / "template")
        audit = Audit(directory / "data", root=directory / "delta", refresh=False)
        as_written = queries(audit, built, repeats)
        start = time.perf_counter()
        audit.compact()
        compact_s = time.perf_counter() - start
        compacted = queries(audit, built, repeats)
    return {
        **built.as_dict(),
        "queries": as_written,
        "compact_s": round(compact_s, 1),
        "queries_after_compact": compacted,
        "repeats": repeats,
    }


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(json.dumps(run(n, r), indent=2))
