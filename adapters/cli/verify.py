"""``ordertrail verify``: is the event log as it was written? (docs/event-store.md)"""

from __future__ import annotations

import typer

from ordertrail.adapters.cli.common import (
    DataOpt,
    StoreOpt,
    clear_errors,
    config,
    err_console,
    fail,
)
from ordertrail.adapters.store.config import StoreConfig

TAMPERED = 1


def verify(data: DataOpt = None, store: StoreOpt = None) -> None:
    """Check every order's (and session log's) hash chain and the log's checkpoint: name each
    edited, deleted, inserted or reordered event with its order and position (exit 1 if any)."""
    from ordertrail.adapters.store.verify import verify_store

    with clear_errors():
        report = verify_store(config(data, store))
    for finding in report.findings:
        typer.echo(str(finding))
    summary = f"{report.events} events of {report.orders} orders"
    if report.session_logs:
        summary += f" and {report.session_logs} session logs"
    if report.unchained:
        summary += (
            f"; {report.unchained} unchained (written before this store had a hash chain: "
            "checked only through the chained events that follow them)"
        )
    if report.findings:
        err_console.print(
            f"[bold red]tampered:[/] {len(report.findings)} findings in {summary}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(TAMPERED)
    err_console.print(f"intact: {summary}", highlight=False, soft_wrap=True)


def refuse_tampered(cfg: StoreConfig, *, ignore: bool) -> None:
    """``rebuild``'s guard: projections built from an altered log would look authoritative."""
    from ordertrail.adapters.store.verify import verify_store

    if not cfg.is_postgres and not cfg.sqlite_path.exists():
        return  # nothing recorded yet, nothing to alter
    report = verify_store(cfg)
    if report.intact:
        return
    what = f"the event log fails its tamper check ({len(report.findings)} findings, first: "
    what += f"{report.findings[0]})"
    if not ignore:
        fail(f"{what}; see `ordertrail verify`, or rebuild anyway with --ignore-tamper")
    err_console.print(f"[bold yellow]warning:[/] {what}; rebuilding anyway", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(verify)
