"""Core commands: the demo, the simulator, the state diagram, the benchmark."""

from __future__ import annotations

from typing import Annotated

import typer

from ordertrail.adapters.cli.common import DataOpt, StoreOpt, clear_errors, config, fail


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


def demo(
    data: DataOpt = None,
    store: StoreOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the summary table.")] = False,
) -> None:
    """Trade a scripted session against the built-in simulator through ib_async, record it,
    and print every order's history. No IB account needed."""
    from rich.console import Console
    from rich.table import Table

    from ordertrail.adapters.cli.render import clock, describe
    from ordertrail.adapters.demo import run_demo
    from ordertrail.adapters.store.application import OrderTrail

    console = Console()
    with clear_errors():
        cfg = config(data, store)
        trail = OrderTrail(cfg)
        console.print(f"recording into [bold]{cfg.describe()}[/]")
        result = run_demo(trail, lambda text: console.print(f"  {text}"))
        summary = Table(title="orders recorded in this session")
        for col in ("scenario", "order", "status", "filled", "avg price", "anomalies"):
            summary.add_column(col)
        for title, oid in result.orders:
            s = trail.get(oid).state
            summary.add_row(
                title,
                s.client_order_id or s.order_key,
                s.status.value,
                str(s.filled),
                "" if s.avg_fill_price is None else f"{s.avg_fill_price:.4f}",
                ",".join(s.anomalies),
            )
            if quiet:
                continue
            history = Table(title=f"{title}: {s.client_order_id}", title_justify="left")
            for col in ("v", "IB time", "recorded", "event"):
                history.add_column(col)
            for e in trail.history(oid):
                history.add_row(
                    str(e.originator_version), clock(e.ts_event), clock(e.timestamp), describe(e)
                )
            console.print(history)
        console.print(summary)
        console.print(f"recorder: {result.stats}")


def simulate(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (127.0.0.1).")] = 7497,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario file (JSON, docs/simulator.md).")
    ] = None,
) -> None:
    """Run the TWS simulator on 127.0.0.1 until Ctrl-C: point your own IB program at it."""
    from pathlib import Path

    from ordertrail.adapters.simulator import ScenarioError, run_simulator

    try:
        run_simulator(port, Path(scenario) if scenario else None)
    except ScenarioError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(simulate)
    app.command()(diagram)
    app.command()(bench)
