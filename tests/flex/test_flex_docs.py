"""docs/flex.md shows the report of the options-and-FX statement: that is what the command
prints, line for line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app

from .conftest import DATA

PAGE = Path(__file__).resolve().parents[2] / "docs" / "flex.md"


def test_the_options_and_fx_report_shown_is_real(tmp_path: Path) -> None:
    blocks = re.findall(r"^```console\n(.*?)^```", PAGE.read_text(), flags=re.M | re.S)
    (block,) = [b for b in blocks if "options_fx.xml" in b]
    command, *shown = block.rstrip("\n").splitlines()
    args = shlex.split(command.removeprefix("$ "))[1:]
    args[args.index("--data") + 1] = str(tmp_path / "data")
    args[1] = str(DATA / Path(args[1]).name)
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    assert [line.rstrip() for line in result.stdout.splitlines()] == shown
