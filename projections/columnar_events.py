"""The ``events`` rows of the columnar route's orders (docs/adr/0105-orders-pass-from-columns.md):
every column computed over a chunk at once, each exactly as the fold writes it.

* ``status``: the status the order is in after the event — the event's own where its class
  has one, else the one before (forward-filled within the order, which begins with its
  creation and so always has one);
* ``filled``: the order's filled quantity after the event — the running sum of what each
  execution adds and each correction changes (its shares less those of the execution it
  replaces);
* ``summary``: ``describe.summary``'s line, built per topic from the stored text of each value
  (``str`` of a stored Decimal is the text it was stored as; a missing value reads ``None``,
  as the f-string says it);
* ``day``: the UTC date of the recorded time; ``payload``: the stored bytes, as text.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.columnar_frame import (
    ANOMALY,
    BOUND,
    CANCEL,
    CANCEL_REFUSED,
    COMMISSION,
    CORRECTION,
    CREATED,
    ERROR,
    EXECUTION,
    REQUEST,
    STATUS,
    SUBMITTED,
    Frames,
)
from ordertrail.projections.columnar_values import decimals
from ordertrail.projections.schema import EVENTS


def text(name: str) -> pl.Expr:
    """A value as an f-string writes it (``None`` for a missing one)."""
    return pl.col(name).cast(pl.String).fill_null("None")


def _if(condition: pl.Expr, then: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(then).otherwise(pl.lit(""))


def _join(*parts: pl.Expr | str) -> pl.Expr:
    exprs = [pl.lit(p) if isinstance(p, str) else p for p in parts]
    return pl.concat_str(exprs)


def _summaries() -> dict[str, pl.Expr]:
    limit, stop = pl.col("spec.limit_price"), pl.col("spec.stop_price")
    mode, held = pl.col("mode"), pl.col("why_held")
    pnl = pl.col("report.realized_pnl")
    effect = pl.col("effect")
    price = _join(" @ ", text("spec.limit_price"))
    perm = pl.when(pl.col("perm_id").fill_null(0) != 0).then(_join("permId ", text("perm_id")))
    alias = pl.when(pl.col("order_id").is_not_null()).then(
        _join("clientId ", text("client_id"), " orderId ", text("order_id"))
    )
    bound = pl.concat_str([perm, alias], separator=", ", ignore_nulls=True).fill_null("")
    return {
        CREATED: _join(
            text("origin"), ": ", text("spec.action"), " ", text("spec.quantity"), " ",
            text("contract.symbol"), " ", text("spec.order_type"),
            _if(limit.is_not_null(), _join(" @ ", text("spec.limit_price"))),
            _if(stop.is_not_null(), _join(" stop ", text("spec.stop_price"))),
            " ", text("spec.tif"),
        ),
        SUBMITTED: _join(
            "submit as clientId ", text("client_id"), " orderId ", text("order_id"),
            _if(mode.is_not_null() & (mode != ""), _join(" (", text("mode"), ")")),
        ),
        STATUS: _join(
            "IB status ", text("raw_status"), " filled=", text("filled"), " remaining=",
            text("remaining"),
            _if(held.is_not_null() & (held != ""), _join(" whyHeld=", text("why_held"))),
        ),
        EXECUTION: _join(
            "execution ", text("execution.exec_id"), " ", text("execution.side"), " ",
            text("execution.shares"), " @ ", text("execution.price"), " on ",
            text("execution.exchange"),
        ),
        CORRECTION: _join(
            "correction ", text("execution.exec_id"), " (replaces ", text("replaces_exec_id"),
            ") ", text("execution.shares"), " @ ", text("execution.price"),
        ),
        COMMISSION: _join(
            "commission ", text("report.commission"), " ", text("report.currency"), " for ",
            text("report.exec_id"),
            _if(pnl.is_not_null(), _join(" realized ", text("report.realized_pnl"))),
        ),
        ERROR: _join(
            "IB error ", text("code"), ": ", text("message"),
            _if(effect.is_not_null() & (effect != ""),
                _join(" (", effect.str.replace_all("_", " ", literal=True), ")")),
        ),
        CANCEL: pl.lit("cancel requested"),
        CANCEL_REFUSED: _join(
            "cancel did not happen (",
            pl.when(pl.col("code").fill_null(0) != 0)
            .then(_join("error ", text("code")))
            .otherwise(pl.lit("IB put the order back to work")),
            ")",
        ),
        ANOMALY: _join(
            "ANOMALY ", text("kind"), ": received ", text("received"), "; expected ",
            text("expected"),
        ),
        REQUEST: _join(
            text("kind"), " sent as clientId ", text("client_id"), " orderId ",
            text("order_id"),
            # A spec always has an action: a request without one carries no terms.
            _if(pl.col("spec.action").is_not_null(), _join(
                ": ", text("spec.action"), " ", text("spec.quantity"), " ",
                text("spec.order_type"), _if(limit.is_not_null(), price),
            )),
        ),
        BOUND: _join("IB identifiers: ", bound),
    }  # fmt: skip


_SUMMARIES = _summaries()


def fill_deltas(fills: pl.DataFrame) -> np.ndarray:
    """What each execution or correction changes the order's filled quantity by (scaled)."""
    shares = fills.get_column("execution.shares#").to_numpy()
    prev = fills.get_column("prev").to_numpy()
    corrects = fills.get_column("corrects").to_numpy()
    return np.where(corrects, shares - shares[np.maximum(prev, 0)], shares)


def filled_after(frames: Frames) -> np.ndarray:
    """Each row's order's filled quantity after the row's event (scaled int64)."""
    n = frames.log.height
    deltas = np.zeros(n, np.int64)
    if frames.fills.height:
        deltas[frames.fills.get_column("row").to_numpy()] = fill_deltas(frames.fills)
    running = np.cumsum(deltas)
    ords = frames.log.get_column("ord").to_numpy()
    starts = np.flatnonzero(np.r_[True, ords[1:] != ords[:-1]])
    before = running[starts] - deltas[starts]
    return running - np.repeat(before, np.diff(np.r_[starts, n]))


def summaries(frames: Frames) -> pl.Series:
    """Each row's summary line."""
    parts = [
        frame.select(pl.col("row"), _SUMMARIES[name].alias("summary"))
        for name, frame in frames.topics.items()
    ]
    rows = pl.concat(parts).sort("row")
    if rows.height != frames.log.height:
        raise ValueError("a columnar row has no topic row")
    return rows.get_column("summary")


def events_table(frames: Frames, order_keys: pl.Series) -> pa.Table:
    """The chunk's columnar rows as ``events`` rows (``order_keys``: each order's key)."""
    source = frames.source
    ords = frames.log.get_column("ord").to_numpy()
    status = pc.fill_null_forward(source.column("status").combine_chunks())
    ts = source.column("ts_recorded")
    columns = {
        "notification_id": source.column("nid"),
        "order_id": source.column("order_id"),
        "order_key": order_keys.to_arrow().cast(pa.string()).take(pa.array(ords)),
        "version": source.column("version"),
        "event_type": source.column("event_type"),
        "ts_event": source.column("ts_event"),
        "ts_recorded": ts,
        # The recorded time is ours, taken in UTC: its date in Arrow is the UTC day.
        "day": ts.cast(pa.date32()),
        "status": status,
        "filled": decimals(filled_after(frames)),
        "summary": summaries(frames).to_arrow().cast(pa.string()),
        "payload": source.column("payload").cast(pa.string()),  # checks the UTF-8
    }
    return pa.Table.from_arrays([columns[f.name] for f in EVENTS.schema], schema=EVENTS.schema)
