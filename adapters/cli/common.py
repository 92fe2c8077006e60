"""Options and helpers shared by every command: one config path (``--data``/``--store``), one
way to print tables/JSON/CSV, one way to fail (a clear message on stderr and exit code 1)."""

from __future__ import annotations

import csv
import enum
import io
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from ordertrail.adapters.store.config import StoreConfig

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

err_console = Console(stderr=True)


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


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn ordertrail's own errors into a message and exit code 1 instead of a traceback."""
    from ordertrail.domain.errors import OrdertrailError

    try:
        yield
    except (OrdertrailError, ValueError, LookupError, OSError) as e:
        fail(str(e))


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
