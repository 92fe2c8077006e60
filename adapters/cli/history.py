"""``ordertrail record`` and ``ordertrail replay``: live sessions on wire tapes, and tapes
replayed through ib_async's decoder into the event store (docs/tape-format.md)."""

from __future__ import annotations

import asyncio
import functools
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ordertrail.adapters.cli.common import (
    DataOpt,
    StoreOpt,
    clear_errors,
    config,
    err_console,
    fail,
    progress_bar,
    report_unrecorded,
    show_progress,
)

if TYPE_CHECKING:
    from ordertrail.adapters.tape.live import LiveStatus
    from ordertrail.adapters.tape.replay import ReplayReport


def _status_text(s: LiveStatus) -> str:
    state = "[green]connected[/]" if s.connected else "[yellow]not connected[/]"
    return (
        f"{state} · {s.connects} connect(s) · {s.segments} segment(s) · "
        f"{s.messages} messages · {s.last}"
    )


def record(
    client_id: Annotated[
        int,
        typer.Option(
            "--client-id", help="API client id to connect as.", envvar="ORDERTRAIL_CLIENT_ID"
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", help="TWS / IB Gateway host.", envvar="ORDERTRAIL_HOST")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="TWS / IB Gateway API port.", envvar="ORDERTRAIL_PORT")
    ] = 7497,
    data: DataOpt = None,
    store: StoreOpt = None,
    tape: Annotated[
        Path | None,
        typer.Option(
            "--tape",
            help="Wire tape to append to (.gz compresses). Default: DATA/tapes/<time>-client<N>"
            ".tape.gz",
        ),
    ] = None,
) -> None:
    """Record a live session (TWS, IB Gateway or the simulator) into the event store and onto
    a wire tape, until Ctrl-C; reconnects and reconciles when the connection drops."""
    from ordertrail.adapters.tape.live import LiveRecording
    from ordertrail.adapters.tape.writer import TapeFileError
    from ordertrail.domain.errors import OrdertrailError

    cfg = config(data, store)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    tape_path = tape or cfg.data_dir / "tapes" / f"{stamp}-client{client_id}.tape.gz"
    console = Console(stderr=True)
    live = None
    if console.is_terminal:
        live = console.status("connecting…")

    def changed(s: LiveStatus) -> None:
        if live is not None:
            live.update(_status_text(s))

    async def main() -> LiveRecording:
        try:
            session = LiveRecording(host, port, client_id, cfg, tape_path, on_change=changed)
        except (TapeFileError, OrdertrailError, OSError, ValueError) as e:
            fail(str(e))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await session.run(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return session

    if live is not None:
        live.start()
    try:
        session = asyncio.run(main())
    finally:
        if live is not None:
            live.stop()
    s, stats = session.status, session.recorder.stats.as_dict()
    typer.echo(
        f"recorded {s.messages} messages in {s.segments} segment(s) ({s.connects} connect(s)) "
        f"to {tape_path}; store {cfg.describe()}: "
        + ", ".join(f"{k} {v}" for k, v in stats.items())
    )
    recorded = session.recorder.stats
    if report_unrecorded(recorded.problems, recorded.warnings):
        raise typer.Exit(1)


def _print_report(report: ReplayReport, skip_bad: bool) -> None:
    label = "[yellow]skipped:[/]" if skip_bad else "[bold red]error:[/]"
    for p in report.problems:
        err_console.print(f"{label} {p}", highlight=False, soft_wrap=True)
    if report.refused:
        if report.segments:  # an empty tape has no good lines to offer
            err_console.print(
                f"[bold red]error:[/] {report.path}: not replayed ({len(report.problems)} "
                "problem(s)); --skip-bad replays the good lines and skips these",
                highlight=False,
                soft_wrap=True,
            )
        return
    for problem in report.recorder_problems:
        err_console.print(f"{label} could not record {problem}", highlight=False, soft_wrap=True)
    typer.echo(
        f"{report.path}: {report.segments} segment(s): {report.replayed} replayed, "
        f"{report.resumed} resumed, {report.already} already in the store; "
        f"{report.messages} messages fed, {report.events} events recorded"
    )


def replay(
    tapes: Annotated[list[Path], typer.Argument(help="Wire tapes (.tape or .tape.gz).")],
    data: DataOpt = None,
    store: StoreOpt = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip bad lines (and report them) instead of refusing."),
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=0,
            max=2,
            help="1: check and record in one process; 2: check the tape in a second process "
            "while recording; 0: two when a core is to spare.",
        ),
    ] = 0,
) -> None:
    """Replay wire tapes through ib_async's decoder and the live recorder, with no socket.
    Segments already in the store record nothing; a bad tape records nothing (exit 1)
    unless --skip-bad."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from ordertrail.adapters.tape.replay import Replayer

    cfg = config(data, store)
    failed = False
    with clear_errors():
        replayer = Replayer(cfg, skip_bad=skip_bad, processes=processes)
    try:
        with clear_errors():
            for path in tapes:
                if not path.is_file():
                    what = "a directory, not a tape" if path.is_dir() else "no such file"
                    err_console.print(
                        f"[bold red]error:[/] {path}: {what}", highlight=False, soft_wrap=True
                    )
                    failed = True
                    continue
                if show_progress():
                    # The messages fed so far, with no total: counting them first would read
                    # the tape once more before anything is recorded.
                    with progress_bar(
                        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()
                    ) as bar:
                        task = bar.add_task(path.name, total=None)
                        replayer.progress = functools.partial(bar.advance, task)
                        report = replayer.replay(path)
                else:
                    replayer.progress = None
                    report = replayer.replay(path)
                _print_report(report, skip_bad)
                # A fact the recorder could not record is lost from the store: as bad as a bad line.
                bad = not report.ok or bool(report.recorder_problems)
                failed = failed or report.refused or report.unfinished or (bad and not skip_bad)
    finally:
        replayer.close()
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(record)
    app.command()(replay)
