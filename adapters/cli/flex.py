"""``ordertrail import-flex``: IB Flex statements into the event store, then reconciled."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from ordertrail.adapters.cli.common import (
    DataOpt,
    StoreOpt,
    clear_errors,
    config,
    err_console,
    progress_bar,
)

if TYPE_CHECKING:
    from ordertrail.adapters.flex.reconcile import PositionCheck


class FlexFormat(enum.StrEnum):
    table = "table"
    json = "json"


def _table(checks: list[PositionCheck], imported: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="reconciliation")
    columns = ("file", "to_date", "account", "con_id", "symbol", "derived", "statement")
    for col in (*columns, "verdict", "note"):
        table.add_column(col)
    for c in checks:
        row = c.as_dict()
        note = ""
        if c.implied_opening is not None:
            note = f"implied opening {c.implied_opening}"
        elif row["difference"] not in (None, "0"):
            note = f"difference {row['difference']}"
        table.add_row(
            *("" if row[k] is None else str(row[k]) for k in columns), row["verdict"], note
        )
    if checks:
        console.print(table)
    console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in imported.items()))


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda n: progress.advance(task, n)


def import_flex(
    files: Annotated[
        list[Path],
        typer.Argument(help="Activity or Trade Confirmation Flex XML files.", metavar="FILE"),
    ],
    data: DataOpt = None,
    store: StoreOpt = None,
    fmt: Annotated[FlexFormat, typer.Option("--format", help="Output format.")] = FlexFormat.table,
    tz: Annotated[
        str,
        typer.Option("--tz", help="Zone of the statements' dateTime stamps (IB writes New York)."),
    ] = "America/New_York",
) -> None:
    """Import IB Flex statements as facts (each file all or nothing), then reconcile positions."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from ordertrail.adapters.flex.importer import FlexImporter, ImportCounts
    from ordertrail.adapters.flex.reconcile import reconcile
    from ordertrail.adapters.flex.recorded import RecordedFills
    from ordertrail.adapters.flex.rows import FlexFile
    from ordertrail.adapters.flex.statement import read_flex_file
    from ordertrail.adapters.flex.xmltree import FlexFileError
    from ordertrail.adapters.trail import OrderTrail

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        err_console.print(f"[bold red]error:[/] --tz: unknown time zone {tz!r}", highlight=False)
        raise typer.Exit(1) from None
    errors: list[str] = []
    warnings: list[str] = []
    imported: list[FlexFile] = []
    totals = ImportCounts()
    with clear_errors():
        trail = OrderTrail(config(data, store))
        importer = FlexImporter(trail)
        # A bar on a terminal only: pipes and logs get the result, not redraws.
        with progress_bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
        ) as progress:
            for path in files:
                task = progress.add_task(path.name, total=None)
                try:
                    flex = read_flex_file(path, zone=zone)
                    progress.update(task, total=sum(len(s.fills) for s in flex.statements))
                    result = importer.import_file(flex, progress=_advance(progress, task))
                except FlexFileError as e:
                    errors.append(str(e))
                    continue
                imported.append(flex)
                totals.add(result.counts)
                warnings.extend(result.warnings)
        known = RecordedFills.read(trail.recorder)
        checks = [c for flex in imported for c in reconcile(flex, known, zone=zone)]
    counts: dict[str, Any] = {"files": len(imported), **totals.as_dict()}
    if fmt is FlexFormat.json:
        doc = {
            "reconciliation": [c.as_dict() for c in checks],
            "imported": counts,
            "warnings": warnings,
            "errors": errors,
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _table(checks, counts)
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    for message in errors:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("import-flex")(import_flex)
