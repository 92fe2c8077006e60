"""One decoded chunk of the log (``DecodedChunk``: whole orders, their events in version order)
split between the two routes of the rebuild's orders pass
(docs/adr/0105-orders-pass-from-columns.md), and the columnar route's frames.

An order takes the columnar route when every one of its events is of a topic the columns
reproduce exactly (``COVERED``: the lifecycle of an order that is placed, submitted, reported
and filled, with corrections, commission reports, IB's errors, recorded anomalies, our
cancels and their refusals, the requests a session sends IB about it and the identifiers IB
binds to it), it begins with its creation, and its values fit the columns
(``columnar_values``). Anything else — a bust, a modification, a risk refusal, a session's
messages, a fill whose execId repeats without a correction, a correction that moves a fill
to another account, a fill without an account of its own in an order whose account IB
supplied (the fill's account would depend on when IB named it), a Decimal a table reads
(``DECIMALS``) in exponent form or past the scaled range, a field the decoder could not type —
sends the whole order to the fold (``OrderPass``), as before.

The split is the pass's first step, about a fifth of its CPU time (``bench_orders``'
``split``): each topic's fields cross into polars once, the checks that look at an order's
rows together are numpy over its segment of the chunk (an order's rows are contiguous), and
each fill's and report's (order, execId base) key is numbered once
(docs/adr/0123-orders-pass-in-fewer-plans.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.columnar_groups import Groups, fill_keys
from ordertrail.projections.columnar_values import beyond_int64_sums, scaled

CREATED = "OrderCreated"
SUBMITTED = "SubmissionRequested"
STATUS = "StatusReported"
EXECUTION = "ExecutionRecorded"
CORRECTION = "ExecutionCorrected"
COMMISSION = "CommissionReported"
ERROR = "ErrorReported"
ANOMALY = "AnomalyRecorded"
CANCEL = "CancelRequested"
CANCEL_REFUSED = "CancelRefused"
REQUEST = "RequestSent"
BOUND = "IdentifiersBound"
COVERED = (CREATED, SUBMITTED, STATUS, EXECUTION, CORRECTION, COMMISSION, ERROR, ANOMALY,
           CANCEL, CANCEL_REFUSED, REQUEST, BOUND)  # fmt: skip

# Each covered topic's fields the columnar route reads: (name in the chunk, type).
_S, _I, _B, _T = pl.String, pl.Int64, pl.Boolean, pl.Datetime("us", "UTC")
FIELDS: dict[str, dict[str, Any]] = {
    CREATED: {
        "order_key": _S, "client_order_id": _S, "perm_id": _I, "origin": _S,
        "contract.con_id": _I, "contract.symbol": _S, "contract.sec_type": _S,
        "contract.currency": _S, "contract.multiplier": _S, "spec.action": _S,
        "spec.quantity": _S, "spec.order_type": _S, "spec.limit_price": _S,
        "spec.stop_price": _S, "spec.tif": _S, "spec.account": _S, "spec.oca_group": _S,
        "spec.oca_type": _I, "spec.reference_price": _S, "parent_key": _S, "group_id": _S,
    },
    SUBMITTED: {"client_id": _I, "order_id": _I, "mode": _S},
    STATUS: {"raw_status": _S, "filled": _S, "remaining": _S, "why_held": _S, "perm_id": _I},
    EXECUTION: {
        "execution.exec_id": _S, "execution.time": _T, "execution.account": _S,
        "execution.exchange": _S, "execution.side": _S, "execution.shares": _S,
        "execution.price": _S, "execution.perm_id": _I, "execution.client_id": _I,
        "execution.order_id": _I, "execution.order_ref": _S,
    },
    COMMISSION: {
        "report.exec_id": _S, "report.commission": _S, "report.currency": _S,
        "report.realized_pnl": _S,
    },
}  # fmt: skip
FIELDS[CORRECTION] = {**FIELDS[EXECUTION], "replaces_exec_id": _S}
FIELDS[ERROR] = {"code": _I, "message": _S, "effect": _S}
FIELDS[ANOMALY] = {"kind": _S, "expected": _S, "received": _S}
FIELDS[CANCEL] = {}
FIELDS[CANCEL_REFUSED] = {"code": _I}
FIELDS[REQUEST] = {
    "kind": _S, "client_id": _I, "order_id": _I, "spec.action": _S, "spec.quantity": _S,
    "spec.order_type": _S, "spec.limit_price": _S,
}  # fmt: skip
FIELDS[BOUND] = {"perm_id": _I, "client_id": _I, "order_id": _I, "account": _S}
# The Decimal fields a table's number is computed from, each made a scaled int64 column named
# with a trailing "#". The others (a status's remaining, a request's terms) only appear in the
# summary line, which is their stored text (``str`` of the decoded Decimal): they are not
# parsed, and their form does not send an order to the fold.
DECIMALS: dict[str, tuple[str, ...]] = {
    CREATED: ("contract.multiplier", "spec.quantity", "spec.limit_price", "spec.stop_price",
              "spec.reference_price"),
    STATUS: ("filled",),
    EXECUTION: ("execution.shares", "execution.price"),
    CORRECTION: ("execution.shares", "execution.price"),
    COMMISSION: ("report.commission", "report.realized_pnl"),
}  # fmt: skip


@dataclass
class Frames:
    """The columnar route's share of a chunk: ``log`` its rows (``ord`` numbers its orders
    0, 1, … in chunk order), one frame per covered topic (``row`` is the row's place in
    ``log``, ``ord`` its order), ``fills`` the executions and corrections together."""

    log: pl.DataFrame
    topics: dict[str, pl.DataFrame]
    fills: pl.DataFrame
    orders: int
    source: pa.Table  # ``log``'s rows as the chunk holds them (``LOG_SCHEMA``), payload included


@dataclass
class Split:
    """Which orders of a chunk take which route."""

    frames: Frames | None  # None: no order takes the columnar route
    fallback: list[str]  # order ids (canonical text), in chunk order


def split(chunk: Any, force_fold: bool = False) -> Split:
    """The chunk's orders divided between the columnar route and the fold."""
    # The stored bytes stay in Arrow (``Frames.source``): a copy into polars costs as much as
    # the rest of the frame. So does each event's status, which only Arrow reads.
    log = pl.from_arrow(chunk.log.drop_columns(["payload", "status"]))
    assert isinstance(log, pl.DataFrame)
    log = log.with_columns(pl.col("order_id").rle_id().cast(pl.Int64).alias("ord"))
    ords = log.get_column("ord").to_numpy()
    n_orders = int(ords[-1]) + 1 if len(ords) else 0
    bad = np.zeros(n_orders, bool)
    if force_fold:
        bad[:] = True
    _refuse_shapes(chunk.log, ords, bad)
    if chunk.fallback:
        named = log.filter(pl.col("order_id").is_in(list(chunk.fallback)))
        bad[named.get_column("ord").to_numpy()] = True
    topics = {}
    for name in COVERED:
        table = chunk.topics.get(name)
        if table is not None and table.num_rows:
            topics[name] = _topic(name, table, ords, bad)
    fills, reports = _keyed(_fills(topics), topics.get(COMMISSION))
    if reports is not None:
        topics[COMMISSION] = reports
    groups = _refuse_fills(fills, bad)
    _refuse_late_accounts(topics, fills, bad)
    fallback: list[str] = []
    if bad.any():
        ids = log.select("ord", "order_id").unique("ord", keep="first", maintain_order=True)
        fallback = ids.filter(pl.Series(bad)).get_column("order_id").to_list()
    if bad.all():
        return Split(None, fallback)
    return Split(_kept(chunk.log, log, topics, fills, bad, groups), fallback)


