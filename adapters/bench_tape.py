"""Replay rate of wire tapes, in incoming messages per second (goal: 50,000/s).

The tape comes from a real session: the simulator and the real ib_async client, ``orders``
limit orders each filled in two parts with repeated statuses (about ten incoming messages per
order), captured by ``WireCapture``. Medians over repeats, with a same-process baseline:
``check_tape`` alone, keeping nothing (read, parse and decode every message with ib_async's
Decoder and a stand-in wrapper, converting what the recorder would record), the floor any
replay pays before the recorder and the event store. The replay includes its own checking
pass. Wall-clock and CPU-time (this process) medians, both: on a shared machine the CPU time
is the steadier. ``batch_size`` is the replayer's (messages whose facts are saved in one
transaction).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

MESSAGES_PER_ORDER = 10
# The longest the suite waits for the load of the suites before it to fall (``settle_load``).
SETTLE_S = 90.0


async def _record(tape: Path, orders: int) -> None:
    from ib_async import IB, LimitOrder, Stock

    from ordertrail.adapters.simulator import Scenario, Simulator
    from ordertrail.adapters.tape import TapeFile, WireCapture

    scenario = Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False)
    async with Simulator(scenario) as sim:
        ib = IB()
        capture = WireCapture(ib, TapeFile(tape)).attach()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1)
        ib.client.MaxRequests = 0  # ib_async throttles to 45 requests/s otherwise
        contract = Stock("AAPL", "SMART", "USD", conId=265598)
        trades = [
            ib.placeOrder(contract, LimitOrder("BUY", 10, 150, orderRef=f"b{i}"))
            for i in range(orders)
        ]
        while any(t.orderStatus.status != "Submitted" for t in trades):
            await asyncio.sleep(0.01)
        for t in trades:
            sim.send_order_status(t.order.orderId, times=1)
            sim.fill(t.order.orderId, 4, 150)
            sim.fill(t.order.orderId, 6, 150)
        while any(t.orderStatus.status != "Filled" for t in trades):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        ib.disconnect()
        capture.close()


def run(
    messages: int = 20_000,
    repeats: int = 3,
    batch_size: int | None = None,
    settle: float = SETTLE_S,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tape = Path(tmp) / "bench.tape"
        asyncio.run(_record(tape, max(1, messages // MESSAGES_PER_ORDER)))
        settled = settle_load(settle)
        return {**pairs(tape, repeats, batch_size), **settled}


def settle_load(timeout: float = SETTLE_S) -> dict[str, Any]:
    """Wait, at most ``timeout`` seconds, for the one-minute load average to show a core to
    spare, as a replay's automatic choice of two processes asks (``pipeline.two_processes``):
    right after the other suites of ``ordertrail bench`` (the projections rebuild keeps both
    cores busy) the average still counts their work for a minute. The wait and the average at
    the start are reported beside the figures."""
    cores = os.cpu_count() or 1
    began, before = time.monotonic(), os.getloadavg()[0]
    while os.getloadavg()[0] >= cores - 0.5 and time.monotonic() - began < timeout:
        time.sleep(1)
    return {
        "load_average_before_wait": round(before, 2),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "waited_for_load_s": round(time.monotonic() - began, 1),
    }


def pairs(tape: Path, repeats: int = 3, batch_size: int | None = None) -> dict[str, Any]:
    """``repeats`` pairs on one recorded tape: decode only, then the replay into a fresh store."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.tape import Replayer, check_tape
    from ordertrail.adapters.tape.replay import BATCH_SIZE

    batch_size = batch_size or BATCH_SIZE
    incoming = check_tape(tape).incoming
    baseline: list[tuple[float, float]] = []
    replay: list[tuple[float, float]] = []
    child: list[float] = []
    events = two = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            with _timed(baseline):
                check_tape(tape, keep_fields=0)
            # As ``ordertrail replay`` runs it: on two processes when a core is to spare.
            replayer = Replayer(
                StoreConfig.resolve(Path(tmp) / f"store{i}"), batch_size=batch_size, processes=0
            )
            with _timed(replay, child):
                report = replayer.replay(tape)
            replayer.close()
            events, two = report.events, two + report.pipelined
            assert report.ok, report.as_dict()
    figures = _figures(incoming, events, repeats, batch_size, baseline, replay)
    # The checking process's CPU added to the replay's (a replay on two processes: see
    # docs/adr/0156-replay-pipelined-on-two-processes.md).
    total = [c + k for (_, c), k in zip(replay, child, strict=True)]
    figures["replays_on_two_processes"] = two
    figures["replay_cpu_with_child_s"] = round(statistics.median(total), 3)
    figures["replay_vs_decode_only_cpu_with_child_paired"] = round(
        statistics.median(bc / t for (_, bc), t in zip(baseline, total, strict=True)), 3
    )
    return figures


