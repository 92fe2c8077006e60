"""The ``orders`` rows of the columnar route's orders, and what their brackets and OCA groups need
of them (docs/adr/0105-orders-pass-from-columns.md).

An order's row is its state after its last event. The columnar route's topics change little
of it: the creation gives the terms (no covered event modifies them; a modify request only
makes a pending modification, which no table shows), the account too unless it has none and
IB names the one it placed the order in (``IdentifiersBound``: the first that names one sets
it), the last event the status and the update time, status reports and bound identifiers the
permId (when they carry one) and status reports what IB says is filled, submissions, requests
with an orderId and bound identifiers the (clientId, orderId) aliases, our cancels (asked for
directly or as a cancel request on the wire) and their refusals whether a cancel is pending,
executions and corrections the filled quantity and the first fill, commission reports the
commissions by execId base. The average fill price is computed apart, in integers where they
reproduce the fold's Decimal steps exactly (``columnar_averages``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.columnar_averages import average_prices
from ordertrail.projections.columnar_events import filled_after
from ordertrail.projections.columnar_frame import (
    ANOMALY,
    BOUND,
    CANCEL,
    CANCEL_REFUSED,
    COMMISSION,
    CREATED,
    ERROR,
    REQUEST,
    STATUS,
    SUBMITTED,
    Frames,
)
from ordertrail.projections.columnar_groups import Groups
from ordertrail.projections.columnar_values import decimals
from ordertrail.projections.records import ORIGINS
from ordertrail.projections.schema import ORDERS


@dataclass
class OrderColumns:
    """Per order of the chunk's columnar route (index: ``ord``), what the other tables need."""

    created: pl.DataFrame  # the creation's fields, one row per order
    keys: pl.Series  # order_key
    perm_id: pl.Series  # the order's permId after its last event
    final_status: pl.Series  # the status after each order's last event
    filled: np.ndarray  # scaled filled quantity after the last event
    origin: pl.Series  # the orders' and fills' origin column
    starts: np.ndarray  # each order's first row in the log
    ends: np.ndarray  # and its last
    first: pl.DataFrame  # each order's first fill (``first_fills``)


def order_bounds(frames: Frames) -> tuple[np.ndarray, np.ndarray]:
    ords = frames.log.get_column("ord").to_numpy()
    n = len(ords)
    starts = np.flatnonzero(np.r_[True, ords[1:] != ords[:-1]]) if n else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], n] - 1 if n else starts
    return starts, ends


def _last_by_order(frame: pl.DataFrame | None, orders: int, columns: list[str]) -> pl.DataFrame:
    """Each order's last row of ``frame`` (nulls for an order without one), in ``ord`` order.
    A frame's rows are in log order, so an order's rows are together: its last row is where
    the next row's order differs (no group-by, which costs milliseconds a call)."""
    base = pl.DataFrame({"ord": np.arange(orders, dtype=np.int64)})
    if frame is None or not frame.height:
        return base.with_columns(pl.lit(None).alias(c) for c in columns)
    return base.with_columns(last_rows(frame, orders).select(columns))


def last_rows(frame: pl.DataFrame, orders: int) -> pl.DataFrame:
    """Each order's last row of ``frame`` (rows in log order), all nulls for an order with
    none: one row per order, in ``ord`` order."""
    ords = frame.get_column("ord").to_numpy()
    if len(ords) > 1 and (ords[1:] < ords[:-1]).any():
        frame = frame.sort("row")
        ords = frame.get_column("ord").to_numpy()
    last = np.flatnonzero(np.r_[ords[1:] != ords[:-1], True])
    at = np.full(orders, -1, np.int64)
    at[ords[last]] = last
    index = pl.Series("at", at)
    return frame.select(pl.all().gather(index.set(index < 0, None)))


def _in_log_order(parts: Iterable[pl.DataFrame]) -> pl.DataFrame | None:
    """Rows of several topics with the same columns, merged in log order (None: no row)."""
    present = [p for p in parts if p.height]
    return pl.concat(present).sort("row") if present else None


