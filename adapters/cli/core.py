"""Core commands: the state diagram, the orders in the store, the benchmark."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from ordertrail.adapters.cli.common import (
    DataOpt,
    FormatOpt,
    OutputFormat,
    StoreOpt,
    clear_errors,
    config,
    emit,
)


def order_row(state: Any) -> dict[str, Any]:
    s = state
    return {
        "order": s.client_order_id or (f"perm:{s.perm_id}" if s.perm_id else s.order_key),
        "perm_id": s.perm_id,
        "origin": s.origin,
        "symbol": s.contract.symbol,
        "con_id": s.contract.con_id,
        "action": s.spec.action.value,
        "type": s.spec.order_type.value,
        "quantity": s.spec.quantity,
        "limit": s.spec.limit_price,
        "stop": s.spec.stop_price,
        "status": s.status.value,
        "filled": s.filled,
        "avg_price": s.avg_fill_price,
        "commission": s.commission_total,
        "anomalies": ",".join(s.anomalies),
        "updated": s.updated_at.isoformat(),
    }


def anomaly_table() -> str:
    """The edges that record an anomaly, as a markdown table (docs/state-machine.md)."""
    from ordertrail.domain.machine import EDGES

    groups: dict[tuple[str, str, str], list[str]] = {}
    for e in EDGES:
        if e.anomaly is None:
            continue
        trigger = e.trigger.value
        if e.completes is not None:
            trigger += " (completes)" if e.completes else " (partial)"
        dest = "stays" if e.dest is e.source else e.dest.value
        groups.setdefault((e.anomaly, trigger, dest), []).append(e.source.value)
    lines = ["| anomaly | fact | from | moves to |", "|---|---|---|---|"]
    for (kind, trigger, dest), sources in sorted(groups.items()):
        lines.append(f"| `{kind}` | {trigger} | {', '.join(sources)} | {dest} |")
    return "\n".join(lines)


def diagram(
    anomalies: Annotated[
        bool, typer.Option("--anomalies", help="Also draw the edges that record an anomaly.")
    ] = False,
    table: Annotated[
        bool, typer.Option("--anomaly-table", help="Print the anomalous edges as a markdown table.")
    ] = False,
) -> None:
    """Print the order state machine as mermaid text, drawn from its one definition."""
    from ordertrail.domain.machine import mermaid

    typer.echo(anomaly_table() if table else mermaid(with_anomalies=anomalies))


def orders(
    data: DataOpt = None,
    store: StoreOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """List every order in the event store with its current status."""
    from ordertrail.adapters.store.application import OrderTrail

    with clear_errors():
        trail = OrderTrail(config(data, store))
        states = sorted(trail.states().values(), key=lambda s: s.created_at)
        emit([order_row(s) for s in states], fmt, title="orders")


def bench(
    orders_count: Annotated[
        int, typer.Option("--orders", help="Orders per apply workload.")
    ] = 100_000,
    events: Annotated[
        int, typer.Option("--events", help="Stored events for the rebuild.")
    ] = 1_000_000,
    repeats: Annotated[int, typer.Option("--repeats", help="Repeats; medians are reported.")] = 5,
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, for a smoke run.")] = False,
) -> None:
    """Measure apply, append and rebuild rates; print JSON (medians over repeats)."""
    from ordertrail.adapters.bench import run_benchmarks

    if quick:
        orders_count, events, repeats = 2_000, 20_000, 3
    typer.echo(run_benchmarks(orders=orders_count, events=events, repeats=repeats))


def register(app: typer.Typer) -> None:
    app.command()(diagram)
    app.command()(orders)
    app.command()(bench)
