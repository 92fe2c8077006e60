"""Live sessions recorded the way ``ordertrail record`` records them (``LiveRecording``: the
real ib_async client, the recorder, the wire capture, reconnects), against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ib_async import IB, LimitOrder, Stock, Trade

from ordertrail.adapters.simulator import Scenario
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_rows
from ordertrail.adapters.tape.live import LiveRecording
from ordertrail.adapters.testing.harness import Harness
from ordertrail.adapters.trail import OrderTrail

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
# ib_async logs IB's order errors and a dropped connection at ERROR level: all provoked here.
EXPECTED_IB_ERRORS = (r"Error \d+, reqId", r"Peer closed connection", r"Unknown orderId")


def quiet_market(server_version: int = 178) -> Scenario:
    return Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False, server_version=server_version)


class Live:
    """A running ``LiveRecording`` plus helpers to drive it from a test."""

    def __init__(self, h: Harness, rec: LiveRecording, task: asyncio.Task[None]) -> None:
        self.h, self.rec, self.task = h, rec, task
        self.refs = 0

    @property
    def ib(self) -> IB:
        return self.rec.ib

    async def until(self, predicate: Callable[[], object], timeout: float = 3.0) -> None:
        await self.h.wait_until(predicate, timeout)

    async def place(self, qty: int = 10, price: float = 150) -> Trade:
        self.refs += 1
        trade = self.ib.placeOrder(AAPL, LimitOrder("BUY", qty, price, orderRef=f"t{self.refs}"))
        await self.until(lambda: trade.orderStatus.status in ("Submitted", "Inactive"))
        return trade

    async def reconnect(self, client_id: int) -> None:
        connects = self.rec.status.connects
        self.h.sim.disconnect(client_id)
        await self.until(lambda: self.rec.status.connects > connects and self.ib.isConnected())
        await asyncio.sleep(0.05)  # the reconnect's sync: open orders, completed, executions

    async def synced(self) -> None:
        """Let every message in flight arrive and be recorded."""
        await asyncio.sleep(0.05)


Script = Callable[[Live], Awaitable[None]]


async def record_live(
    h: Harness,
    data: Path,
    tape: Path,
    script: Script,
    client_id: int = 1,
    tws_timezone: str = "",
) -> LiveRecording:
    h.errors.expect(*EXPECTED_IB_ERRORS)
    rec = LiveRecording(
        "127.0.0.1", h.sim.port, client_id, StoreConfig.resolve(data), tape, retry_delay=0.02
    )
    rec.ib.TimezoneTWS = tws_timezone  # what a program that knows its TWS's zone sets
    stop = asyncio.Event()
    task = asyncio.ensure_future(rec.run(stop))
    live = Live(h, rec, task)
    await live.until(lambda: rec.ib.isConnected() and rec.status.connects == 1)
    await asyncio.sleep(0.05)  # the start-up sync
    await script(live)
    await live.synced()
    stop.set()
    await task
    return rec


def recorded_tape(root: Path, name: str, script: Script) -> Path:
    """A tape of ``script`` run live against the simulator (its store in ``root/live``),
    which must meet no IB error it does not expect."""
    from ordertrail.adapters.testing.harness import IbErrorLog, run_with_simulator

    tape = root / name
    errors = IbErrorLog()

    async def body(h: Harness) -> None:
        await record_live(h, root / "live", tape, script)

    asyncio.run(run_with_simulator(body, errors, quiet_market()))
    assert not errors.unexpected()
    return tape


def event_log(data: Path) -> list[tuple[Any, int, str, bytes]]:
    """The whole event log: (order id, version, topic, stored state) in notification order."""
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        return [
            (str(oid), v, topic, bytes(state))
            for _, oid, v, topic, state in stored_rows(trail.recorder)
        ]
    finally:
        trail.close()


def check_exactly_once(tape: Path, data: Path) -> None:
    """Against the wire (the tape), not against our own code: every execution IB sent is on
    record exactly once (its latest revision), every error IB sent is recorded (on its order or
    in the session log) and none twice for one request, and every order on record was sent or
    reported on the wire — none invented."""
    from ordertrail.adapters.tape.format import Message
    from ordertrail.adapters.tape.reader import TapeScanner
    from ordertrail.domain.events import ErrorReported, ExecutionRecorded, RequestSent
    from ordertrail.domain.session import SessionMessageRecorded
    from ordertrail.domain.values import exec_base_id, exec_revision

    wire_execs: dict[str, str] = {}
    wire_errors: list[tuple[int, int]] = []
    wire_perms: set[int] = set()
    for _seg, item in TapeScanner(tape).items():
        if not isinstance(item, Message) or item.direction != "in" or item.handshake:
            continue
        f = item.fields
        if f[0] == "11":
            exec_id = f[14] if len(f) > 14 else ""
            base = exec_base_id(exec_id)
            if base not in wire_execs or exec_revision(exec_id) > exec_revision(wire_execs[base]):
                wire_execs[base] = exec_id
        elif f[0] == "4":
            wire_errors.append((int(f[2]), int(f[3])))
        elif f[0] == "3" and len(f) > 6:  # orderStatus: [3, orderId, status, ..., permId]
            wire_perms.add(int(f[6] or 0))
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        states = trail.states()
        recorded = {b: x.exec_id for st in states.values() for b, x in st.executions.items()}
        assert recorded == wire_execs
        firsts = [
            e.execution.base_id
            for oid in states
            for e in trail.history(oid)
            if isinstance(e, ExecutionRecorded)
        ]
        assert sorted(firsts) == sorted(set(firsts)), "an execution recorded twice"
        errors: list[int] = []
        for oid, st in states.items():
            history = trail.history(oid)
            errors += [e.code for e in history if isinstance(e, ErrorReported)]
            sent = any(isinstance(e, RequestSent) for e in history)
            assert sent or st.perm_id in wire_perms or st.executions, f"invented: {st}"
        for _, oid, _v, topic, _state in stored_rows(trail.recorder):
            if topic.endswith("SessionLogOpened"):
                errors += [
                    e.code
                    for e in trail.history(oid)
                    if isinstance(e, SessionMessageRecorded) and e.code
                ]
        # Repeats of one error for one request are one fact; nothing is dropped.
        assert sorted(set(errors)) == sorted({code for _req, code in wire_errors})
        assert len(errors) <= len(wire_errors)
    finally:
        trail.close()
