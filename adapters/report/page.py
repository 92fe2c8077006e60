"""The report as one HTML file: Plotly's JavaScript and the page's CSS inlined, no link to
anything outside the file, so it opens offline and can be mailed or archived as it is."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import plotly.io as pio  # type: ignore[import-untyped]
import polars as pl
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from ordertrail.adapters.report import charts
from ordertrail.adapters.report.data import (
    ReportData,
    latencies,
    lifelines,
    local,
    outcomes,
    pnl_curve,
    problems,
    window_text,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222}
header{background:#1f2d3d;color:#fff;padding:16px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#cfd8e3}main{padding:8px 28px 40px;max-width:1400px}
h2{border-bottom:2px solid #1f2d3d;padding-bottom:4px;margin-top:36px}h3{margin-top:26px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.num{text-align:right;white-space:nowrap}td.id{white-space:nowrap}
.note{color:#555;font-style:italic}.st{padding:1px 6px;border-radius:3px;color:#fff}
section.order{border-left:4px solid #d0d7de;padding-left:12px;margin:18px 0}
section.order:target{border-left-color:#fd8d3c;background:#fff8f0}
"""
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def render(data: ReportData, generated: datetime) -> str:
    tz = data.filters.tz
    parts = [_header(data, generated)]
    if data.orders.is_empty():
        parts.append("<p class='note'>No order had an event in this window.</p>")
    for account in data.accounts:
        parts.append(_account(data, account))
    parts.append(_flex(data))
    parts.append(_timelines(data))
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>ordertrail report · {html.escape(window_text(data))}</title>"
        f"<style>{CSS}</style><script>{get_plotlyjs()}</script></head>"
        f"<body data-tz='{html.escape(tz)}'>{body}</main></body></html>\n"
    )


def _header(data: ReportData, generated: datetime) -> str:
    f = data.filters
    filters = ", ".join(
        f"{name} {', '.join(v)}"
        for name, v in (("symbol", f.symbols), ("account", f.accounts),
                        ("status", f.statuses), ("origin", f.origins))
        if v
    )  # fmt: skip
    return (
        "<header><h1>ordertrail session report</h1>"
        f"<p>{html.escape(window_text(data))} · times in {html.escape(f.tz)}"
        f"{' · ' + html.escape(filters) if filters else ''}</p>"
        f"<p>{data.orders.height} orders, {data.fills.height} fills, from "
        f"{html.escape(data.source)} · written "
        f"{generated.astimezone(_zone(f.tz)):%Y-%m-%d %H:%M:%S}"
        "</p></header><main>"
    )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _account(data: ReportData, account: str) -> str:
    sub = data.for_account(account)
    tz = data.filters.tz
    name = account or "(account not yet known)"
    out = [f"<h2 id='account-{html.escape(account)}'>Account {html.escape(name)}</h2>"]
    out.append("<h3>Realized PnL and commissions</h3>")
    if sub.fills.is_empty():
        out.append("<p class='note'>No fills in this window.</p>")
    else:
        out.append(_figure(charts.pnl(pnl_curve(sub), tz), f"pnl-{account}"))
        out.append("<h3>Fills against their limit and reference price</h3>")
        out.append(_figure(charts.slippage(sub.fills, tz), f"slippage-{account}"))
    out.append("<h3>Each order's life</h3>")
    out.append("<p class='note'>Statuses on the recorded clock; a bracket's children (↳) sit "
               "under their parent, OCA groups together. Click an order in the tables below "
               "for every event.</p>")  # fmt: skip
    out.append(_figure(charts.lifelines(lifelines(sub), sub.orders, tz), f"life-{account}"))
    out.append("<h3>Outcomes by symbol</h3>")
    out.append(_outcomes(sub))
    lat = latencies(sub)
    out.append("<h3>Latency: submission → acknowledgement → first fill</h3>")
    if lat.is_empty():
        out.append("<p class='note'>No order was submitted from here in this window.</p>")
    else:
        out.append(_figure(charts.latency(lat), f"latency-{account}"))
        out.append(_latency_table(lat))
    out.append("<h3>IB errors and anomalies</h3>")
    out.append(_problems(sub))
    return "\n".join(out)


