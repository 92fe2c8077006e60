"""Recorded live against the simulator, replayed into a wiped store: the same event log, byte
for byte (topics, versions, payloads, ts_recorded), and a second replay records nothing."""

from __future__ import annotations

import asyncio
import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ib_async import LimitOrder

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.tape import Replayer
from ordertrail.adapters.tape.capture import local_zone_name
from ordertrail.adapters.testing.harness import IbErrorLog, run_with_simulator
from ordertrail.adapters.trail import OrderTrail

from .sessions import Live, check_exactly_once, event_log, quiet_market, record_live


async def every_behaviour(s: Live) -> None:
    sim = s.h.sim
    partial = await s.place(10)
    sim.fill(partial.order.orderId, 4, 150)
    sim.send_order_status(partial.order.orderId, times=3)  # TWS repeats statuses
    sim.send_open_order(partial.order.orderId, times=2)
    late = sim.fill(partial.order.orderId, 6, 149.5, commission_timing="held")

    rejected = await s.place(5)
    sim.reject(rejected.order.orderId, 201, inactive=True)

    race = await s.place(3)
    sim.defer_cancel(race.order.orderId)
    s.ib.cancelOrder(race.order)
    await s.until(lambda: sim.order(race.order.orderId).status == "PendingCancel")
    sim.fill(race.order.orderId, price=150)  # PendingCancel → Filled

    cancelled = await s.place(8)
    s.ib.cancelOrder(cancelled.order)
    await s.until(lambda: cancelled.orderStatus.status == "Cancelled")
    sim.fill(cancelled.order.orderId, 2, 150)  # a late fill after Cancelled
    sim.send_error(cancelled.order.orderId, 10148)

    corrected = await s.place(7)
    exec_id = sim.fill(corrected.order.orderId, 7, 150, commission_timing="late")
    sim.correct_execution(exec_id, price=149.75)
    await s.synced()

    away = await s.place(20)
    sim.disconnect(1)
    await s.until(lambda: not s.ib.isConnected())
    sim.fill(away.order.orderId, 12, 150)  # while we are away: reconciled at reconnect
    sim.release_commission_report(late)
    connects = s.rec.status.connects
    await s.until(lambda: s.rec.status.connects > connects and s.ib.isConnected())
    await asyncio.sleep(0.1)  # reconnect sync: open orders, completed orders, executions


@pytest.mark.parametrize("version", [157, 166, 178])
def test_replay_of_every_behaviour_is_identical(sim_run: Any, tmp_path: Path, version: int) -> None:
    tape = tmp_path / "live.tape.gz"

    async def body(h: Any) -> None:
        rec = await record_live(h, tmp_path / "live", tape, every_behaviour)
        assert rec.status.segments == 2
        assert rec.recorder.stats.problems == []

    sim_run(body, quiet_market(version))
    check_exactly_once(tape, tmp_path / "live")
    live = event_log(tmp_path / "live")
    assert len(live) > 30

    replayer = Replayer(StoreConfig.resolve(tmp_path / "replay"))
    report = replayer.replay(tape)
    assert report.ok, report.as_dict()
    assert (report.replayed, report.already) == (2, 0)
    assert event_log(tmp_path / "replay") == live

    again = replayer.replay(tape)
    assert (again.replayed, again.already, again.events) == (0, 2, 0)
    replayer.close()
    # Batches of three messages (many transactions, orders carried across them): the same log.
    small = Replayer(StoreConfig.resolve(tmp_path / "small-batches"), batch_size=3)
    assert small.replay(tape).ok
    small.close()
    assert event_log(tmp_path / "small-batches") == live
    # Decoding every message again (the checking pass kept nothing), or only part of the tape
    # kept and the rest decoded again: the same log.
    for keep in (0, 300):
        other = Replayer(StoreConfig.resolve(tmp_path / f"keep-{keep}"), keep_fields=keep)
        assert other.replay(tape).ok
        other.close()
        assert event_log(tmp_path / f"keep-{keep}") == live
    # The store the live run wrote already holds both sessions: nothing new either.
    into_live = Replayer(StoreConfig.resolve(tmp_path / "live"))
    assert into_live.replay(tape).events == 0
    into_live.close()
    assert event_log(tmp_path / "live") == live


Step = tuple[str, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "place",
                "fill",
                "fill_rest",
                "cancel",
                "reject",
                "repeat",
                "correct",
                "held",
                "reconnect",
                "modify",
                "cancel_unknown",
                "error",
            ]
        ),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=7,
)


