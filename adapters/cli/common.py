"""Options and helpers shared by every command: one config path (``--data``/``--store``), one
way to print tables/JSON/CSV, one way to fail (a clear message on stderr and exit code 1)."""

from __future__ import annotations

import csv
import enum
import io
import logging
import os
import re
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
    parquet = "parquet"


FormatOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        help="table (for people), json, csv, or parquet (binary, to a file or a pipe).",
    ),
]


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
    console = Console()
    cells = [["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    if console.is_terminal:
        shown = fit(columns, widths, console.width)
    else:
        # In a pipe nothing limits the width: print every column whole.
        shown = list(range(len(columns)))
        console = Console(width=max(80, sum(widths) + 3 * len(widths) + 1))
    hidden = [columns[i] for i in range(len(columns)) if i not in shown]
    table = people_table([columns[i] for i in shown], [[r[i] for i in shown] for r in cells],
                         [widths[i] for i in shown], title)  # fmt: skip
    console.print(table)
    if hidden:
        err_console.print(
            f"(not shown at this width: {', '.join(hidden)}; --format json or csv has them)",
            highlight=False,
        )


# Columns of prose: they wrap. Every other column (ids, prices, quantities, times) is printed
# whole on one line, since a cut id or price is worse than no table.
FREE_TEXT = frozenset({"summary", "anomalies", "last_error", "note", "message", "source"})
FREE_MIN = 16
STATUS_STYLES = {
    "Filled": "green", "Submitted": "blue", "PreSubmitted": "cyan", "PendingSubmit": "cyan",
    "PendingCancel": "yellow", "Cancelled": "dim", "ApiCancelled": "dim", "Inactive": "red",
    "RiskDenied": "bold red", "New": "bold",
}  # fmt: skip


# Left out first when a terminal is too narrow (then from the right): what an audit needs
# least at a glance.
DROP_FIRST = (
    "updated_recorded", "origin", "stop_price", "order_type", "commission_currency",
    "replaces_exec_id", "realized_pnl_avg", "fifo_cost", "multiplier", "currency", "con_id",
    "last_fill_ib", "perm_id", "anomalies", "commission", "exec_id", "account",
)  # fmt: skip


def fit(columns: Sequence[str], widths: Sequence[int], room: int) -> list[int]:
    """Which columns a terminal of ``room`` characters shows whole: prose squeezed to
    FREE_MIN, then columns left out (DROP_FIRST, then from the right), never cut."""

    def need(i: int) -> int:
        return (min(widths[i], FREE_MIN) if columns[i] in FREE_TEXT else widths[i]) + 3

    shown = list(range(len(columns)))
    order = [columns.index(c) for c in DROP_FIRST if c in columns]
    order += [i for i in reversed(shown) if i not in order]
    for i in order:
        if 1 + sum(need(j) for j in shown) <= room or len(shown) == 1:
            break
        shown.remove(i)
    return shown


def people_table(
    columns: Sequence[str], cells: Sequence[Sequence[str]], widths: Sequence[int],
    title: str | None,
) -> Table:  # fmt: skip
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for col, widest in zip(columns, widths, strict=True):
        if col in FREE_TEXT:
            table.add_column(col, overflow="fold", min_width=min(widest, FREE_MIN))
        else:
            table.add_column(col, no_wrap=True, min_width=widest)
    for row in cells:
        table.add_row(*(
            Text(v, style=STATUS_STYLES.get(v, "")) if c == "status" else Text(v)
            for c, v in zip(columns, row, strict=True)
        ))  # fmt: skip
    return table


def emit_frame(frame: Any) -> None:
    """A frame as Parquet on stdout, for a file or a pipe (never a terminal: it is binary)."""
    if sys.stdout.isatty():
        fail("--format parquet writes binary: redirect it to a file (> out.parquet) or a pipe")
    buf = io.BytesIO()
    frame.write_parquet(buf)
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.flush()


# ---- logging ------------------------------------------------------------------------------------

# What ib_async logs at ERROR level although nothing went wrong: 202 confirms a cancel we asked
# for; 2103–2110, 2157 and 2158 report market-data and HMDS farm connections. Shown as INFO.
EXPECTED_IB_CODES = frozenset({202, 2103, 2104, 2105, 2106, 2107, 2108, 2109, 2110, 2157, 2158})


_IB_ERROR = re.compile(r"^(?:Error|Warning) (\d+), reqId")


class ExpectedIbMessages(logging.Filter):
    """Lowers ib_async's ERROR record for an expected message to INFO: the handler then shows
    it only if it shows INFO (the log file and ``--verbose`` keep it)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.name.startswith("ib_async"):
            # ib_async formats the line itself: "Error 202, reqId 7: Order Canceled - …".
            said = _IB_ERROR.match(record.getMessage())
            if said and int(said.group(1)) in EXPECTED_IB_CODES:
                record.levelno, record.levelname = logging.INFO, "INFO"
        if record.name.startswith("ordertrail") and record.levelno >= logging.INFO:
            return True  # what our own command is doing: "listening on 127.0.0.1:7497"
        return record.levelno >= self.level


class _Stderr(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(verbose: bool, log_file: str | None) -> None:
    """Timestamped lines on stderr (ordertrail's own news and everyone's warnings; everything
    with ``--verbose``) and, with ``--log-file``, every INFO line (or everything) to a file."""
    fmt = logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s",
                            "%Y-%m-%d %H:%M:%S")  # fmt: skip
    root = logging.getLogger()
    # ib_async's INFO chatter (every openOrder) is only formatted when someone will read it.
    root.setLevel(logging.DEBUG if verbose else logging.INFO if log_file else logging.WARNING)
    logging.getLogger("ordertrail").setLevel(logging.DEBUG if verbose else logging.INFO)
    for old in [h for h in root.handlers if getattr(h, "ordertrail", False)]:
        root.removeHandler(old)  # a second command in one process (tests, a notebook)
        old.close()
    detail = logging.DEBUG if verbose else logging.INFO
    console = _Stderr()
    console.addFilter(ExpectedIbMessages(logging.DEBUG if verbose else logging.WARNING))
    handlers: list[logging.Handler] = [console]
    if log_file:
        try:
            to_file = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as e:
            fail(f"--log-file {log_file}: {e.strerror or e}")
        to_file.addFilter(ExpectedIbMessages(detail))
        handlers.append(to_file)
    for handler in handlers:
        handler.setLevel(detail)
        handler.setFormatter(fmt)
        handler.ordertrail = True  # type: ignore[attr-defined]
        root.addHandler(handler)