def _account(frames: Frames, created: pl.DataFrame) -> pl.Series:
    """The order's account: the creation's, else the first IB names for it."""
    account = created.get_column("spec.account")
    bound = frames.topics.get(BOUND)
    if bound is None or not bound.height:
        return account
    named = bound.filter(pl.col("account").fill_null("") != "")
    first = named.group_by("ord", maintain_order=True).agg(pl.col("account").first())
    base = pl.DataFrame({"ord": np.arange(frames.orders, dtype=np.int64)})
    ib = base.join(first, on="ord", how="left", maintain_order="left").get_column("account")
    return pl.select(
        pl.when(account.fill_null("") == "").then(ib.fill_null(account)).otherwise(account)
    ).to_series()


def order_columns(frames: Frames) -> OrderColumns:
    created = frames.topics[CREATED].sort("ord")
    truthy = _in_log_order(
        frame.filter(pl.col("perm_id").fill_null(0) != 0).select("row", "ord", "perm_id")
        for name in (STATUS, BOUND)
        if (frame := frames.topics.get(name)) is not None
    )
    reported = _last_by_order(truthy, frames.orders, ["perm_id"]).get_column("perm_id")
    perm_id = reported.fill_null(created.get_column("perm_id"))
    starts, ends = order_bounds(frames)
    filled = filled_after(frames)[ends] if len(ends) else np.zeros(0, np.int64)
    origin = created.get_column("origin").replace(ORIGINS)
    return OrderColumns(created, created.get_column("order_key"), perm_id,
                        final_statuses(frames, ends), filled, origin, starts, ends,
                        first_fills(frames))  # fmt: skip


def final_statuses(frames: Frames, ends: np.ndarray) -> pl.Series:
    """Each order's status after its last event: the last event's own, else the last one
    before it that has one (an order begins with its creation, which has one)."""
    status = frames.source.column("status").combine_chunks()
    valid = np.asarray(status.is_valid(), bool)
    last = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), 0)) if len(valid) else valid
    series = pl.from_arrow(status.take(pa.array(last[ends])))
    assert isinstance(series, pl.Series)
    return series.alias("status")


def _errors_and_anomalies(frames: Frames) -> dict[str, pl.Series]:
    """Each order's error count and last error (``code: message``), and its anomalies' kinds
    in the order they were recorded."""
    base = pl.DataFrame({"ord": np.arange(frames.orders, dtype=np.int64)})
    out = {
        "errors": pl.Series([0] * frames.orders),
        "last_error": pl.Series([None] * frames.orders, dtype=pl.String),
        "anomalies": pl.Series([""] * frames.orders),
    }
    errors = frames.topics.get(ERROR)
    if errors is not None and errors.height:
        line = pl.concat_str([pl.col("code").cast(pl.String), pl.lit(": "),
                              pl.col("message").fill_null("None")])  # fmt: skip
        per = errors.group_by("ord", maintain_order=True).agg(
            pl.len().alias("errors"), line.last().alias("last_error")
        )
        joined = base.join(per, on="ord", how="left", maintain_order="left")
        out["errors"] = joined.get_column("errors").fill_null(0)
        out["last_error"] = joined.get_column("last_error")
    anomalies = frames.topics.get(ANOMALY)
    if anomalies is not None and anomalies.height:
        per = anomalies.group_by("ord", maintain_order=True).agg(pl.col("kind").str.join(","))
        joined = base.join(per, on="ord", how="left", maintain_order="left")
        out["anomalies"] = joined.get_column("kind").fill_null("")
    return out


# The topics that make (or refuse) a pending cancel, and which of their rows do.
_CANCELS: tuple[tuple[str, bool, pl.Expr], ...] = (
    (CANCEL, True, pl.lit(True)),
    (REQUEST, True, pl.col("kind").is_in(["cancel", "global_cancel"])),
    (CANCEL_REFUSED, False, pl.lit(True)),
)
# The topics that bind a (clientId, orderId) alias, and which of their rows do.
_ALIASES: tuple[tuple[str, pl.Expr], ...] = (
    (SUBMITTED, pl.lit(True)),
    (REQUEST, pl.col("order_id").fill_null(0) != 0),
    (BOUND, pl.col("client_id").is_not_null() & pl.col("order_id").is_not_null()),
)


