"""Audit commands: the projections (orders, fills, positions, brackets, timelines), read-only
SQL over them, and their upkeep (rebuild, compact, vacuum).

Every reading command first brings the Delta tables up to the end of the event log
(incrementally), so what it prints is never behind what the store recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ordertrail.adapters.cli.common import (
    AccountOpt,
    DataOpt,
    FormatOpt,
    OriginOpt,
    OutputFormat,
    SinceOpt,
    StatusOpt,
    StoreOpt,
    SymbolOpt,
    TzOpt,
    UntilOpt,
    clear_errors,
    config,
    emit,
    emit_frame,
    err_console,
    fail,
    filters,
    need_store,
    progress_bar,
    show_progress,
)

if TYPE_CHECKING:
    import polars as pl

    from ordertrail.projections.api import Audit
    from ordertrail.projections.projector import Progress


AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="ISO 8601 time (UTC when no offset is given), e.g. 2024-03-01T14:31:07."
    ),
]
ClockOpt = Annotated[
    str,
    typer.Option(
        "--clock",
        help="Which clock --as-of means: 'recorded' (what we knew then) or 'ib' (IB's time).",
    ),
]

# What a terminal table shows; JSON and CSV carry every column.
ORDER_COLUMNS = (
    "client_order_id", "perm_id", "origin", "account", "symbol", "action", "order_type",
    "quantity", "limit_price", "stop_price", "status", "filled", "avg_fill_price", "commission",
    "anomalies", "updated_recorded",
)  # fmt: skip
FILL_COLUMNS = (
    "ts_ib", "origin", "account", "symbol", "side", "quantity", "price", "exec_id",
    "replaces_exec_id", "client_order_id", "perm_id", "commission", "commission_currency",
    "realized_pnl", "slippage_vs_limit", "slippage_vs_reference",
)  # fmt: skip
POSITION_COLUMNS = (
    "account", "con_id", "origin", "symbol", "currency", "multiplier", "quantity", "avg_cost",
    "fifo_cost", "realized_pnl", "realized_pnl_avg", "commission", "fills", "last_fill_ib",
)  # fmt: skip
ERROR_COLUMNS = (
    "ts_recorded", "client_order_id", "perm_id", "account", "symbol", "event_type", "status",
    "summary",
)  # fmt: skip
BRACKET_COLUMNS = (
    "group_kind", "group_key", "group_state", "role", "order_key", "status", "quantity",
    "filled", "anomalies",
)  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # The tables keep ten decimals; people read 100, not 100.0000000000.
        return Decimal(format(value.normalize(), "f"))
    return value


def _rows(frame: pl.DataFrame, fmt: OutputFormat, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    if fmt is OutputFormat.table:
        frame = frame.select([c for c in columns if c in frame.columns])
    return [{k: _plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _clock(value: str) -> Any:
    from ordertrail.projections.api import Clock

    try:
        return Clock(value)
    except ValueError:
        fail(f"--clock must be 'ib' or 'recorded', not {value!r}")


def _as_of(value: str | None) -> datetime | None:
    from ordertrail.projections.api import parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except OverflowError:  # year 1 or 9999 with an offset: no such time in UTC
        fail(f"--as-of {value!r} is out of range once converted to UTC")
    except ValueError:
        fail(f"--as-of {value!r} is not an ISO 8601 time (e.g. 2024-03-01T14:31:07Z)")


@contextmanager
def _progress(label: str) -> Iterator[Progress | None]:
    """A progress bar on a terminal; nothing in a pipe or a file."""
    if not show_progress():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    with progress_bar(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield report


def _existing(data: str | None, store: str | None) -> Any:
    """The store's config, or one line and exit 1 when there is no store to read."""
    cfg = config(data, store)
    need_store(cfg)
    return cfg


@contextmanager
def _reading(data: str | None, store: str | None) -> Iterator[Audit]:
    """The tables brought up to the log's end, for reading; a damaged table, or a read-only
    folder that an update would write to, is one line (projections/health.py)."""
    from ordertrail.projections import health
    from ordertrail.projections.api import Audit

    audit = Audit(_existing(data, store), refresh=False)
    with health.reading(audit.tables):
        if health.behind(audit.projector):
            health.ensure_writable(audit.tables)
        with _progress("updating projections") as progress:
            result = audit.refresh(progress)
        _name_refused(result.refused)
        yield audit
    if result.refused:
        raise typer.Exit(1)


def _show(frame: Any, fmt: OutputFormat, columns: tuple[str, ...], title: str | None) -> None:
    """Print what was read, inside ``_reading`` (its exit code comes after the output)."""
    if fmt is OutputFormat.parquet:
        emit_frame(frame)
    else:
        emit(_rows(frame, fmt, columns), fmt, title=title)


def _name_refused(refused: tuple[str, ...]) -> None:
    """Rows an update left out of their tables: one line each, on stderr (the command then
    exits 1: the tables do not hold all the store says)."""
    for line in refused:
        err_console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)


