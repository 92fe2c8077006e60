"""``ordertrail``: the command-line entry point."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from ordertrail.adapters.cli.common import setup_logging

app = typer.Typer(
    name="ordertrail",
    help="An event-sourced record of every Interactive Brokers order, built from what IB said.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ordertrail {version('ordertrail')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log everything (ib_async too) on stderr.")
    ] = False,
    log_file: Annotated[
        str | None, typer.Option("--log-file", help="Also write the timestamped log to this file.")
    ] = None,
) -> None:
    from ordertrail.adapters.cli.settings import defaults_for

    setup_logging(verbose, log_file)
    ctx.default_map = defaults_for(ctx)


# Each module adds its own commands with register(app); the order here is the order in --help.
COMMAND_MODULES = ("core", "audit", "report", "flex", "history", "execution", "verify")


def _register() -> None:
    from importlib import import_module

    for name in COMMAND_MODULES:
        import_module(f"ordertrail.adapters.cli.{name}").register(app)
    for info in app.registered_commands:
        info.help = _reflow(info.help or (info.callback.__doc__ if info.callback else None))


def _reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as whole lines: the terminal wraps them at its own width,
    instead of breaking where the source did."""
    if not text:
        return text
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


_register()


def main() -> None:
    app()