def _cancel_requested(frames: Frames) -> pl.Series:
    """Whether a cancel of ours is pending after the order's last event: asked for, and not
    refused since."""
    asked = _in_log_order(
        frame.filter(which).select("row", "ord", pl.lit(value).alias("asked"))
        for name, value, which in _CANCELS
        if (frame := frames.topics.get(name)) is not None
    )
    if asked is None:
        return pl.Series([False] * frames.orders)
    last = _last_by_order(asked, frames.orders, ["asked"])
    return last.get_column("asked").fill_null(False)


def _aliases(frames: Frames) -> pl.Series:
    pair = pl.concat_str(
        [pl.col("client_id").cast(pl.String), pl.lit("/"), pl.col("order_id").cast(pl.String)]
    )
    bound = _in_log_order(
        frame.filter(which).select("row", "ord", pair.alias("pair"))
        for name, which in _ALIASES
        if (frame := frames.topics.get(name)) is not None
    )
    out = pl.repeat("", frames.orders, eager=True, dtype=pl.String).alias("aliases")
    if bound is None:
        return out
    # Most orders bind one pair, several times (the submission, the request, openOrder's
    # identifiers): that pair is the alias; the others' are joined by a group-by.
    ords = bound.get_column("ord").to_numpy()
    starts = np.flatnonzero(np.r_[True, ords[1:] != ords[:-1]])
    pairs = bound.get_column("pair")
    firsts = pairs.gather(starts)
    same = pairs == firsts.gather(
        np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(ords)]))
    )
    odd = np.zeros(frames.orders, bool)
    odd[ords[~same.fill_null(False).to_numpy()]] = True
    simple = ~odd[ords[starts]]
    out = out.scatter(ords[starts][simple], firsts.filter(pl.Series(simple)))
    if odd.any():
        joined = (
            bound.filter(pl.Series(odd[ords]))
            .group_by("ord", maintain_order=True)
            .agg(pl.col("pair").unique(maintain_order=True).str.join(",").alias("aliases"))
        )
        aliases = joined.get_column("aliases").fill_null("")
        out = out.scatter(joined.get_column("ord").to_numpy(), aliases)
    return out


def _commissions(frames: Frames) -> np.ndarray:
    """Each order's commission total (scaled): the last report per execId base, summed."""
    total = np.zeros(frames.orders, np.int64)
    reports = frames.topics.get(COMMISSION)
    if reports is None or not reports.height:
        return total
    last = Groups.of(reports.get_column("key").to_numpy()).is_last()
    last &= reports.get_column("report.commission?").to_numpy()
    amounts = reports.get_column("report.commission#").to_numpy()
    np.add.at(total, reports.get_column("ord").to_numpy()[last], amounts[last])
    return total


# The orders' columns that are their creation's fields as they are: (column, field).
_AS_CREATED = {
    "client_order_id": "client_order_id", "con_id": "contract.con_id",
    "symbol": "contract.symbol", "sec_type": "contract.sec_type",
    "currency": "contract.currency", "action": "spec.action", "order_type": "spec.order_type",
    "tif": "spec.tif", "oca_type": "spec.oca_type", "parent_key": "parent_key",
    "group_id": "group_id",
}  # fmt: skip
# And those that are their creation's Decimals (scaled columns).
_SCALED = {
    "multiplier": "contract.multiplier", "quantity": "spec.quantity",
    "limit_price": "spec.limit_price", "stop_price": "spec.stop_price",
    "reference_price": "spec.reference_price",
}  # fmt: skip


