"""Settings from a config file, so a desk types ``ordertrail record`` rather than its host,
port, client id, account and data directory every time.

The file is ``$ORDERTRAIL_CONFIG``, else ``$XDG_CONFIG_HOME/ordertrail/config.toml`` (default
``~/.config/ordertrail/config.toml``)::

    [defaults]            # every command that has the option
    data = "/srv/ordertrail"
    host = "10.0.0.5"
    port = 4002
    client_id = 7
    account = "DU1234567"
    tz = "America/New_York"

    [report]              # one command only
    out = "/srv/reports/today.html"

Keys are option names with ``_`` for ``-``. The command line wins, then the environment
(``ORDERTRAIL_DATA``, ``ORDERTRAIL_HOST``…), then this file, then the built-in default.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import typer

from ordertrail.adapters.cli.common import fail


def config_path() -> Path | None:
    named = os.environ.get("ORDERTRAIL_CONFIG")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(base) / "ordertrail" / "config.toml"
    return path if path.is_file() else None


def load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        fail(f"config file {path}: {e.strerror or e}")
    except tomllib.TOMLDecodeError as e:
        fail(f"config file {path}: {e}")


def defaults_for(ctx: typer.Context) -> dict[str, dict[str, Any]] | None:
    """The ``default_map`` for every subcommand, from the config file (None: no file)."""
    path = config_path()
    if path is None:
        return None
    settings = load(path)
    group = ctx.command
    commands: dict[str, Any] = getattr(group, "commands", {})
    shared = settings.get("defaults", {})
    known: set[str] = set()
    out: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        params = {p.name for p in command.params if p.name}
        known |= params
        chosen = {k: v for k, v in shared.items() if k in params}
        own = settings.get(name, {})
        unknown = sorted(set(own) - params)
        if unknown:
            fail(f"config file {path}: [{name}] has no option {', '.join(unknown)}")
        out[name] = {**chosen, **own}
    for section in settings:
        if section != "defaults" and section not in commands:
            fail(f"config file {path}: no command [{section}]")
    unknown = sorted(set(shared) - known)
    if unknown:
        fail(f"config file {path}: [defaults] names no option of any command: {', '.join(unknown)}")
    return out
