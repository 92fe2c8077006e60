"""The fill rows and the positions' operations of the columnar route's orders
(docs/adr/0105-orders-pass-from-columns.md).

A fill is an execution and the corrections that replace it (one execId base, within its
order). Its row is its last execution's, with the order's terms and the last commission
report of its base — reported before the fill (held until it came), or after. The position
operations are what the fold hands the positions pass: an ``ADD`` per execution and a
``REPLACE`` per correction, each carrying the last report seen before it, and a ``COMMISSION``
per report that comes after its fill (with the fill as it stood then). The effect columns are
left for the positions pass.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.columnar_frame import COMMISSION, Frames
from ordertrail.projections.columnar_groups import Groups
from ordertrail.projections.columnar_orders import OrderColumns
from ordertrail.projections.columnar_values import decimals
from ordertrail.projections.op_spill import OP_SCHEMA
from ordertrail.projections.records import BROKER_BOOK, DRY_RUN_BOOK
from ordertrail.projections.schema import FILLS
from ordertrail.projections.streamed_position import ADD, REPLACE
from ordertrail.projections.streamed_position import COMMISSION as COMMISSION_OP


def _with_order(frames: Frames, cols: OrderColumns) -> pl.DataFrame:
    """Each execution or correction with its order's terms, its log row's values, its
    position's account, its signed quantity and the time it is placed at."""
    fills, log, created = frames.fills, frames.log, cols.created
    rows = fills.get_column("row").to_numpy()
    ords = fills.get_column("ord").to_numpy()
    account = pl.col("execution.account")
    sign = pl.when(pl.col("execution.side") == "BOT").then(1).otherwise(-1)
    out = fills.with_columns(
        log.get_column("nid").gather(rows).alias("nid"),
        log.get_column("ts_recorded").gather(rows).alias("ts_recorded"),
        log.get_column("ts_event").gather(rows).alias("ts_event"),
        log.get_column("event_type").gather(rows).alias("cause"),
        created.get_column("spec.account").gather(ords).alias("spec_account"),
        *(created.get_column(c).gather(ords).alias(c) for c in _ORDER_TERMS),
        cols.origin.gather(ords).alias("origin"),
        cols.perm_id.gather(ords).alias("order_perm_id"),
        created.get_column("order_key").gather(ords).alias("order_key"),
        created.get_column("client_order_id").gather(ords).alias("client_order_id"),
        log.get_column("order_id").gather(rows).alias("order_id"),
        sign.alias("sign"),
    )
    first_recorded = pl.col("ts_recorded").gather(pl.col("first"))
    return out.with_columns(
        pl.when(account.fill_null("") != "").then(account).otherwise(pl.col("spec_account"))
        .alias("account"),
        first_recorded.alias("first_recorded"),
        pl.coalesce("execution.time", first_recorded).alias("ts_ib"),
        pl.when(pl.col("origin") == DRY_RUN_BOOK).then(pl.lit(DRY_RUN_BOOK))
        .otherwise(pl.lit(BROKER_BOOK)).alias("book"),
    )  # fmt: skip


_ORDER_TERMS = (
    "contract.con_id", "contract.symbol", "contract.sec_type", "contract.currency",
    "contract.multiplier#", "spec.limit_price#", "spec.limit_price?",
    "spec.reference_price#", "spec.reference_price?",
)  # fmt: skip


def _reports(frames: Frames) -> pl.DataFrame | None:
    reports = frames.topics.get(COMMISSION)
    if reports is None or not reports.height:
        return None
    rows = reports.get_column("row").to_numpy()
    log = frames.log
    return reports.with_columns(
        log.get_column("nid").gather(rows).alias("nid"),
        log.get_column("ts_recorded").gather(rows).alias("ts_recorded"),
        log.get_column("ts_event").gather(rows).alias("ts_event"),
    )


