"""``ordertrail record`` killed (SIGKILL) in the middle of a burst of orders, then its own tape
replayed into the same store: what the kill cut off is added, nothing is recorded twice, and
the store ends exactly as a clean replay of the tape. One IB message is one transaction: an
order first seen in an openOrder is saved with that message's identifiers, never without them.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail

from .sessions import event_log
from .test_tape_cli import ThreadedSimulator, _wait
from .test_tape_cli import threaded_sim as threaded_sim  # the fixture

runner = CliRunner()
BURST = 400


def _recording(sim: ThreadedSimulator, data: Path, tape: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-c", "from ordertrail.adapters.cli import main; main()",
        "record", "--port", str(sim.sim.port), "--client-id", "0",
        "--data", str(data), "--tape", str(tape),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _wait(lambda: any(s.ready for s in sim.sim.broker.sessions))
    return proc


def _stored(data: Path) -> int:
    path = data / "events.sqlite"
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _aliases(data: Path) -> dict[object, list[tuple[int, int]]]:
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        return {oid: s.aliases for oid, s in trail.states().items()}
    finally:
        trail.close()


def _burst(sim: ThreadedSimulator, stop: threading.Event) -> None:
    """Orders entered by hand in TWS, one after another: client 0 sees each openOrder."""
    for i in range(BURST):
        if stop.is_set():
            return
        sim.do(sim.sim.place_manual, "AAPL", "BUY", 10, "LMT", 150 - i % 7)


def test_a_kill_mid_burst_then_the_tape_replayed_into_the_store(
    threaded_sim: ThreadedSimulator, tmp_path: Path
) -> None:
    live, tape = tmp_path / "live", tmp_path / "rec.tape"
    proc = _recording(threaded_sim, live, tape)
    stop = threading.Event()
    burst = threading.Thread(target=_burst, args=(threaded_sim, stop))
    burst.start()
    try:
        _wait(lambda: _stored(live) >= 60, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(15)
        stop.set()
        burst.join(30)
    killed, killed_aliases = event_log(live), _aliases(live)

    resumed = runner.invoke(app, ["replay", str(tape), "--data", str(live)])
    assert resumed.exit_code == 0, resumed.output
    clean = runner.invoke(app, ["replay", str(tape), "--data", str(tmp_path / "clean")])
    assert clean.exit_code == 0, clean.output
    # Every order the killed recorder saved carries the (clientId, orderId) its first openOrder
    # gave, as a clean replay of the tape has it: none was saved without them.
    clean_aliases = _aliases(tmp_path / "clean")
    assert {oid: clean_aliases[oid] for oid in killed_aliases} == killed_aliases
    after = event_log(live)
    assert after[: len(killed)] == killed  # nothing already recorded was changed
    assert after == event_log(tmp_path / "clean")
    again = runner.invoke(app, ["replay", str(tape), "--data", str(live)])
    assert "0 events recorded" in again.output
