"""Core commands: the demo, the simulator, the state diagram, the benchmark."""

from __future__ import annotations

from typing import Annotated, Any

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
    svg: Annotated[
        str | None,
        typer.Option(
            "--svg",
            help="Print an SVG for people instead: 'main' (the main path) or 'surprises' "
            "(every move, IB's surprises marked).",
        ),
    ] = None,
) -> None:
    """Print the order state machine, drawn from its one definition: mermaid text by default,
    an SVG with --svg, the anomalous edges as a table with --anomaly-table."""
    from ordertrail.domain.machine import mermaid

    if svg is not None:
        from ordertrail.adapters.report.statechart import main_path_svg, surprises_svg

        views = {"main": main_path_svg, "surprises": surprises_svg}
        if svg not in views:
            fail(f"--svg must be 'main' or 'surprises', not {svg!r}")
        typer.echo(views[svg](), nl=False)
        return
    typer.echo(anomaly_table() if table else mermaid(with_anomalies=anomalies))


def bench(
    orders_count: Annotated[
        int, typer.Option("--orders", help="Orders per apply workload.")
    ] = 100_000,
    events: Annotated[
        int, typer.Option("--events", help="Stored events for the rebuild.")
    ] = 1_000_000,
    projection_events: Annotated[
        int, typer.Option("--projection-events", help="Stored events for the projections.")
    ] = 100_000,
    incremental_events: Annotated[
        int,
        typer.Option(
            "--incremental-events",
            help="The smaller store of the incremental figure (the larger: ten times as many).",
        ),
    ] = 100_000,
    fills: Annotated[
        int,
        typer.Option(
            "--fills", help="Fills in the tables the audit queries are timed on (projections)."
        ),
    ] = 100_000,
    tape_messages: Annotated[
        int,
        typer.Option(
            "--tape-messages",
            help="Incoming messages (about) on the tape the replay benchmark records.",
        ),
    ] = 20_000,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", help="core, projections, tape (repeatable; default: all)."),
    ] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Repeats; medians are reported.")] = 5,
    settle: Annotated[
        float,
        typer.Option(
            "--settle",
            help="Seconds the tape suite waits at most for the load of the suites before it "
            "to fall (a replay runs on two processes only with a core to spare); --quick: 0.",
        ),
    ] = 90.0,
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, for a smoke run.")] = False,
) -> None:
    """Measure apply, append, rebuild, projection, query and replay rates; print JSON."""
    import json

    from ordertrail.adapters.bench import run_benchmarks

    chosen = set(suite or ["core", "projections", "tape"])
    unknown = chosen - {"core", "projections", "tape"}
    if unknown:
        fail(f"--suite: unknown {', '.join(sorted(unknown))} (core, projections, tape)")
    if fills < 1:
        fail(f"--fills must be at least 1, not {fills}")
    if incremental_events < 1:
        fail(f"--incremental-events must be at least 1, not {incremental_events}")
    if quick:
        orders_count, events, projection_events, incremental_events, tape_messages, repeats = (
            2_000,
            20_000,
            5_000,
            5_000,
            500,
            3,
        )
    result: dict[str, object] = {}
    if "core" in chosen:
        result.update(
            json.loads(run_benchmarks(orders=orders_count, events=events, repeats=repeats))
        )
    if "projections" in chosen:
        from ordertrail.adapters import bench_projections

        result["projections"] = bench_projections.run(
            projection_events,
            max(1, min(repeats, 3)),
            memory_events=events,
            incremental_events=incremental_events,
        )
        from ordertrail.adapters import bench_queries

        result["queries_at_scale"] = bench_queries.run(2_000 if quick else fills, repeats)
    if "tape" in chosen:
        from ordertrail.adapters import bench_tape

        # Every repeat of the tape suite is a pair (decode only, then the replay) of about two
        # seconds: it takes all the repeats asked for, the steadier for it on a shared machine.
        result["tape_replay"] = bench_tape.run(
            tape_messages, max(1, repeats), settle=0.0 if quick else settle
        )
        result["live_recording"] = bench_tape.live_latency(max(20, tape_messages // 25))
    typer.echo(json.dumps(result, indent=2, default=str))


def demo(
    data: DataOpt = None,
    store: StoreOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the summary table.")] = False,
) -> None:
    """Trade a scripted session against the built-in simulator through ib_async, record it,
    and print every order's history. No IB account needed."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from ordertrail.adapters.demo import run_demo
    from ordertrail.adapters.report import write_report
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.projections.api import Audit
    from ordertrail.projections.describe import summary as describe_event
    from ordertrail.projections.filters import Filters

    console = Console()
    with clear_errors():
        cfg = config(data, store)
        trail = OrderTrail(cfg)
        console.print(f"recording into [bold]{cfg.describe()}[/]")
        # IB's execution times carry whole seconds: a window starting mid-second would miss
        # the fills of the session's first second.
        started = datetime.now(UTC).replace(microsecond=0)
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
                    str(e.originator_version),
                    _hms(e.ts_event),
                    _hms(e.timestamp),
                    describe_event(e),
                )
            console.print(history)
        console.print(summary)
        console.print(f"recorder: {result.stats}")
        _print_projections(cfg, console)
        # The report covers this run only: a store shared by several runs keeps the others.
        path = write_report(Audit(cfg), cfg.data_dir / "report.html", Filters.build(since=started))
        console.print(f"report of this session written to [bold]{path}[/] (open it in a browser)",
                      highlight=False, soft_wrap=True)  # fmt: skip


def _print_projections(cfg: Any, console: Any) -> None:
    """Positions, the fill journal and bracket states, from the Delta tables."""
    from rich.table import Table

    from ordertrail.projections.api import Audit

    audit = Audit(cfg)
    views = (
        ("positions", audit.positions(),
         ("account", "symbol", "quantity", "avg_cost", "realized_pnl", "commission")),
        ("fill journal", audit.fills(),
         ("ts_ib", "client_order_id", "symbol", "side", "quantity", "price", "commission",
          "realized_pnl", "slippage_vs_limit")),
        ("brackets and OCA groups", audit.brackets(),
         ("group_kind", "group_key", "role", "order_key", "status", "filled", "group_state",
          "anomalies")),
    )  # fmt: skip
    for title, frame, wanted in views:
        cols = [c for c in wanted if c in frame.columns]
        table = Table(title=title)
        for col in cols:
            table.add_column(col)
        for row in frame.select(cols).iter_rows():
            table.add_row(*(_cell(v) for v in row))
        console.print(table)


def _hms(ts: Any) -> str:
    return "" if ts is None else ts.strftime("%H:%M:%S.%f")[:-3]


def _cell(value: Any) -> str:
    """Delta's decimal columns carry ten places; a person wants 21, not 21.0000000000."""
    from datetime import datetime
    from decimal import Decimal

    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S")
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


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
