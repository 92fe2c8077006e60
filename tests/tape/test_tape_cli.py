"""``ordertrail record`` (a real subprocess against an in-process simulator) and
``ordertrail replay``: idempotence, --skip-bad and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app
from ordertrail.adapters.simulator import Scenario, Simulator

from .sessions import event_log

runner = CliRunner()


class ThreadedSimulator:
    """The simulator on its own event loop in a thread, for a client in another process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.sim.start())

    def call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)  # type: ignore[arg-type]

    def do(self, fn: object, *args: object) -> object:
        async def run() -> object:
            return fn(*args)  # type: ignore[operator]

        return self.call(run())

    def close(self) -> None:
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def threaded_sim() -> Iterator[ThreadedSimulator]:
    sim = ThreadedSimulator()
    try:
        yield sim
    finally:
        sim.close()


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_record_until_sigint_then_replay(threaded_sim: ThreadedSimulator, tmp_path: Path) -> None:
    tape = tmp_path / "rec.tape.gz"
    cmd = [
        sys.executable, "-c", "from ordertrail.adapters.cli import main; main()",
        "record", "--port", str(threaded_sim.sim.port), "--client-id", "0",
        "--data", str(tmp_path / "live"), "--tape", str(tape),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        _wait(lambda: any(s.ready for s in threaded_sim.sim.broker.sessions))
        # An order entered by hand in TWS: client 0 sees it, and its fills.
        manual = threaded_sim.do(threaded_sim.sim.place_manual, "AAPL", "BUY", 10, "LMT", 150)
        time.sleep(0.3)
        threaded_sim.do(threaded_sim.sim.fill, manual, 10, 150)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert "recorded" in out.decode()
    assert "executions 1" in out.decode()
    live = event_log(tmp_path / "live")
    assert len(live) >= 3

    first = runner.invoke(app, ["replay", str(tape), "--data", str(tmp_path / "replay")])
    assert first.exit_code == 0, first.output
    assert "1 replayed" in first.output
    assert event_log(tmp_path / "replay") == live
    second = runner.invoke(app, ["replay", str(tape), "--data", str(tmp_path / "replay")])
    assert second.exit_code == 0
    assert "0 events recorded" in second.output
    into_live = runner.invoke(app, ["replay", str(tape), "--data", str(tmp_path / "live")])
    assert "1 already in the store" in into_live.output
    assert "0 events" in into_live.output


def test_replay_exit_codes_and_skip_bad(good_tape: Path, tmp_path: Path) -> None:
    lines = good_tape.read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.tape"
    d = json.loads(lines[5])
    lines[5] = json.dumps(d | {"seq": 1}) + "\n"  # a sequence number out of order
    bad.write_text("".join(lines))
    data = str(tmp_path / "data")

    refused = runner.invoke(app, ["replay", str(bad), "--data", data])
    assert refused.exit_code == 1
    assert f"{bad}:6: sequence" in refused.output
    assert "not replayed" in refused.output
    skipped = runner.invoke(app, ["replay", str(bad), "--data", data, "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert f"skipped: {bad}:6" in skipped.output
    assert "1 replayed" in skipped.output
    missing = runner.invoke(app, ["replay", str(tmp_path / "nope.tape"), "--data", data])
    assert missing.exit_code == 1
    assert "no such file" in missing.output
