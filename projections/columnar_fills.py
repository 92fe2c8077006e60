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
import pyarrow.compute as pc  # type: ignore[import-untyped]

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
    fills, log = frames.fills, frames.log
    rows = fills.get_column("row")
    ords = fills.get_column("ord")
    from_log = log.select(
        pl.col("nid", "ts_recorded", "ts_event", "order_id").gather(rows),
        pl.col("event_type").gather(rows).alias("cause"),
    )
    from_order = cols.created.select(
        pl.col("spec.account").alias("spec_account"),
        *_ORDER_TERMS,
        "order_key",
        "client_order_id",
        cols.origin.alias("origin"),
        cols.perm_id.alias("order_perm_id"),
    ).select(pl.all().gather(ords))
    account = pl.col("execution.account")
    first_recorded = pl.col("ts_recorded").gather(pl.col("first"))
    return pl.concat([fills, from_log, from_order], how="horizontal").with_columns(
        pl.when(pl.col("execution.side") == "BOT").then(1).otherwise(-1).alias("sign"),
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
    rows = reports.get_column("row")
    from_log = frames.log.select(pl.col("nid", "ts_recorded", "ts_event").gather(rows))
    return pl.concat([reports, from_log], how="horizontal")


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


def _report_columns(reports: pl.DataFrame | None, at: pl.Series, names: list[str]) -> pl.DataFrame:
    """Columns of the reports at rows ``at`` (null where ``at`` is, or there are no reports)."""
    if reports is None:
        return pl.DataFrame({n: pl.Series([None] * len(at)) for n in names})
    return reports.select(pl.col(names).gather(at))


# The fill rows' columns taken from the fill as it stands: (column, expression).
_FILL_VALUES: dict[str, pl.Expr] = {
    "exec_base_id": pl.col("base"),
    "exec_id": pl.col("execution.exec_id"),
    "replaces_exec_id": pl.col("replaces_exec_id"),
    "order_id": pl.col("order_id"),
    "order_key": pl.col("order_key"),
    "client_order_id": pl.col("client_order_id"),
    "order_ref": pl.col("execution.order_ref").replace("", None),
    "origin": pl.col("origin"),
    "perm_id": pl.when(pl.col("execution.perm_id").fill_null(0) != 0)
    .then(pl.col("execution.perm_id")).otherwise(pl.col("order_perm_id")),
    "ib_order_id": pl.col("execution.order_id"),
    "client_id": pl.col("execution.client_id"),
    "account": pl.col("account"),
    "con_id": pl.col("contract.con_id"),
    "symbol": pl.col("contract.symbol"),
    "sec_type": pl.col("contract.sec_type"),
    "currency": pl.col("contract.currency"),
    "exchange": pl.col("execution.exchange"),
    "side": pl.col("execution.side"),
    "ts_event": pl.col("execution.time"),
    "ts_ib": pl.col("ts_ib"),
    "ts_recorded": pl.col("ts_recorded"),
    "first_recorded": pl.col("first_recorded"),
    "notification_id": pl.col("nid"),
}  # fmt: skip
_REPORT_FIELDS = ["report.currency", "report.commission#", "report.commission?",
                  "report.realized_pnl#", "report.realized_pnl?"]  # fmt: skip


def _fill_rows(fills: pl.DataFrame, reports: pl.DataFrame | None) -> pa.Table:
    current = fills.filter(pl.col("last"))
    # The last report of the fill's base, before or after it.
    report = _report_columns(reports, _last_reports(current, reports), _REPORT_FIELDS)
    n = current.height
    shares = current.get_column("execution.shares#").to_numpy()
    price = current.get_column("execution.price#").to_numpy()
    sign = current.get_column("sign").to_numpy()
    taken = current.select(
        *(e.alias(name) for name, e in _FILL_VALUES.items()),
        report.get_column("report.currency").alias("commission_currency"),
    ).to_arrow()
    columns: list[pa.Array] = []
    for f in FILLS.schema:
        if f.name in taken.column_names:
            columns.append(taken.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    put = FILLS.schema.get_field_index

    def scaled(frame: pl.DataFrame, name: str) -> pa.Array:
        values = frame.get_column(f"{name}#").fill_null(0).to_numpy()
        return decimals(values, frame.get_column(f"{name}?").fill_null(False).to_numpy())

    columns[put("multiplier")] = decimals(current.get_column("contract.multiplier#").to_numpy())
    columns[put("quantity")] = decimals(shares)
    columns[put("price")] = decimals(price)
    columns[put("commission")] = scaled(report, "report.commission")
    columns[put("ib_realized_pnl")] = scaled(report, "report.realized_pnl")
    for term, column in (("limit_price", "limit_price"), ("reference_price", "reference_price")):
        v = current.get_column(f"spec.{term}#").to_numpy()
        ok = current.get_column(f"spec.{term}?").to_numpy()
        columns[put(column)] = decimals(v, ok)
        slip = "slippage_vs_limit" if term == "limit_price" else "slippage_vs_reference"
        # Positive slippage is a cost: bought above, or sold below, the price we meant.
        columns[put(slip)] = decimals((price - v) * sign, ok)
    return pa.Table.from_arrays(columns, schema=FILLS.schema)


def _ops(fills: pl.DataFrame, reports: pl.DataFrame | None) -> pa.Table:
    """An operation per execution (``ADD``) and correction (``REPLACE``), with the last report
    before it, then one per report that comes after its fill (``COMMISSION``): all of them
    gathered in one plan, converted to Arrow once."""
    n = fills.height
    if reports is None:
        report_before = np.full(n, -1, np.int64)
        fill_of_report = np.zeros(0, np.int64)
    else:
        report_before, fill_of_report = _timeline(fills, reports)
    after = np.flatnonzero(fill_of_report >= 0)
    taken = fills.select(*(pl.col(c).alias(name) for name, c in _OP_TAKEN.items()), *_OP_SCALED)
    kind = np.where(fills.get_column("corrects").to_numpy(), REPLACE, ADD)
    has = report_before >= 0
    report = np.maximum(report_before, 0)
    if reports is not None and len(after):
        # A report after its fill: the fill as it stood then, with the report's own log row.
        later = taken.select(pl.all().gather(pl.Series(fill_of_report[after])))
        own = reports.select(
            pl.col("nid", "ts_event", "ts_recorded"),
            pl.col("report.exec_id").alias("exec_id"),
            pl.lit(COMMISSION).alias("cause"),
        ).select(pl.all().gather(pl.Series(after)))
        later = later.with_columns(own.get_columns())
        taken = pl.concat([taken, later])
        kind = np.concatenate([kind, np.full(len(after), COMMISSION_OP)])
        has = np.concatenate([has, np.ones(len(after), bool)])
        report = np.concatenate([report, after])
    table = taken.to_arrow()
    shares = taken.get_column("execution.shares#").to_numpy()
    sign = taken.get_column("sign").to_numpy()
    columns = {name: table.column(name) for name in _OP_TAKEN}
    columns["multiplier"] = decimals(taken.get_column("contract.multiplier#").to_numpy())
    columns["quantity"] = decimals(shares * sign)
    columns["price"] = decimals(taken.get_column("execution.price#").to_numpy())
    columns["kind"] = pa.array(kind, pa.int8())
    columns["has_commission"] = pa.array(has)
    _commission(columns, reports, pl.Series(report), has)
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in OP_SCHEMA], schema=OP_SCHEMA)