def _timeline(fills: pl.DataFrame, reports: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Fills and reports of each (order, base) in log order: for each fill, the last report
    before it, and for each report, the fill as it stood then (indexes; -1: none)."""
    nf = fills.height
    keys = np.concatenate([fills.get_column("key").to_numpy(), reports.get_column("key")])
    rows = np.concatenate([fills.get_column("row").to_numpy(), reports.get_column("row")])
    order = np.argsort(rows, kind="stable")
    is_fill = order < nf
    groups = Groups.of(keys[order])
    fill_then = groups.last_marked(is_fill)
    report_then = groups.last_marked(~is_fill)
    fill_then = np.where(fill_then >= 0, order[np.maximum(fill_then, 0)], -1)
    report_then = np.where(report_then >= 0, order[np.maximum(report_then, 0)] - nf, -1)
    report_before = np.empty(nf, np.int64)
    report_before[order[is_fill]] = report_then[is_fill]
    fill_of_report = np.empty(len(order) - nf, np.int64)
    fill_of_report[order[~is_fill] - nf] = fill_then[~is_fill]
    return report_before, fill_of_report


def _last_reports(fills: pl.DataFrame, reports: pl.DataFrame | None) -> pl.Series:
    """For each fill, the last report of its (order, base), before or after it (null:
    none)."""
    if reports is None:
        return pl.Series("r", [None] * fills.height, pl.Int64)
    report_keys = reports.get_column("key").to_numpy()
    order = np.argsort(report_keys, kind="stable")
    ranked = report_keys[order]
    wanted = fills.get_column("key").to_numpy()
    at = np.searchsorted(ranked, wanted, side="right") - 1
    found = (at >= 0) & (ranked[np.maximum(at, 0)] == wanted)
    return pl.Series("r", np.where(found, order[np.maximum(at, 0)], 0)).set(pl.Series(~found), None)


def fill_tables(frames: Frames, cols: OrderColumns) -> tuple[pa.Table, pa.Table]:
    """(fill rows, position operations) of the chunk's columnar orders."""
    fills = _with_order(frames, cols)
    reports = _reports(frames)
    return _fill_rows(fills, reports), _ops(fills, reports)


def _report_column(reports: pl.DataFrame | None, name: str, at: pl.Series) -> pl.Series:
    if reports is None:
        return pl.Series(name, [None] * len(at))
    return reports.get_column(name).gather(at)


def _fill_rows(fills: pl.DataFrame, reports: pl.DataFrame | None) -> pa.Table:
    current = fills.filter(pl.col("last"))
    # The last report of the fill's base, before or after it.
    at = _last_reports(current, reports)
    n = current.height
    shares = current.get_column("execution.shares#").to_numpy()
    price = current.get_column("execution.price#").to_numpy()
    sign = current.get_column("sign").to_numpy()
    perm = current.get_column("execution.perm_id")
    values = {
        "exec_base_id": current.get_column("base"),
        "exec_id": current.get_column("execution.exec_id"),
        "replaces_exec_id": current.get_column("replaces_exec_id"),
        "order_id": current.get_column("order_id"),
        "order_key": current.get_column("order_key"),
        "client_order_id": current.get_column("client_order_id"),
        "order_ref": current.get_column("execution.order_ref").replace("", None),
        "origin": current.get_column("origin"),
        "perm_id": pl.select(pl.when(perm.fill_null(0) != 0).then(perm)
                             .otherwise(current.get_column("order_perm_id"))).to_series(),
        "ib_order_id": current.get_column("execution.order_id"),
        "client_id": current.get_column("execution.client_id"),
        "account": current.get_column("account"),
        "con_id": current.get_column("contract.con_id"),
        "symbol": current.get_column("contract.symbol"),
        "sec_type": current.get_column("contract.sec_type"),
        "currency": current.get_column("contract.currency"),
        "exchange": current.get_column("execution.exchange"),
        "side": current.get_column("execution.side"),
        "ts_event": current.get_column("execution.time"),
        "ts_ib": current.get_column("ts_ib"),
        "ts_recorded": current.get_column("ts_recorded"),
        "first_recorded": current.get_column("first_recorded"),
        "commission_currency": _report_column(reports, "report.currency", at),
        "notification_id": current.get_column("nid"),
    }  # fmt: skip
    columns: list[pa.Array] = []
    for f in FILLS.schema:
        if f.name in values:
            columns.append(values[f.name].to_arrow().cast(f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    put = FILLS.schema.get_field_index

    def scaled(name: str) -> tuple[np.ndarray, np.ndarray]:
        return current.get_column(f"{name}#").to_numpy(), current.get_column(f"{name}?").to_numpy()

    columns[put("multiplier")] = decimals(current.get_column("contract.multiplier#").to_numpy())
    columns[put("quantity")] = decimals(shares)
    columns[put("price")] = decimals(price)
    for report, column in (("commission", "commission"), ("realized_pnl", "ib_realized_pnl")):
        v = _report_column(reports, f"report.{report}#", at).fill_null(0).to_numpy()
        ok = _report_column(reports, f"report.{report}?", at).fill_null(False).to_numpy()
        columns[put(column)] = decimals(v, ok)
    for term, column in (("limit_price", "limit_price"), ("reference_price", "reference_price")):
        v, ok = scaled(f"spec.{term}")
        columns[put(column)] = decimals(v, ok)
        slip = "slippage_vs_limit" if term == "limit_price" else "slippage_vs_reference"
        # Positive slippage is a cost: bought above, or sold below, the price we meant.
        columns[put(slip)] = decimals((price - v) * sign, ok)
    return pa.Table.from_arrays(columns, schema=FILLS.schema)


def _ops(fills: pl.DataFrame, reports: pl.DataFrame | None) -> pa.Table:
    """An operation per execution (``ADD``) and correction (``REPLACE``), with the last report
    before it, and per report that comes after its fill (``COMMISSION``)."""
    if reports is None:
        report_before = np.full(fills.height, -1, np.int64)
        fill_of_report = np.zeros(0, np.int64)
    else:
        report_before, fill_of_report = _timeline(fills, reports)
    fill_ops = _op_columns(fills, None)
    kind = np.where(fills.get_column("corrects").to_numpy(), REPLACE, ADD)
    fill_ops["kind"] = pa.array(kind, pa.int8())
    has = report_before >= 0
    fill_ops["has_commission"] = pa.array(has)
    _commission(fill_ops, reports, pl.Series(np.maximum(report_before, 0)), has)
    parts = [fill_ops]
    after = np.flatnonzero(fill_of_report >= 0)
    if reports is not None and len(after):
        at = pl.Series(after)
        report_ops = _op_columns(fills, pl.Series(fill_of_report[after]))
        own = ("nid", "ts_event", "ts_recorded")
        for name, column in (*zip(own, own, strict=True), ("exec_id", "report.exec_id")):
            report_ops[name] = reports.get_column(column).gather(at).to_arrow()
        report_ops["cause"] = pa.array([COMMISSION] * len(after), pa.string())
        report_ops["kind"] = pa.array(np.full(len(after), COMMISSION_OP), pa.int8())
        report_ops["has_commission"] = pa.array(np.ones(len(after), bool))
        _commission(report_ops, reports, at, np.ones(len(after), bool))
        parts.append(report_ops)
    tables = [
        pa.Table.from_arrays([p[f.name].cast(f.type) for f in OP_SCHEMA], schema=OP_SCHEMA)
        for p in parts
    ]
    return pa.concat_tables(tables)


# The fill's columns an operation reads.
_OP_FIELDS = [
    "nid", "account", "contract.con_id", "book", "contract.symbol", "contract.sec_type",
    "contract.currency", "contract.multiplier#", "base", "ts_ib", "execution.shares#", "sign",
    "execution.price#", "cause", "execution.exec_id", "ts_event", "ts_recorded",
]  # fmt: skip


def _op_columns(fills: pl.DataFrame, at: pl.Series | None) -> dict[str, pa.Array]:
    """An operation's columns taken from the fill as it stood (rows ``at`` of ``fills``;
    None: every row)."""
    picked = fills if at is None else fills.select(pl.col(_OP_FIELDS).gather(at))
    shares = picked.get_column("execution.shares#").to_numpy()
    sign = picked.get_column("sign").to_numpy()
    return {
        "nid": picked.get_column("nid").to_arrow(),
        "account": picked.get_column("account").to_arrow(),
        "con_id": picked.get_column("contract.con_id").to_arrow(),
        "origin": picked.get_column("book").to_arrow(),
        "symbol": picked.get_column("contract.symbol").to_arrow(),
        "sec_type": picked.get_column("contract.sec_type").to_arrow(),
        "currency": picked.get_column("contract.currency").to_arrow(),
        "multiplier": decimals(picked.get_column("contract.multiplier#").to_numpy()),
        "base": picked.get_column("base").to_arrow(),
        "ts_ib": picked.get_column("ts_ib").to_arrow(),
        "quantity": decimals(shares * sign),
        "price": decimals(picked.get_column("execution.price#").to_numpy()),
        "cause": picked.get_column("cause").to_arrow(),
        "exec_id": picked.get_column("execution.exec_id").to_arrow(),
        "ts_event": picked.get_column("ts_event").to_arrow(),
        "ts_recorded": picked.get_column("ts_recorded").to_arrow(),
    }


def _commission(
    ops: dict[str, pa.Array], reports: pl.DataFrame | None, at: pl.Series, has: np.ndarray
) -> None:
    """The commission an operation carries: report ``at`` where it ``has`` one."""
    n = len(at)
    if reports is None or not has.any():
        ops["commission"] = pa.nulls(n, OP_SCHEMA.field("commission").type)
        ops["commission_currency"] = pa.array([""] * n, pa.string())
        return
    v = _report_column(reports, "report.commission#", at).fill_null(0).to_numpy()
    ok = _report_column(reports, "report.commission?", at).fill_null(False).to_numpy()
    ops["commission"] = decimals(v, ok & has)
    currency = _report_column(reports, "report.currency", at)
    chosen = pl.select(pl.when(pl.Series(has)).then(currency).otherwise(pl.lit(""))).to_series()
    ops["commission_currency"] = chosen.to_arrow()