def _figures(
    incoming: int,
    events: int,
    repeats: int,
    batch_size: int,
    baseline: list[tuple[float, float]],
    replay: list[tuple[float, float]],
) -> dict[str, Any]:
    b, r = (statistics.median(w for w, _ in baseline), statistics.median(w for w, _ in replay))
    b_cpu, r_cpu = (
        statistics.median(c for _, c in baseline),
        statistics.median(c for _, c in replay),
    )
    return {
        "tape_messages": incoming,
        "events_recorded": events,
        "repeats": repeats,
        "batch_size": batch_size,
        "decode_only_messages_per_s": round(incoming / b),
        "replay_messages_per_s": round(incoming / r),
        "replay_events_per_s": round(events / r),
        "replay_vs_decode_only": round(b / r, 3),
        "replay_vs_decode_only_paired": round(
            statistics.median(bw / rw for (bw, _), (rw, _) in zip(baseline, replay, strict=True)),
            3,
        ),
        "decode_only_cpu_s": round(b_cpu, 3),
        "replay_cpu_s": round(r_cpu, 3),
        "replay_vs_decode_only_cpu": round(b_cpu / r_cpu, 3),
        # Each repeat's ratio to the decode-only run just before it, the median of those:
        # the steadier figure when the machine's load changes between repeats.
        "replay_vs_decode_only_cpu_paired": round(
            statistics.median(bc / rc for (_, bc), (_, rc) in zip(baseline, replay, strict=True)),
            3,
        ),
        "goal_messages_per_s": 50_000,
        "goal_replay_vs_decode_only": 0.5,
    }


def once(what: str, tape: Path) -> None:
    """One pass and nothing else, for a tool that counts a whole process's work (valgrind):
    ``decode`` (decode only), ``replay`` (into a fresh store), ``none`` (the imports alone)."""
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.tape import Replayer, check_tape

    if what == "decode":
        check_tape(tape, keep_fields=0)
    elif what == "replay":
        with tempfile.TemporaryDirectory() as tmp:
            replayer = Replayer(StoreConfig.resolve(Path(tmp) / "store"))
            report = replayer.replay(tape)
            replayer.close()
        assert report.ok, report.as_dict()
    elif what != "none":
        raise SystemExit(f"once: decode, replay or none, not {what!r}")


@contextmanager
def _timed(into: list[tuple[float, float]], children: list[float] | None = None) -> Iterator[None]:
    """Wall and this process's CPU seconds into ``into``; the CPU seconds of the child
    processes it waited for meanwhile (the replay's checking process) into ``children``."""
    wall, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
    yield
    into.append((time.perf_counter() - wall, time.process_time() - cpu))
    if children is not None:
        children.append(_children_cpu() - child)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def _live_latencies(orders: int, store: Path) -> list[float]:
    """Seconds each incoming message spends in the recorder, live: from ib_async's decoder
    handing it over to its facts committed in the store (one transaction each)."""
    from ib_async import IB, LimitOrder, Stock

    from ordertrail.adapters.ib.recorder import IbRecorder
    from ordertrail.adapters.simulator import Scenario, Simulator
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.trail import OrderTrail

    took: list[float] = []

    class TimedRecorder(IbRecorder):
        def guarded(self, what: str, handler: Any, *args: Any) -> None:
            t0 = time.perf_counter()
            super().guarded(what, handler, *args)
            took.append(time.perf_counter() - t0)

    scenario = Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False)
    trail = OrderTrail(StoreConfig.resolve(store))
    async with Simulator(scenario) as sim:
        ib = IB()
        TimedRecorder(ib, trail).attach()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1)
        ib.client.MaxRequests = 0
        contract = Stock("AAPL", "SMART", "USD", conId=265598)
        took.clear()  # the start-up sync is not what a live fact costs
        for i in range(orders):
            trade = ib.placeOrder(contract, LimitOrder("BUY", 10, 150, orderRef=f"l{i}"))
            while trade.orderStatus.status != "Submitted":
                await asyncio.sleep(0.001)
            sim.fill(trade.order.orderId, 4, 150)
            sim.fill(trade.order.orderId, 6, 150)
            while trade.orderStatus.status != "Filled":
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.1)
        ib.disconnect()
    trail.close()
    return took


def live_latency(orders: int = 300) -> dict[str, Any]:
    """Live fact latency: p50/p99 of the time one message's facts take to reach the store."""
    with tempfile.TemporaryDirectory() as tmp:
        took = sorted(asyncio.run(_live_latencies(orders, Path(tmp) / "store")))
    q = statistics.quantiles(took, n=100)
    return {
        "orders": orders,
        "messages_timed": len(took),
        "live_fact_latency_p50_ms": round(statistics.median(took) * 1000, 3),
        "live_fact_latency_p99_ms": round(q[98] * 1000, 3),
    }


def _main(args: list[str]) -> None:
    """``python -m ordertrail.adapters.bench_tape`` (the suite), ``… record TAPE [ORDERS]``,
    ``… pairs TAPE [REPEATS]`` (the suite's figures on that tape), ``… once WHAT TAPE``."""
    import json

    match args:
        case []:
            print(json.dumps(run(), indent=2))
        case ["record", tape, *orders]:
            asyncio.run(_record(Path(tape), int(orders[0]) if orders else 2_000))
        case ["pairs", tape, *repeats]:
            print(json.dumps(pairs(Path(tape), int(repeats[0]) if repeats else 5), indent=2))
        case ["once", what, tape]:
            once(what, Path(tape))
        case _:
            raise SystemExit(_main.__doc__)


if __name__ == "__main__":  # pragma: no cover
    import sys

    _main(sys.argv[1:])