# The operations' columns taken from the fill as it stood: (column, fill's column).
_OP_TAKEN = {
    "nid": "nid", "account": "account", "con_id": "contract.con_id", "origin": "book",
    "symbol": "contract.symbol", "sec_type": "contract.sec_type",
    "currency": "contract.currency", "base": "base", "ts_ib": "ts_ib", "cause": "cause",
    "exec_id": "execution.exec_id", "ts_event": "ts_event", "ts_recorded": "ts_recorded",
}  # fmt: skip
_OP_SCALED = ["contract.multiplier#", "execution.shares#", "sign", "execution.price#"]


def _commission(
    ops: dict[str, pa.Array], reports: pl.DataFrame | None, at: pl.Series, has: np.ndarray
) -> None:
    """The commission an operation carries: report ``at`` where it ``has`` one."""
    n = len(at)
    if reports is None or not has.any():
        ops["commission"] = pa.nulls(n, OP_SCHEMA.field("commission").type)
        ops["commission_currency"] = pa.array([""] * n, pa.string())
        return
    picked = reports.select(
        pl.col("report.commission#", "report.commission?", "report.currency").gather(at)
    )
    v = picked.get_column("report.commission#").fill_null(0).to_numpy()
    ok = picked.get_column("report.commission?").fill_null(False).to_numpy()
    ops["commission"] = decimals(v, ok & has)
    currency = picked.get_column("report.currency").to_arrow()
    ops["commission_currency"] = pc.if_else(pa.array(has), currency, "")