def _figure(fig: Any, div_id: str) -> str:
    return str(
        pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id="chart-" + "".join(c if c.isalnum() else "_" for c in div_id),
            config=PLOT_CONFIG,
        )
    )


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, link: int | None = None,
          anchors: Sequence[str] = ()) -> str:  # fmt: skip
    """An HTML table; numbers right-aligned; column ``link`` links to the row's anchor."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        tds = []
        for j, v in enumerate(row):
            text = html.escape(cell(v))
            klass = " class='num'" if isinstance(v, Decimal | float | int) else ""
            if j == link and anchors:
                text = f"<a href='#{html.escape(anchors[i])}'>{text}</a>"
                klass = " class='id'"
            tds.append(f"<td{klass}>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _outcomes(data: ReportData) -> str:
    o = outcomes(data)
    cols = ("symbol", "orders", "orders_filled", "ordered", "filled", "fill_rate", "shares",
            "realized_pnl", "commission", "slippage_limit", "slippage_reference")  # fmt: skip
    rows = [
        [f"{v * 100:.1f} %" if c == "fill_rate" and v is not None else v for c, v in r.items()]
        for r in o.select(cols).iter_rows(named=True)
    ]
    return table(["symbol", "orders", "orders filled", "ordered", "filled", "fill rate",
                  "shares traded", "realized PnL (FIFO)", "commission",
                  "slippage vs limit", "slippage vs reference"], rows)  # fmt: skip


def _latency_table(lat: pl.DataFrame) -> str:
    rows = lat.select("label", "symbol", "ack_ms", "first_fill_ms").rows()
    return table(["order", "symbol", "→ acknowledged (ms)", "→ first fill (ms)"], rows,
                 link=0, anchors=lat["anchor"].to_list())  # fmt: skip


def _problems(data: ReportData) -> str:
    p = problems(data)
    if p.is_empty():
        return "<p class='note'>None in this window.</p>"
    rows = p.select("ts_recorded", "label", "symbol", "event_type", "summary").rows()
    return table(["recorded", "order", "symbol", "kind", "what IB said / what broke"], rows,
                 link=1, anchors=p["anchor"].to_list())  # fmt: skip


def _flex(data: ReportData) -> str:
    # import-flex prints its reconciliation verdicts but does not record them in the event
    # log: the report can only say whether statement rows were imported.
    if data.flex_events:
        text = (f"{data.flex_events} events in this window came from Flex statements. The "
                "reconciliation verdicts are printed by <code>ordertrail import-flex</code> and "
                "are not stored, so they are not shown here.")  # fmt: skip
    else:
        text = "No Flex statement row was imported for these orders."
    return f"<h2 id='flex'>Flex reconciliation</h2><p class='note'>{text}</p>"


def _timelines(data: ReportData) -> str:
    out = ["<h2 id='orders'>Order timelines</h2>"]
    events = local(data.events, data.filters.tz, "ts_event", "ts_recorded")
    by_order = events.partition_by("order_key", as_dict=True, maintain_order=True)
    for order in data.orders.iter_rows(named=True):
        ev = by_order.get((order["order_key"],))
        title = (f"{order['label']} · {order['action']} {cell(order['quantity'])} "
                 f"{order['symbol']} {order['order_type']}"
                 f"{' @ ' + cell(order['limit_price']) if order['limit_price'] else ''}"
                 f" · {order['status']}")  # fmt: skip
        out.append(f"<section class='order' id='{html.escape(order['anchor'])}'>"
                   f"<h3>{html.escape(title)}</h3>")  # fmt: skip
        extra = [f"{k} {order[k]}" for k in ("perm_id", "account", "parent_key", "oca_group",
                                             "anomalies") if order[k]]  # fmt: skip
        if extra:
            out.append(f"<p>{html.escape(' · '.join(extra))}</p>")
        if ev is not None:
            out.append(table(["recorded", "IB time", "event", "status", "what happened"],
                             ev.select("ts_recorded", "ts_event", "event_type", "status",
                                       "summary").rows()))  # fmt: skip
        out.append("</section>")
    return "\n".join(out)
