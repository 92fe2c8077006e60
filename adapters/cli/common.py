"""Options and helpers shared by every command: one config path (``--data``/``--store``), one
way to print tables/JSON/CSV, one way to fail (a clear message on stderr and exit code 1)."""

from __future__ import annotations

import csv
import enum
import io
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.table import Table

from ordertrail.adapters.store.config import StoreConfig

if TYPE_CHECKING:
    from ordertrail.projections.filters import Filters

DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data", help="Data directory (event store and Delta tables).", envvar="ORDERTRAIL_DATA"
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="postgresql:// URL for the event store (default: SQLite in the data directory).",
        envvar="ORDERTRAIL_STORE",
    ),
]
AccountOpt = Annotated[
    str | None, typer.Option("--account", help="Only these IB accounts (comma-separated).")
]
SymbolOpt = Annotated[
    str | None, typer.Option("--symbol", help="Only these symbols (comma-separated).")
]
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="Only orders now in these statuses, e.g. Filled,Cancelled."),
]
OriginOpt = Annotated[
    str | None,
    typer.Option("--origin", help="Only orders of these origins (ours, discovered, flex…)."),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="From this date (the whole local day) or time (local unless it has an offset).",
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until", help="Up to this date (to the end of that local day) or time (exclusive)."
    ),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz", help="Time zone for dates and times shown and given (default: this machine's)."
    ),
]

err_console = Console(stderr=True)


def show_progress() -> bool:
    """Whether long work draws a progress bar: only when stderr is a terminal. Rich's
    ``is_terminal`` is not asked, since ``FORCE_COLOR`` (which CI sets for coloured logs) makes
    it say yes in a pipe, and the bar's redraws would fill the log. ``TTY_INTERACTIVE=1``/``0``
    (rich's own override) forces it either way."""
    forced = os.environ.get("TTY_INTERACTIVE")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return sys.stderr.isatty()
    except ValueError:  # stderr already closed
        return False


def progress_bar(*columns: str | ProgressColumn) -> Progress:
    """A transient bar on stderr when :func:`show_progress`; otherwise one that draws nothing."""
    show = show_progress()
    return Progress(
        *columns,
        console=Console(stderr=True, force_terminal=True) if show else err_console,
        disable=not show,
        transient=True,
    )


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


def config(data: str | None, store: str | None) -> StoreConfig:
    try:
        return StoreConfig.resolve(data, store)
    except ValueError as e:
        fail(str(e))


def need_store(cfg: StoreConfig) -> None:
    """Reading commands read an existing store: a mistyped --data must not create an empty
    one and answer "nothing"."""
    if not cfg.is_postgres and not cfg.sqlite_path.exists():
        fail(
            f"no event store at {cfg.sqlite_path} (check --data; record, replay, import-flex "
            "or demo create one)"
        )


def filters(
    since: str | None,
    until: str | None,
    symbol: str | None,
    account: str | None,
    status: str | None,
    origin: str | None,
    tz: str | None,
) -> Filters:
    from ordertrail.projections.filters import Filters

    try:
        return Filters.build(
            since=since, until=until, symbol=symbol, account=account, status=status,
            origin=origin, tz=tz,
        )  # fmt: skip
    except ValueError as e:
        fail(f"--since/--until/--tz: {e}")


def fail(message: str, code: int = 1) -> NoReturn:
    # soft_wrap: one line however long the path in it, so it can be grepped from a log.
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def report_unrecorded(problems: Sequence[str], warnings: Sequence[str] = ()) -> bool:
    """Print what a recorder could not record (errors) or recorded although IB does not
    document it (warnings), one line each; True when the command must exit 1 for it
    (docs/adr/0009-bad-input-policy.md: everything else was recorded, the exit code tells a
    script that something IB said was not)."""
    for problem in problems:
        err_console.print(
            f"[bold red]error:[/] could not record {problem}", highlight=False, soft_wrap=True
        )
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return bool(problems or warnings)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn ordertrail's own errors into a message and exit code 1 instead of a traceback."""
    import sqlite3

    from eventsourcing.persistence import PersistenceError

    from ordertrail.domain.errors import OrdertrailError

    try:
        yield
    except (OrdertrailError, ValueError, LookupError, OSError) as e:
        fail(str(e))
    except (sqlite3.Error, PersistenceError) as e:  # damage found after the store opened
        fail(f"event store: {e}")


def _jsonable(value: Any) -> Any:
    return str(value)


def emit(rows: Sequence[dict[str, Any]], fmt: OutputFormat, *, title: str | None = None) -> None:
    """Print rows as a rich table (terminal), JSON or CSV (pipes, scripts)."""
    if fmt is OutputFormat.json:
        sys.stdout.write(
            orjson.dumps(list(rows), default=_jsonable, option=orjson.OPT_INDENT_2).decode() + "\n"
        )
        return
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    if fmt is OutputFormat.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console().print(table)
