"""The report's charts, drawn with Plotly (its JavaScript is inlined once by the page, so the
file opens offline). Times are shown as wall-clock strings in the report's zone: Plotly's date
axes have no zones, so the conversion happens here, once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from ordertrail.domain.status import OrderStatus

# Working statuses in blues, done ones in their outcome's colour, surprises in orange and red.
STATUS_COLOURS = {
    OrderStatus.NEW: "#c7c7c7",
    OrderStatus.DISCOVERED: "#c7c7c7",
    OrderStatus.PENDING_SUBMIT: "#9ecae1",
    OrderStatus.API_PENDING: "#9ecae1",
    OrderStatus.PRE_SUBMITTED: "#6baed6",
    OrderStatus.SUBMITTED: "#2171b5",
    OrderStatus.PENDING_CANCEL: "#fd8d3c",
    OrderStatus.FILLED: "#31a354",
    OrderStatus.CANCELLED: "#636363",
    OrderStatus.API_CANCELLED: "#636363",
    OrderStatus.INACTIVE: "#de2d26",
    OrderStatus.RISK_DENIED: "#a50f15",
}
_COLOUR_BY_NAME = {s.value: c for s, c in STATUS_COLOURS.items()}
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
    "height": 380,
}


def wall(values: list[datetime | None]) -> list[str | None]:
    return [None if t is None else t.strftime("%Y-%m-%d %H:%M:%S.%f") for t in values]


def floats(values: list[Any]) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def pnl(curve: pl.DataFrame, tz: str) -> go.Figure:
    fig = go.Figure()
    for (account, ccy), part in curve.group_by("account", "ccy", maintain_order=True):
        x = wall(part["ts_ib"].to_list())
        text = [f"{s} {e}" for s, e in zip(part["symbol"], part["exec_id"], strict=True)]
        for column, name, dash in (("cum_pnl", "realized PnL", None),
                                   ("cum_commission", "commissions", "dot")):  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=part[column].to_list(),
                    name=f"{name} {account} {ccy}",
                    mode="lines+markers",
                    line={"shape": "hv", "dash": dash},
                    text=text,
                    hovertemplate="%{x}<br>%{y:.2f}<br>%{text}<extra>%{fullData.name}</extra>",
                )
            )
    fig.update_layout(**LAYOUT, xaxis_title=f"IB execution time ({tz})", yaxis_title="money")
    return fig


def slippage(fills: pl.DataFrame, tz: str) -> go.Figure:
    """Per fill: how far its price was from the order's limit and reference price, per share,
    signed so that a cost is positive."""
    labels = [
        f"{t:%H:%M:%S} {sym} {side} {float(q):g}@{float(p):g}"
        for t, sym, side, q, p in fills.with_columns(pl.col("ts_ib").dt.convert_time_zone(tz))
        .select("ts_ib", "symbol", "side", "quantity", "price")
        .iter_rows()
    ]
    fig = go.Figure()
    for column, name in (("slippage_vs_limit", "vs limit"),
                         ("slippage_vs_reference", "vs reference")):  # fmt: skip
        fig.add_trace(
            go.Bar(
                x=labels,
                y=floats(fills[column].to_list()),
                name=name,
                customdata=list(
                    zip(
                        floats(fills["limit_price"].to_list()),
                        floats(fills["reference_price"].to_list()),
                        strict=True,
                    )
                ),
                hovertemplate="%{x}<br>%{y:+.4f} per share<br>limit %{customdata[0]} "
                "reference %{customdata[1]}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(**LAYOUT, barmode="group", yaxis_title="slippage per share (+ = cost)")
    return fig


def lifelines(segments: pl.DataFrame, orders: pl.DataFrame, tz: str) -> go.Figure:
    """One row per order, its statuses as coloured spans; a bracket's or OCA group's members
    sit together, the children marked ↳."""
    names = dict(zip(orders["order_key"], _axis_labels(orders), strict=True))
    span_ms = _span_ms(segments)
    fig = go.Figure()
    for status in segments["status"].unique(maintain_order=True).to_list():
        part = segments.filter(pl.col("status") == status)
        width = [
            max((e - s).total_seconds() * 1000, span_ms / 150)
            for s, e in zip(part["start"], part["end"], strict=True)
        ]
        fig.add_trace(
            go.Bar(
                orientation="h",
                base=wall(part["start"].to_list()),
                x=width,
                y=[names.get(k, k) for k in part["order_key"]],
                name=status,
                marker_color=_COLOUR_BY_NAME.get(status, "#8c6d31"),
                hovertemplate="%{y}<br>" + status + " from %{base}<extra></extra>",
            )
        )
    fig.update_layout(**LAYOUT)
    fig.update_layout(
        barmode="overlay",
        height=max(240, 34 * orders.height + 120),
        xaxis={"type": "date", "title": f"recorded time ({tz})"},
        yaxis={"categoryorder": "array", "categoryarray": list(names.values()),
               "autorange": "reversed"},
    )  # fmt: skip
    return fig


def _axis_labels(orders: pl.DataFrame) -> list[str]:
    out = []
    for label, symbol, action, parent in orders.select(
        "label", "symbol", "action", "parent_key"
    ).iter_rows():
        out.append(f"{'↳ ' if parent else ''}{label} {action} {symbol}")
    return out


def _span_ms(segments: pl.DataFrame) -> float:
    if segments.is_empty():
        return 1.0
    lo: datetime = segments["start"].min()  # type: ignore[assignment]
    hi: datetime = segments["end"].max()  # type: ignore[assignment]
    return max((hi - lo).total_seconds() * 1000, 1.0)


def latency(lat: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    y = [f"{a} {b}" for a, b in zip(lat["label"], lat["symbol"], strict=True)]
    for column, name in (("ack_ms", "submission → acknowledgement"),
                         ("first_fill_ms", "submission → first fill")):  # fmt: skip
        fig.add_trace(
            go.Bar(
                orientation="h",
                x=lat[column].to_list(),
                y=y,
                name=name,
                hovertemplate="%{y}<br>%{x:.1f} ms<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(**LAYOUT)
    fig.update_layout(
        barmode="group",
        height=max(240, 40 * lat.height + 120),
        xaxis_title="milliseconds (recorded clock)",
        yaxis={"autorange": "reversed"},
    )
    return fig