def _view(method: str, columns: tuple[str, ...], title: str) -> Any:
    """One audit view as a command: the views differ only in what they read and show."""

    def view(
        data: DataOpt = None,
        store: StoreOpt = None,
        as_of: AsOfOpt = None,
        clock: ClockOpt = "recorded",
        since: SinceOpt = None,
        until: UntilOpt = None,
        symbol: SymbolOpt = None,
        account: AccountOpt = None,
        status: StatusOpt = None,
        origin: OriginOpt = None,
        tz: TzOpt = None,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        from ordertrail.projections.views import view as read

        with clear_errors():
            t, ck = _as_of(as_of), _clock(clock)
            chosen = filters(since, until, symbol, account, status, origin, tz)
            with _reading(data, store) as audit:
                _show(read(audit, method, chosen, as_of=t, clock=ck), fmt, columns, title)

    return view


VIEWS = (
    ("orders", ORDER_COLUMNS, "orders",
     "Every order with its status (as of a time, on either clock)."),
    ("fills", FILL_COLUMNS, "fills",
     "The fill journal: one row per current execution, with commission, PnL and slippage."),
    ("positions", POSITION_COLUMNS, "positions",
     "Positions per account and contract: quantity, average cost, FIFO realized PnL."),
    ("brackets", BRACKET_COLUMNS, "brackets and OCA groups",
     "Brackets and OCA groups: members, the group's state and its anomalies."),
    ("errors", ERROR_COLUMNS, "IB errors, anomalies and refusals",
     "Every IB error, anomaly and refusal, with its order."),
)  # fmt: skip


def timeline(
    order: Annotated[str, typer.Argument(help="Client order id, permId or orderRef.")],
    data: DataOpt = None,
    store: StoreOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Every event of an order, in order, with IB's time and the recorded time."""
    with clear_errors(), _reading(data, store) as audit:
        frame = audit.timeline(order)
        _show(frame, fmt, tuple(frame.columns), f"timeline of {order}")


def sql(
    query: Annotated[str, typer.Argument(help='One read-only statement: "SELECT …".')],
    data: DataOpt = None,
    store: StoreOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also say (on stderr) what answered: the rollup of fills, or the tables and "
            "why not the rollup.",
        ),
    ] = False,
) -> None:
    """Run one read-only SQL SELECT over the tables: orders, events, fills, positions,
    position_history, brackets."""
    from polars.exceptions import PolarsError

    from ordertrail.projections.sql import check_read_only

    with clear_errors():
        check_read_only(query)
        try:
            with _reading(data, store) as audit:
                answered = audit.sql_answer(query)
                frame = answered.frame
                _show(frame, fmt, tuple(frame.columns), None)
                if explain:
                    err_console.print(answered.explained, highlight=False, soft_wrap=True)
        except PolarsError as e:
            fail(f"SQL: {e}")


def rebuild(
    data: DataOpt = None,
    store: StoreOpt = None,
    ignore_tamper: Annotated[
        bool, typer.Option("--ignore-tamper", help="Rebuild even if `verify` finds tampering.")
    ] = False,
) -> None:
    """Recompute every projection from the first event in the store (refused if the event log
    fails `ordertrail verify`, unless --ignore-tamper); a damaged table is moved aside
    (``<name>.damaged-<time>``) and recomputed."""
    from ordertrail.adapters.cli.verify import refuse_tampered
    from ordertrail.projections import health
    from ordertrail.projections.api import Audit

    with clear_errors():
        cfg = _existing(data, store)
        refuse_tampered(cfg, ignore=ignore_tamper)
        audit = Audit(cfg, refresh=False)
        health.ensure_writable(audit.tables)
        damage = health.damaged(audit.tables)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for name, path in health.set_aside(audit.tables, list(damage), stamp).items():
            err_console.print(
                f"{name}: damaged ({damage[name]}); moved aside to {path}",
                highlight=False,
                soft_wrap=True,
            )
        started = time.perf_counter()
        with _progress("rebuilding projections") as progress, health.reading(audit.tables):
            result = audit.rebuild(progress)
        seconds = time.perf_counter() - started
        err_console.print(
            f"rebuilt {result.events} events (to notification {result.head}) "
            f"in {seconds:.2f} s into {audit.tables.root}",
            highlight=False,
        )
        _name_refused(result.refused)
        if result.refused:
            raise typer.Exit(1)


def compact(data: DataOpt = None, store: StoreOpt = None) -> None:
    """Merge small files of every table (z-ordered where lookups benefit), checkpoint, and
    snapshot the positions for as-of queries."""
    from ordertrail.projections import health
    from ordertrail.projections.api import Audit

    with clear_errors():
        audit = Audit(_existing(data, store), refresh=False)
        with health.reading(audit.tables):
            health.ensure_writable(audit.tables)
            out = audit.compact()
        emit([{"table": k, **v} for k, v in out.items()], OutputFormat.table, title="compacted")


def vacuum(
    data: DataOpt = None,
    store: StoreOpt = None,
    retention_hours: Annotated[
        int,
        typer.Option("--retention-hours", help="Keep files younger than this (time travel)."),
    ] = 168,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
) -> None:
    """Delete table files no current version references and older than the retention."""
    from ordertrail.projections import health
    from ordertrail.projections.api import Audit

    with clear_errors():
        audit = Audit(_existing(data, store), refresh=False)
        with health.reading(audit.tables):
            out = audit.vacuum(retention_hours, dry_run=dry_run)
        emit(
            [{"table": k, "files": v} for k, v in out.items()],
            OutputFormat.table,
            title="would remove" if dry_run else "removed",
        )


def register(app: typer.Typer) -> None:
    for name, columns, title, help_text in VIEWS:
        app.command(name, help=help_text)(_view(name, columns, title))
    for command in (timeline, sql, rebuild, compact, vacuum):
        app.command()(command)