async def random_session(s: Live, plan: list[Step]) -> None:
    sim = s.h.sim
    trades = [await s.place(10)]
    execs: list[str] = []
    held: list[str] = []
    for action, pick in plan:
        t = trades[pick % len(trades)]
        oid = t.order.orderId
        left = sim.order(oid).remaining
        if action == "place" and len(trades) < 4:
            trades.append(await s.place(10))
        elif action == "fill" and left > 1:
            execs.append(sim.fill(oid, 1, 150))
        elif action == "fill_rest" and left > 0:
            execs.append(sim.fill(oid, None, 150))
        elif action == "held" and left > 0:
            held.append(sim.fill(oid, 1, 150, commission_timing="held"))
        elif action == "cancel" and sim.order(oid).is_working:
            s.ib.cancelOrder(t.order)
        elif action == "reject" and sim.order(oid).is_working:
            sim.reject(oid, 201, inactive=pick % 2 == 0)
        elif action == "repeat":
            sim.send_order_status(oid, times=2)
        elif action == "correct" and execs:
            execs.append(sim.correct_execution(execs.pop(pick % len(execs)), price=149))
        elif action == "reconnect":
            for exec_id in held:
                sim.release_commission_report(exec_id)
            held.clear()
            await s.reconnect(1)
        elif action == "modify" and sim.order(oid).is_working:
            t.order.lmtPrice = 150 - (pick + 1) / 100
            s.ib.placeOrder(t.contract, t.order)
        elif action == "cancel_unknown":
            ghost = LimitOrder("BUY", 1, 1.0)
            ghost.orderId = 900_000 + pick
            s.ib.cancelOrder(ghost)
        elif action == "error":
            # IB says the same thing twice about one request: one fact.
            sim.send_error(oid, 404, "Order held while securities are located.")
            sim.send_error(oid, 404, "Order held while securities are located.")
        await asyncio.sleep(0.005)


@settings(max_examples=20, deadline=None)
@given(plan=steps)
def test_random_sessions_replay_identically(plan: list[Step]) -> None:
    errors = IbErrorLog()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tape = root / "s.tape"

        async def body(h: Any) -> None:
            await record_live(h, root / "live", tape, lambda s: random_session(s, plan))

        asyncio.run(run_with_simulator(body, errors, quiet_market()))
        assert not errors.unexpected(), errors.unexpected()
        check_exactly_once(tape, root / "live")
        replayer = Replayer(StoreConfig.resolve(root / "replay"))
        report = replayer.replay(tape)
        assert report.ok, report.as_dict()
        assert event_log(root / "replay") == event_log(root / "live")
        assert replayer.replay(tape).events == 0
        replayer.close()
        small = Replayer(StoreConfig.resolve(root / "small-batches"), batch_size=2)
        assert small.replay(tape).ok
        small.close()
        assert event_log(root / "small-batches") == event_log(root / "live")
        decoded_again = Replayer(StoreConfig.resolve(root / "decoded-again"), keep_fields=0)
        assert decoded_again.replay(tape).ok
        decoded_again.close()
        assert event_log(root / "decoded-again") == event_log(root / "live")


@pytest.mark.parametrize("program_sets_zone", [True, False])
def test_a_tape_from_a_tws_in_another_zone_replays_identically_anywhere(
    sim_run: Any, tmp_path: Path, program_sets_zone: bool
) -> None:
    """TWS sends execution times without a zone; ib_async reads them in IB.TimezoneTWS, else in
    the machine's own zone. A replay on a machine in another zone records the same times."""
    import os
    import subprocess
    import sys

    from ordertrail.adapters.simulator import Scenario
    from ordertrail.adapters.tape.format import Header

    tape = tmp_path / "zurich.tape"

    async def script(s: Live) -> None:
        t = await s.place(10)
        s.h.sim.fill(t.order.orderId, 10, 150)
        await s.until(lambda: t.orderStatus.status == "Filled")

    scenario = Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False, time_zone="Europe/Zurich")
    zone = "Europe/Zurich" if program_sets_zone else ""

    async def body(h: Any) -> None:
        await record_live(h, tmp_path / "live", tape, script, tws_timezone=zone)

    sim_run(body, scenario)
    header = Header.from_json(json.loads(tape.read_text().splitlines()[0]))
    assert header.tws_timezone == (zone or local_zone_name())
    env = {**os.environ, "TZ": "Asia/Tokyo"}
    cmd = [sys.executable, "-c", "from ordertrail.adapters.cli import main; main()"]
    done = subprocess.run(
        [*cmd, "replay", str(tape), "--data", str(tmp_path / "replay")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert event_log(tmp_path / "replay") == event_log(tmp_path / "live")
    live_fills = [
        x.time
        for st in OrderTrail(StoreConfig.resolve(tmp_path / "live")).states().values()
        for x in st.executions.values()
    ]
    assert len(live_fills) == 1
