"""``ordertrail import-flex`` and ``ordertrail fetch-flex``: IB Flex statements into the event
store, then reconciled."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from decimal import Decimal
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
    fail,
    progress_bar,
)
from ordertrail.adapters.flex.report import FailOn

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ordertrail.adapters.flex.cash import CashCheck
    from ordertrail.adapters.flex.livecheck import FillComparison
    from ordertrail.adapters.flex.reconcile import PositionCheck
    from ordertrail.adapters.flex.report import Report
    from ordertrail.adapters.store.config import StoreConfig

# A reconciliation that trips --fail-on: distinct from 1, a file that could not be imported.
EXIT_VERDICT = 3


class FlexFormat(enum.StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[FlexFormat, typer.Option("--format", help="Output format.")]
TzOpt = Annotated[
    str, typer.Option("--tz", help="Zone of the statements' dateTime stamps (IB writes New York).")
]
FailOnOpt = Annotated[
    FailOn | None,
    typer.Option(
        "--fail-on",
        help="Exit 3 when a verdict is a mismatch ('mismatch'), or a mismatch or not provable "
        "('unknown': an opening balance not stated, an ambiguous fill).",
    ),
]


def _note(row: dict[str, Any]) -> str:
    if row.get("implied_opening") is not None:
        return f"implied opening {row['implied_opening']}"
    if row.get("difference") is not None and Decimal(row["difference"]) != 0:
        return f"difference {row['difference']}"
    return ""


def _checks_table(title: str, checks: list[Any], keys: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in (*keys, "derived", "statement", "verdict", "note"):
        table.add_column(col)
    for check in checks:
        row = check.as_dict()
        cells = (*keys, "derived", "statement", "verdict")
        table.add_row(*("" if row[k] is None else str(row[k]) for k in cells), _note(row))
    return table


def _fills_lines(cmp: FillComparison) -> list[str]:
    if cmp.window is None:
        return [f"live fills ({cmp.account}): none in the statement's period"]
    lines = [
        f"live fills ({cmp.account}) {cmp.window[0]} to {cmp.window[1]}: {cmp.paired} paired, "
        f"{len(cmp.checks)} to look at"
    ]
    for fc in cmp.checks:
        lines.append(
            f"  {fc.verdict.value}: {fc.day} {fc.side} {fc.quantity} conid {fc.con_id} "
            f"@ {fc.price} ({fc.exec_id}): {fc.detail}"
        )
    return lines


def _table(report: Report, imported: dict[str, Any]) -> None:
    """One block per statement (file and period), so the columns fit a terminal."""
    console = Console()
    blocks: dict[tuple[str, str], tuple[list[PositionCheck], list[CashCheck]]] = {}
    for p in report.positions:
        blocks.setdefault((p.file, f"{p.from_date} to {p.to_date}"), ([], []))[0].append(p)
    for c in report.cash:
        blocks.setdefault((c.file, f"{c.from_date} to {c.to_date}"), ([], []))[1].append(c)
    for (file, period), (positions, cash) in blocks.items():
        console.print(f"[bold]{file}[/] {period}", highlight=False)
        if positions:
            console.print(_checks_table("positions", positions, ("account", "con_id", "symbol")))
        if cash:
            console.print(_checks_table("cash", cash, ("account", "currency", "stated_by")))
    for cmp in report.fills:
        for line in _fills_lines(cmp):
            console.print(line, highlight=False)
    console.print(
        ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in imported.items()), highlight=False
    )


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda n: progress.advance(task, n)


def _zone(tz: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: unknown time zone {tz!r}")


def run_import(
    files: list[Path], cfg: StoreConfig, zone: ZoneInfo, fmt: FlexFormat, fail_on: FailOn | None
) -> None:
    """Import the files (each all or nothing), print the report, exit as the policy says."""
    from ordertrail.adapters.flex.importer import FlexImporter, ImportCounts
    from ordertrail.adapters.flex.recorded import RecordedFills
    from ordertrail.adapters.flex.report import build_report
    from ordertrail.adapters.flex.rows import FlexFile
    from ordertrail.adapters.flex.statement import read_flex_file
    from ordertrail.adapters.flex.xmltree import FlexFileError
    from ordertrail.adapters.trail import OrderTrail

    errors: list[str] = []
    warnings: list[str] = []
    imported: list[FlexFile] = []
    totals = ImportCounts()
    with clear_errors():
        trail = OrderTrail(cfg)
        importer = FlexImporter(trail)
        # A bar on a terminal only: pipes and logs get the result, not redraws.
        with progress_bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as p:
            for path in files:
                task = p.add_task(path.name, total=None)
                try:
                    flex = read_flex_file(path, zone=zone)
                    p.update(task, total=sum(len(s.fills) for s in flex.statements))
                    result = importer.import_file(flex, progress=_advance(p, task))
                except FlexFileError as e:
                    errors.append(str(e))
                    continue
                imported.append(flex)
                totals.add(result.counts)
                warnings.extend(result.warnings)
        report = build_report(imported, RecordedFills.read(trail.recorder), zone)
    counts: dict[str, Any] = {"files": len(imported), **totals.as_dict()}
    if fmt is FlexFormat.json:
        doc = {**report.as_dict(), "imported": counts, "warnings": warnings, "errors": errors}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _table(report, counts)
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    for message in errors:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(1)
    if report.fails(fail_on):
        err_console.print(f"[bold red]reconciliation failed[/] (--fail-on {fail_on})")
        raise typer.Exit(EXIT_VERDICT)


def import_flex(
    files: Annotated[
        list[Path],
        typer.Argument(help="Activity or Trade Confirmation Flex XML files.", metavar="FILE"),
    ],
    data: DataOpt = None,
    store: StoreOpt = None,
    fmt: FormatOpt = FlexFormat.table,
    tz: TzOpt = "America/New_York",
    fail_on: FailOnOpt = None,
) -> None:
    """Import IB Flex statements as facts (each file all or nothing), then reconcile positions,
    cash balances moved by conversions, and live fills."""
    zone = _zone(tz)
    run_import(files, config(data, store), zone, fmt, fail_on)


def _token(token: str | None, token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            fail(f"--token-file {token_file}: {e.strerror or e}")
    if not token:
        fail("no Flex token: set ORDERTRAIL_FLEX_TOKEN, or give --token-file (or --token)")
    return token


def fetch_flex(
    query: Annotated[
        str, typer.Option("--query", help="The Flex query's id (from Client Portal).")
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="ORDERTRAIL_FLEX_TOKEN",
            show_default=False,
            show_envvar=True,
            help="The Flex Web Service token. Prefer the environment or --token-file: a command "
            "line is visible to other users of the machine.",
        ),
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="A file holding the token (one line).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for the statement (default: DATA/flex)."),
    ] = None,
    url: Annotated[
        str,
        typer.Option("--service-url", help="The Flex Web Service's base URL."),
    ] = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService",
    attempts: Annotated[
        int, typer.Option("--attempts", min=1, help="Tries per step while IB says 'try again'.")
    ] = 10,
    poll_wait: Annotated[
        float,
        typer.Option("--poll-wait", min=0, help="First wait in seconds between tries (doubles)."),
    ] = 5.0,
    data: DataOpt = None,
    store: StoreOpt = None,
    fmt: FormatOpt = FlexFormat.table,
    tz: TzOpt = "America/New_York",
    fail_on: FailOnOpt = None,
) -> None:
    """Fetch a statement from IB's Flex Web Service (request, then poll until it is ready),
    save the XML, and import it as import-flex does."""
    from ordertrail.adapters.flex.webservice import FlexWebService, Patience

    secret = _token(token, token_file)
    zone = _zone(tz)
    cfg = config(data, store)
    folder = out or cfg.data_dir / "flex"
    with clear_errors():
        patience = Patience(attempts=attempts, first_wait=poll_wait)
        access, body = FlexWebService(url, patience=patience).fetch(secret, query)
        folder.mkdir(parents=True, exist_ok=True)
        # Named by query and IB's reference code: a re-fetch never overwrites an earlier one.
        path = folder / f"flex_{_safe(query)}_{_safe(access.reference)}.xml"
        path.write_bytes(body)
    err_console.print(f"saved {path} ({len(body)} bytes)", highlight=False, soft_wrap=True)
    run_import([path], cfg, zone, fmt, fail_on)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:64]


def register(app: typer.Typer) -> None:
    app.command("import-flex")(import_flex)
    app.command("fetch-flex")(fetch_flex)
