"""``ordertrail simulate`` as a person runs it: it says where it listens and logs each
connection and order, with times, until Ctrl-C."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time

from ib_async import IB, LimitOrder, Stock


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_simulate_says_where_it_listens_and_logs_connections_and_orders() -> None:
    port = _free_port()
    cmd = [sys.executable, "-c", "from ordertrail.adapters.cli import main; main()"]
    proc = subprocess.Popen(
        [*cmd, "simulate", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)

        async def trade() -> None:
            ib = IB()
            await ib.connectAsync("127.0.0.1", port, clientId=5)
            t = ib.placeOrder(Stock("AAPL", "SMART", "USD"), LimitOrder("BUY", 10, 1.0))
            while t.orderStatus.status not in ("Submitted", "PreSubmitted", "Filled"):
                await asyncio.sleep(0.02)
            ib.disconnect()
            await asyncio.sleep(0.2)

        asyncio.run(asyncio.wait_for(trade(), 20))
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port}" in err
    assert "client 5 connected" in err
    assert re.search(r"client 5 places order \d+: BUY 10 AAPL LMT 1", err), err
    assert "client 5 disconnected" in err
    assert "Traceback" not in err