def orders_table(frames: Frames, cols: OrderColumns) -> pa.Table:
    created, log = cols.created, frames.log
    starts, ends = pl.Series(cols.starts), pl.Series(cols.ends)
    filled = cols.filled
    statuses = frames.topics.get(STATUS)
    ib = _last_by_order(statuses, frames.orders, ["filled#", "filled?"])
    ib_filled = np.where(ib.get_column("filled?").fill_null(False).to_numpy(),
                         ib.get_column("filled#").fill_null(0).to_numpy(), 0)  # fmt: skip
    quantity = created.get_column("spec.quantity#").to_numpy()
    first = cols.first
    coid = pl.col("client_order_id")
    ref = coid
    if frames.fills.height:
        ref = pl.when(coid.fill_null("") != "").then(coid).otherwise(first.get_column("order_ref"))
    own = created.select(
        *(pl.col(field).alias(name) for name, field in _AS_CREATED.items()),
        ref.replace("", None).alias("order_ref"),
        pl.col("spec.oca_group").replace("", None).alias("oca_group"),
    )
    from_log = log.select(
        pl.col("order_id").gather(starts),
        pl.col("ts_event").gather(starts).alias("created_ib"),
        pl.col("ts_recorded").gather(starts).alias("created_recorded"),
        pl.col("ts_recorded").gather(ends).alias("updated_recorded"),
        pl.col("nid").gather(ends).alias("notification_id"),
    )
    computed = {
        "order_key": cols.keys,
        "perm_id": cols.perm_id,
        "origin": cols.origin,
        "account": _account(frames, created),
        "status": cols.final_status,
        "cancel_requested": _cancel_requested(frames),
        **_errors_and_anomalies(frames),
        "aliases": _aliases(frames),
        "first_fill_ib": first.get_column("time"),
        "first_fill_recorded": first.get_column("recorded"),
        "events": pl.Series(cols.ends - cols.starts + 1),
    }
    others = pl.DataFrame([series.alias(name) for name, series in computed.items()])
    taken = pl.concat([own, from_log, others], how="horizontal").to_arrow()
    columns = []
    for f in ORDERS.schema:
        if f.name in _SCALED:
            name = _SCALED[f.name]
            columns.append(decimals(created.get_column(f"{name}#").to_numpy(),
                                    created.get_column(f"{name}?").to_numpy()))  # fmt: skip
        elif f.name in taken.column_names:
            columns.append(taken.column(f.name).cast(f.type))
        else:
            columns.append(None)
    at = ORDERS.schema.get_field_index
    columns[at("filled")] = decimals(filled)
    columns[at("remaining")] = decimals(np.maximum(quantity - filled, 0))
    columns[at("fills_not_seen")] = decimals(np.where(ib_filled > filled, ib_filled - filled, 0))
    columns[at("commission")] = decimals(_commissions(frames))
    columns[at("avg_fill_price")] = decimals(*average_prices(frames, filled))
    return pa.Table.from_arrays(columns, schema=ORDERS.schema)


def first_fills(frames: Frames) -> pl.DataFrame:
    """Each order's first fill: IB's time, the recorded time, its order ref (first non-empty),
    its notification id and its IB-else-recorded time (the brackets' first fill)."""
    fills = frames.fills
    base = pl.DataFrame({"ord": np.arange(frames.orders, dtype=np.int64)})
    if not fills.height:
        return base.with_columns(
            pl.lit(None, pl.Datetime("us", "UTC")).alias("time"),
            pl.lit(None, pl.Datetime("us", "UTC")).alias("recorded"),
            pl.lit(None, pl.String).alias("order_ref"),
            pl.lit(None, pl.Int64).alias("nid"),
            pl.lit(None, pl.Datetime("us", "UTC")).alias("ts_ib"),
        )
    # The fills are in log order, an order's together: its first fill starts its segment.
    ords = fills.get_column("ord").to_numpy()
    rows = fills.get_column("row")
    ref = fills.get_column("execution.order_ref")
    named = np.flatnonzero((ref.fill_null("") != "").to_numpy())
    first = _firsts(np.arange(len(ords)), ords, frames.orders)
    first_named = _firsts(named, ords[named], frames.orders)
    out = frames.log.select(
        pl.col("ts_recorded").gather(rows.gather(first)).alias("recorded"),
        pl.col("nid").gather(rows.gather(first)),
    )
    return base.with_columns(
        fills.get_column("execution.time").gather(first).alias("time"),
        out.get_column("recorded"),
        ref.gather(first_named).alias("order_ref"),
        out.get_column("nid"),
    ).with_columns(pl.coalesce("time", "recorded").alias("ts_ib"))


def _firsts(at: np.ndarray, ords: np.ndarray, orders: int) -> pl.Series:
    """For each of ``orders`` orders, the first of the rows ``at`` (``ords``: theirs, in
    segments) that is its (null: none)."""
    starts = np.flatnonzero(np.r_[True, ords[1:] != ords[:-1]]) if len(ords) else ords
    index = np.full(orders, -1, np.int64)
    index[ords[starts]] = at[starts]
    series = pl.Series("at", index)
    return series.set(series < 0, None)
