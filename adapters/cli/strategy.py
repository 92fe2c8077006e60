"""``ordertrail twap`` and ``ordertrail patience``: long-running strategies a trader can watch
and stop.

On a terminal a status line shows the slice (or step), what has filled and when the next
slice (or step) goes;
in a pipe nothing but the final JSON line is printed. Ctrl-C or SIGTERM stops the strategy: it
sends no more slices, cancels what it has working, waits for IB to confirm the cancels and
prints a summary — slices left working on an unattended exit are the risk it prevents.
"""

from __future__ import annotations

import asyncio
import math
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ordertrail.adapters.cli.common import DataOpt, StoreOpt, err_console, fail, show_progress
from ordertrail.adapters.cli.trading import (
    DEFAULT_CLIENT_ID,
    ActionOpt,
    BandOpt,
    ClientIdOpt,
    ConIdOpt,
    CurrencyOpt,
    DryRunOpt,
    ExchangeOpt,
    ExpiryOpt,
    HostOpt,
    LiveOpt,
    MaxNotionalOpt,
    MaxQtyOpt,
    MultiplierOpt,
    PortOpt,
    QtyOpt,
    SecTypeOpt,
    Symbol,
    Venue,
    contract_ref,
    dec,
    need,
    report,
    risk_policy,
    run,
    to_action,
    with_engine,
)

if TYPE_CHECKING:
    from rich.status import Status

    from ordertrail.adapters.execution import (
        OrderExecutionEngine,
        OrderManager,
        Progress,
        StrategyReport,
    )
    from ordertrail.domain.risk import RiskPolicy
    from ordertrail.domain.values import ExecutionResult


def progress_line(p: Progress) -> str:
    unit = "slice" if p.strategy.value == "twap" else "step"
    head = "stopping: cancelling what is working" if p.stopping else f"{unit} {p.step} of {p.steps}"
    nxt = "" if p.next_in is None or p.stopping else f" · next in {p.next_in:.0f} s"
    return f"{head} · filled {p.filled} of {p.quantity} · {p.working} working{nxt}"


def summary_line(r: StrategyReport) -> str:
    avg = f" at {r.avg_price:.4f}" if r.avg_price is not None else ""
    how = "stopped" if r.stopped else "done"
    cancels = sum(1 for line in r.log if line.startswith("cancelled "))
    return (
        f"{how}: filled {r.filled} of {r.quantity}{avg} ({r.group_id}); "
        f"{cancels} working order(s) cancelled"
    )


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


Start = Callable[["OrderManager"], Awaitable["StrategyReport"]]


def run_strategy(
    data: str | None, store: str | None, venue: Venue, policy: RiskPolicy, start: Start
) -> None:
    """Run a strategy with a status line on a terminal and Ctrl-C / SIGTERM as its stop;
    print the summary, then the result as one JSON line."""
    from ordertrail.adapters.execution import OrderManager
    from ordertrail.domain.errors import InvalidOrderSpec

    summary: dict[str, Any] = {}
    status: Status | None = None
    if show_progress():
        status = Console(stderr=True, force_terminal=True).status("connecting…")

    def shown(p: Progress) -> None:
        if status is not None:
            status.update(progress_line(p))

    async def op(engine: OrderExecutionEngine) -> ExecutionResult:
        from ordertrail.domain.values import ExecutionResult

        stop = asyncio.Event()
        try:
            with stop_on_signals(stop):
                r = await start(OrderManager(engine, stop=stop, progress=shown))
        except InvalidOrderSpec as e:
            return ExecutionResult.failed(str(e))
        summary.update(
            filled=str(r.filled), avg_price=r.avg_price, group_id=r.group_id, stopped=r.stopped
        )
        summary["summary"] = summary_line(r)
        return r.result

    if status is not None:
        status.start()
    try:
        result = run(with_engine(data, store, venue, policy, op))
    finally:
        if status is not None:
            status.stop()
    if "summary" in summary:
        err_console.print(summary.pop("summary"), highlight=False, soft_wrap=True)
    report(result, summary)


def twap(
    symbol: Symbol,
    action: ActionOpt,
    qty: QtyOpt,
    limit: Annotated[str, typer.Option("--limit", help="Limit price of every slice.")],
    slices: Annotated[int, typer.Option("--slices", help="Number of slices.")] = 5,
    duration: Annotated[float, typer.Option("--duration", help="Seconds over all slices.")] = 600,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference price (mid): price band.")
    ] = None,
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: ClientIdOpt = DEFAULT_CLIENT_ID,
    live: LiveOpt = False,
    con_id: ConIdOpt = 0,
    sec_type: SecTypeOpt = "STK",
    exchange: ExchangeOpt = "SMART",
    currency: CurrencyOpt = "USD",
    expiry: ExpiryOpt = None,
    multiplier: MultiplierOpt = "1",
    max_quantity: MaxQtyOpt = None,
    max_notional: MaxNotionalOpt = None,
    price_band: BandOpt = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """TWAP: limit slices over a duration (jittered ±20 %), unfilled slices cancelled at the
    end, fills aggregated. Ctrl-C / SIGTERM cancels what is working and prints a summary."""
    contract = contract_ref(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    policy = risk_policy(False, max_quantity, max_notional, price_band)
    quantity, limit_price = need(qty, "--qty"), need(limit, "--limit")
    reference_price = dec(reference, "--reference")
    if not math.isfinite(duration) or duration < 0:
        fail(f"--duration: must be a finite number of seconds >= 0, not {duration}")

    def start(manager: OrderManager) -> Awaitable[StrategyReport]:
        return manager.twap(
            contract,
            to_action(action),
            quantity,
            limit_price=limit_price,
            reference_price=reference_price,
            slices=slices,
            duration=timedelta(seconds=duration),
        )

    run_strategy(data, store, Venue(dry_run, host, port, client_id, live), policy, start)


def patience(
    symbol: Symbol,
    action: ActionOpt,
    qty: QtyOpt,
    mid: Annotated[str, typer.Option("--mid", help="The mid: the first limit, and the reference.")],
    window: Annotated[
        float, typer.Option("--window", help="Seconds of patience before the first step.")
    ] = 30,
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: ClientIdOpt = DEFAULT_CLIENT_ID,
    live: LiveOpt = False,
    con_id: ConIdOpt = 0,
    sec_type: SecTypeOpt = "STK",
    exchange: ExchangeOpt = "SMART",
    currency: CurrencyOpt = "USD",
    expiry: ExpiryOpt = None,
    multiplier: MultiplierOpt = "1",
    max_quantity: MaxQtyOpt = None,
    max_notional: MaxNotionalOpt = None,
    price_band: BandOpt = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Limit with patience: a limit at the mid, stepped toward the market on a schedule, the
    rest cancelled at the end. Ctrl-C / SIGTERM cancels it and prints a summary."""
    contract = contract_ref(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    policy = risk_policy(False, max_quantity, max_notional, price_band)
    quantity, mid_price = need(qty, "--qty"), need(mid, "--mid")
    if not math.isfinite(window) or window <= 0:
        fail(f"--window: must be a finite number of seconds > 0, not {window}")

    def start(manager: OrderManager) -> Awaitable[StrategyReport]:
        return manager.limit_with_patience(
            contract,
            to_action(action),
            quantity,
            mid=mid_price,
            window=timedelta(seconds=window),
        )

    run_strategy(data, store, Venue(dry_run, host, port, client_id, live), policy, start)
