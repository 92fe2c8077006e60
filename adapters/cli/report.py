"""``ordertrail report``: the session report as one HTML file (docs/report.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ordertrail.adapters.cli.common import (
    AccountOpt,
    DataOpt,
    OriginOpt,
    SinceOpt,
    StatusOpt,
    StoreOpt,
    SymbolOpt,
    TzOpt,
    UntilOpt,
    clear_errors,
    config,
    filters,
    need_store,
)


def report(
    data: DataOpt = None,
    store: StoreOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    account: AccountOpt = None,
    symbol: SymbolOpt = None,
    status: StatusOpt = None,
    origin: OriginOpt = None,
    tz: TzOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The HTML file to write. Default: DATA/report.html."),
    ] = None,
) -> None:
    """Write a self-contained HTML report (opens offline): PnL and commissions over time,
    slippage, each order's life, outcomes by symbol, latency, and every IB error and anomaly
    linked to its order's timeline."""
    from ordertrail.adapters.report import write_report
    from ordertrail.projections.api import Audit

    with clear_errors():
        cfg = config(data, store)
        need_store(cfg)
        chosen = filters(since, until, symbol, account, status, origin, tz)
        path = write_report(Audit(cfg, refresh=False), out or cfg.data_dir / "report.html", chosen)
        typer.echo(f"report written to {path}")


def register(app: typer.Typer) -> None:
    app.command()(report)
