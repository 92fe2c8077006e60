"""A TWAP a trader can watch and stop: a real ``ordertrail twap`` process against the
simulator, stopped with SIGINT (Ctrl-C) or SIGTERM while a slice is working."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.status import OrderStatus

ORDERTRAIL = str(Path(sys.executable).with_name("ordertrail"))


def _working(data: Path) -> list[str]:
    if not (data / "events.sqlite").exists():
        return []
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        return [
            s.client_order_id or ""
            for s in trail.states().values()
            if s.status is OrderStatus.SUBMITTED
        ]
    finally:
        trail.close()


def _stopped(
    cmd: list[str], data: Path, sig: signal.Signals, terminal: str
) -> tuple[int, str, str]:
    """Run ``cmd``, send ``sig`` once its first order is working; exit code, stdout, stderr."""
    env = {**os.environ, "TTY_INTERACTIVE": terminal, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while not _working(data):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the first order never started working"
            time.sleep(0.2)
        time.sleep(1.0)  # let the status line draw at least once
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("sig", "terminal"), [(signal.SIGINT, "1"), (signal.SIGTERM, "0")])
def test_a_stopped_twap_cancels_its_working_slices_and_says_so(
    tmp_path: Path, simulator_port: int, sig: signal.Signals, terminal: str
) -> None:
    data = tmp_path / "data"
    cmd = [ORDERTRAIL, "twap", "AAPL", "--action", "BUY", "--qty", "10", "--limit", "140"]
    cmd += ["--slices", "5", "--duration", "600", "--port", str(simulator_port)]
    cmd += ["--data", str(data)]
    code, out, text = _stopped(cmd, data, sig, terminal)
    row = json.loads(out.strip().splitlines()[-1])
    assert code == 1  # nothing filled: the strategy did not do what was asked
    assert row["stopped"] is True
    assert row["filled"] == "0"
    assert "stopped: filled 0 of 10" in text
    assert "1 working order(s) cancelled" in text
    if terminal == "1":
        assert "slice 1 of 5 · filled 0 of 10 · 1 working · next in" in text
    else:
        assert "slice 1 of 5" not in text
    trail = OrderTrail(StoreConfig.resolve(data))
    states = [s for s in trail.states().values() if s.group_id == row["group_id"]]
    assert len(states) == 1  # no slice was sent after the signal
    # Cancelled is IB's confirmation, recorded before the summary was printed.
    assert [s.status for s in states] == [OrderStatus.CANCELLED]


def test_a_stopped_patience_order_is_cancelled_and_summarised(
    tmp_path: Path, simulator_port: int
) -> None:
    data = tmp_path / "data"
    cmd = [ORDERTRAIL, "patience", "AAPL", "--action", "BUY", "--qty", "10", "--mid", "140"]
    cmd += ["--window", "600", "--port", str(simulator_port), "--data", str(data)]
    code, out, err = _stopped(cmd, data, signal.SIGINT, "1")
    row = json.loads(out.strip().splitlines()[-1])
    assert code == 1
    assert row["stopped"] is True
    assert "step 1 of 5 · filled 0 of 10 · 1 working · next in" in err
    assert "stopped: filled 0 of 10" in err
    trail = OrderTrail(StoreConfig.resolve(data))
    (state,) = [s for s in trail.states().values() if s.group_id == row["group_id"]]
    assert state.status is OrderStatus.CANCELLED
    assert state.spec.limit_price == 140  # stopped before the first step
