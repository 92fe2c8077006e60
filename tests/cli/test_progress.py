"""Long work (replay, import-flex, rebuild) draws a progress bar on a terminal and nothing in a
pipe, even when ``FORCE_COLOR`` (set by CI for coloured logs) makes rich think it is on one.

The terminal case is forced with ``TTY_INTERACTIVE=1``; a real one was checked with tmux
(``tmux pipe-pane`` logging the raw pane while each command ran)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ordertrail.adapters.testing.harness import Harness, IbErrorLog, run_with_simulator
from tests.tape.sessions import Live, quiet_market, record_live

FLEX = Path(__file__).parent.parent / "flex" / "data" / "activity_2025-08-04_08.xml"
BAR = "━"  # what rich's BarColumn draws
REDRAW = "\r"  # how a bar redraws its line


def script() -> str:
    path = Path(sys.executable).with_name("ordertrail")
    found = str(path) if path.exists() else shutil.which("ordertrail")
    assert found, "the ordertrail console script is not installed"
    return found


async def _session(s: Live) -> None:
    trade = await s.place(10)
    s.h.sim.fill(trade.order.orderId, 10, 150)


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("progress")

    async def body(h: Harness) -> None:
        await record_live(h, root / "live", root / "t.tape", _session)

    asyncio.run(run_with_simulator(body, IbErrorLog(), quiet_market()))
    return root / "t.tape"


def run_all(data: Path, tape: Path, **env: str) -> list[tuple[str, str]]:
    """(stdout, stderr) of replay, import-flex and rebuild, both streams piped."""
    clean = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_INTERACTIVE")}
    out = []
    for args in (
        ["replay", str(tape)],
        ["import-flex", str(FLEX), "--format", "json"],
        ["rebuild"],
    ):
        proc = subprocess.run(
            [script(), *args, "--data", str(data)],
            capture_output=True,  # bytes: text mode would turn the bar's \r into \n
            env={**clean, "COLUMNS": "100", **env},
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        out.append((proc.stdout.decode(), proc.stderr.decode()))
    return out


@pytest.mark.parametrize("env", [{}, {"FORCE_COLOR": "1"}], ids=["plain", "FORCE_COLOR"])
def test_piped_output_has_no_progress(tmp_path: Path, tape: Path, env: dict[str, str]) -> None:
    for stdout, stderr in run_all(tmp_path / "data", tape, **env):
        for stream in (stdout, stderr):
            assert BAR not in stream, stream
            assert REDRAW not in stream, stream
            if not env:
                assert "\x1b[" not in stream, stream  # no ANSI at all in a plain pipe
    (replay, _err), _flex, (_out, rebuilt) = run_all(tmp_path / "again", tape)
    assert "1 replayed" in replay
    assert rebuilt.startswith("rebuilt ")


def test_a_terminal_gets_a_bar(tmp_path: Path, tape: Path) -> None:
    for _stdout, stderr in run_all(tmp_path / "data", tape, TTY_INTERACTIVE="1"):
        assert BAR in stderr, stderr
        assert REDRAW in stderr, stderr