def _keyed(
    fills: pl.DataFrame, reports: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The fills and the commission reports with their execId ``base`` and, per row, the
    ``key`` of its (order, base), one numbering for both (a report is for the fill of its key)."""
    n = fills.height
    bases = fills.get_column("base").to_arrow()
    ords = fills.get_column("ord").to_numpy()
    if reports is not None:
        reports = reports.with_columns(base_of("report.exec_id"))
        bases = pa.concat_arrays([bases, reports.get_column("base").to_arrow()])
        ords = np.concatenate([ords, reports.get_column("ord").to_numpy()])
    keys = fill_keys(ords, bases)
    fills = fills.with_columns(pl.Series("key", keys[:n]))
    if reports is not None:
        reports = reports.with_columns(pl.Series("key", keys[n:]))
    return fills, reports


def _refuse_shapes(source: pa.Table, ords: np.ndarray, bad: np.ndarray) -> None:
    """Orders not begun by their creation, created twice, or with an uncovered topic (each
    order's rows are together, in version order: segments of ``ords``)."""
    if not len(ords):
        return
    names = source.column("event_type")
    created = np.asarray(pc.fill_null(pc.equal(names, CREATED), False).combine_chunks(), bool)
    uncovered = ~np.asarray(pc.is_in(names, pa.array(COVERED)).combine_chunks(), bool)
    no_status = np.asarray(source.column("status").is_null().combine_chunks(), bool)
    starts = np.flatnonzero(np.r_[True, ords[1:] != ords[:-1]])
    refused = ~created[starts] | no_status[starts]
    refused |= np.add.reduceat(created.astype(np.int64), starts) != 1
    refused |= np.logical_or.reduceat(uncovered, starts)
    bad[ords[starts][refused]] = True


def _topic(name: str, table: pa.Table, ords: np.ndarray, bad: np.ndarray) -> pl.DataFrame:
    """The fields the route reads of one topic (only those cross into polars), each Decimal
    also as its scaled value (``#``) and whether it has one (``?``)."""
    present = [f for f in FIELDS[name] if f in table.column_names]
    frame = pl.from_arrow(table.select(["row", *present]))
    assert isinstance(frame, pl.DataFrame)
    rows = frame.get_column("row").to_numpy()
    at = ords[rows]
    columns: list[pl.Series] = [pl.Series("row", rows, pl.Int64), pl.Series("ord", at, pl.Int64)]
    for field, dtype in FIELDS[name].items():
        if field in present:
            columns.append(_typed(frame.get_column(field), dtype, at, bad))
        else:  # a key absent from older events reads as null
            columns.append(pl.Series(field, [None] * len(rows), dtype))
    for field in DECIMALS.get(name, ()):
        text = table.column(field) if field in present else pa.nulls(len(rows), pa.string())
        if text.type != pa.string():
            text = text.cast(pa.string())
        values, valid, refused = scaled(text)
        bad[at[refused]] = True
        columns.append(pl.Series(f"{field}#", values, pl.Int64))
        columns.append(pl.Series(f"{field}?", valid, pl.Boolean))
    return pl.DataFrame(columns)


def _typed(series: pl.Series, dtype: Any, ords: np.ndarray, bad: np.ndarray) -> pl.Series:
    """A field as the type the route reads; a value that will not convert refuses its order."""
    if series.dtype == dtype:
        return series
    converted = series.cast(dtype, strict=False)
    lost = (converted.is_null() & series.is_not_null()).to_numpy()
    if lost.any():
        bad[ords[lost]] = True
    return converted


def _fills(topics: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Executions and corrections in log order, with each one's execId base (IB corrects an
    execution by re-sending its execId with a higher suffix after the last dot)."""
    parts = []
    for name in (EXECUTION, CORRECTION):
        frame = topics.get(name)
        if frame is None:
            continue
        if name == EXECUTION:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("replaces_exec_id"))
        parts.append(frame.with_columns(pl.lit(name == CORRECTION).alias("corrects")))
    if not parts:
        return pl.DataFrame(schema={"row": pl.Int64, "ord": pl.Int64, "base": pl.String})
    fills = pl.concat(parts, how="diagonal").sort("row")
    return fills.with_columns(base_of("execution.exec_id"))


def base_of(exec_id: str) -> pl.Expr:
    """The execId base (``values.exec_base_id``): IB corrects an execution by re-sending its
    execId with a higher suffix after the last dot."""
    # ``str.rpartition``: a regex replace of the last dot and what follows it (an extract of
    # what precedes it costs ten times as much, and its "." stops at a newline).
    return pl.col(exec_id).str.replace(r"\.[^.]*$", "").alias("base")


def _refuse_fills(fills: pl.DataFrame, bad: np.ndarray) -> Groups:
    """A repeated execution, a correction of nothing, a correction that moves its fill to
    another account (the fold books those as replacements and moves between positions), a
    side that is neither bought nor sold, negative shares, and orders whose fill sums could
    leave the scaled range; the fills grouped by key."""
    groups = Groups.of(fills.get_column("key").to_numpy())
    if not fills.height:
        return groups
    ords = fills.get_column("ord").to_numpy()
    corrects = fills.get_column("corrects").to_numpy()
    account = fills.get_column("execution.account").fill_null("").to_numpy()
    side = fills.get_column("execution.side").fill_null("").to_numpy()
    shares = fills.get_column("execution.shares#").to_numpy()
    wrong = (groups.previous() < 0) == corrects
    wrong |= account != account[groups.first()]
    wrong |= (side != "BOT") & (side != "SLD")
    wrong |= shares < 0
    bad[ords[wrong]] = True
    bad[beyond_int64_sums(ords, shares, len(bad))] = True
    return groups


def _refuse_late_accounts(
    topics: dict[str, pl.DataFrame], fills: pl.DataFrame, bad: np.ndarray
) -> None:
    """Orders created without an account that IB names in ``IdentifiersBound`` and that have a
    fill without an account of its own: the fold books such a fill to the order's account as
    it stands at the fill, which the columns do not follow."""
    bound, created = topics.get(BOUND), topics.get(CREATED)
    if bound is None or created is None or not fills.height:
        return

    def ords(frame: pl.DataFrame, column: str, empty: bool) -> np.ndarray:
        text = pl.col(column).fill_null("")
        return frame.filter((text == "") if empty else (text != "")).get_column("ord").to_numpy()

    named = ords(bound, "account", empty=False)
    late = np.intersect1d(named, ords(created, "spec.account", empty=True))
    bad[np.intersect1d(late, ords(fills, "execution.account", empty=True))] = True


def with_groups(fills: pl.DataFrame, groups: Groups | None = None) -> pl.DataFrame:
    """The fills (with their ``key``) with, per row, the previous row of its group (-1: none),
    the first, and whether it is the last (the fill as it stands at the end); ``groups``: the
    fills already grouped by key, when they are."""
    if groups is None:
        groups = Groups.of(fills.get_column("key").to_numpy())
    return fills.with_columns(
        pl.Series("prev", groups.previous()),
        pl.Series("first", groups.first()),
        pl.Series("last", groups.is_last()),
    )


def _kept(
    source: pa.Table,
    log: pl.DataFrame,
    topics: dict[str, pl.DataFrame],
    fills: pl.DataFrame,
    bad: np.ndarray,
    groups: Groups,
) -> Frames:
    """Only the columnar orders' rows, their orders renumbered 0, 1, … and rows re-indexed."""
    if bad.any():
        log, topics, fills, source = _without(source, log, topics, fills, bad)
        fills = with_groups(fills)
    else:  # every order takes the columns: nothing to renumber
        log = log.with_columns(pl.Series("row", np.arange(log.height)))
        fills = with_groups(fills, groups)
    return Frames(log, topics, fills, int((~bad).sum()), source)


def _without(
    source: pa.Table,
    log: pl.DataFrame,
    topics: dict[str, pl.DataFrame],
    fills: pl.DataFrame,
    bad: np.ndarray,
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame], pl.DataFrame, pa.Table]:
    """The chunk's rows less those of the ``bad`` orders, renumbered."""
    good = ~bad
    renumber = np.cumsum(good) - 1
    keep_rows = good[log.get_column("ord").to_numpy()]
    kept_log = log.filter(pl.Series(keep_rows))
    row_map = np.full(log.height, -1, np.int64)
    row_map[keep_rows] = np.arange(kept_log.height)
    kept_log = kept_log.with_columns(
        pl.Series("ord", renumber[kept_log.get_column("ord").to_numpy()]),
        pl.Series("row", np.arange(kept_log.height)),
    )

    def kept(frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.filter(pl.Series(good[frame.get_column("ord").to_numpy()]))
        return frame.with_columns(
            pl.Series("row", row_map[frame.get_column("row").to_numpy()]),
            pl.Series("ord", renumber[frame.get_column("ord").to_numpy()]),
        )

    kept_topics = {name: kept(frame) for name, frame in topics.items()}
    kept_fills = kept(fills) if fills.height else fills
    kept_source = source if keep_rows.all() else source.filter(pa.array(keep_rows))
    return kept_log, kept_topics, kept_fills, kept_source
