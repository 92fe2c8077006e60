"""OrderManager: volume-aware routing and the two running strategies,
limit-with-patience and TWAP, on top of the engine (so every order and every modification
passes the RiskGate).

Time is injected: ``clock()`` gives seconds on any monotonic scale and ``sleep(seconds)`` waits
(``asyncio.sleep`` by default, which also lets ib_async deliver IB's messages). Tests pass a
fast clock whose sleep advances virtual time. Randomness (TWAP's jitter) is injected too.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from ordertrail.adapters.execution.engine import OrderExecutionEngine
from ordertrail.domain.planning import (
    Quote,
    Route,
    choose_route,
    patience_schedule,
    twap_schedule,
)
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ActionTaken,
    ContractRef,
    ExecutionResult,
    OrderAction,
    OrderSpec,
    OrderType,
)

ZERO = Decimal(0)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """What the strategy decides on: the mid, the average daily volume, a quote if known."""

    mid: Decimal
    adv: Decimal
    quote: Quote | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running strategy stands, for a trader watching it."""

    strategy: Route
    step: int  # slices sent (TWAP) or price steps taken (patience)
    steps: int
    quantity: Decimal
    filled: Decimal
    working: int  # orders still working
    next_in: float | None  # seconds until the next slice or step; None: none left
    stopping: bool = False


ProgressListener = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class StrategyReport:
    result: ExecutionResult
    route: Route
    quantity: Decimal
    filled: Decimal
    avg_price: Decimal | None
    group_id: str
    # What the strategy did, in order ("placed 100 @ 150.00", "modified to 150.15", ...).
    log: tuple[str, ...] = field(default_factory=tuple)
    # Set when the strategy was told to stop (Ctrl-C, SIGTERM) before its end.
    stopped: bool = False


class OrderManager:
    def __init__(
        self,
        engine: OrderExecutionEngine,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
        poll_interval: float = 0.25,
        patience_window: timedelta = timedelta(seconds=30),
        twap_slices: int = 5,
        twap_duration: timedelta = timedelta(minutes=10),
        participation_threshold: Decimal = Decimal("0.01"),
        stop: asyncio.Event | None = None,
        progress: ProgressListener | None = None,
        cancel_wait: float = 5.0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.sleep = sleep
        self.uniform = uniform
        self.poll_interval = poll_interval
        self.patience_window = patience_window
        self.twap_slices = twap_slices
        self.twap_duration = twap_duration
        self.participation_threshold = participation_threshold
        # Set from outside (a signal handler): the strategy sends nothing more, cancels what it
        # has working, waits up to ``cancel_wait`` seconds for IB to confirm, and reports.
        self.stop = stop if stop is not None else asyncio.Event()
        self.progress = progress
        self.cancel_wait = cancel_wait

    # ---- routing ------------------------------------------------------------------------------

    async def execute(
        self,
        contract: ContractRef,
        action: OrderAction,
        quantity: Decimal,
        market: MarketSnapshot,
        *,
        twap_limit: Decimal | None = None,
    ) -> StrategyReport:
        """Route by participation = quantity / max(ADV, 1): below the threshold (1 %)
        limit-with-patience at the mid, else TWAP with limit slices (``twap_limit``, by
        default the mid moved by the patience schedule's spread estimate toward the market)."""
        decision = choose_route(quantity, market.adv, self.participation_threshold)
        if decision.route is Route.LIMIT_WITH_PATIENCE:
            return await self.limit_with_patience(
                contract, action, quantity, mid=market.mid, quote=market.quote
            )
        if twap_limit is None:
            plan = patience_schedule(
                action,
                mid=market.mid,
                window=self.patience_window,
                quote=market.quote,
                tick=self.engine.settings.tick,
            )
            twap_limit = plan.steps[2].limit_price  # "cross the spread"
        return await self.twap(
            contract, action, quantity, limit_price=twap_limit, reference_price=market.mid
        )

    # ---- waiting ------------------------------------------------------------------------------

    def _states(self, coids: Sequence[str]) -> list[OrderState]:
        return [self.engine.state(c) for c in coids]

    async def _wait(
        self, until: float, coids: Sequence[str], tell: Callable[[float], None] | None = None
    ) -> bool:
        """Wait until ``until`` on the injected clock; True early once every order is done or
        the strategy is told to stop."""
        while True:
            if self.stop.is_set():
                return True
            if coids and all(s.status.is_done for s in self._states(coids)):
                return True
            now = self.clock()
            if now >= until:
                return False
            if tell is not None:
                tell(until - now)
            await self.sleep(min(self.poll_interval, until - now))

    def _tell(
        self, route: Route, step: int, steps: int, quantity: Decimal, coids: Sequence[str]
    ) -> Callable[[float | None], None]:
        def tell(next_in: float | None) -> None:
            if self.progress is None:
                return
            states = self._states(coids)
            self.progress(
                Progress(
                    route,
                    step,
                    steps,
                    quantity,
                    sum((s.filled for s in states), ZERO),
                    sum(1 for s in states if s.status.is_working),
                    next_in,
                    self.stop.is_set(),
                )
            )

        return tell

    def _summary(
        self,
        route: Route,
        quantity: Decimal,
        coids: Sequence[str],
        group: str,
        log: list[str],
        failure: str | None = None,
    ) -> StrategyReport:
        states = self._states(coids)
        filled = sum((s.filled for s in states), ZERO)
        notional = sum((s.notional for s in states), ZERO)
        avg = notional / filled if filled else None
        ids = tuple(coids)
        stopped = self.stop.is_set()
        if stopped and filled < quantity:
            failure = "stopped before the end" + (f"; {failure}" if failure else "")
        if filled >= quantity and failure is None:
            result = ExecutionResult(True, self.engine.done_action(ActionTaken.PLACED), ids)
        elif filled > 0:
            text = f"filled {filled} of {quantity}" + (f"; {failure}" if failure else "")
            result = ExecutionResult(False, ActionTaken.PARTIAL, ids, text)
        else:
            result = ExecutionResult.failed(failure or f"nothing filled of {quantity}", ids)
        return StrategyReport(
            result, route, quantity, filled, avg, group, tuple(log), stopped=stopped
        )

    async def _cancel_rest(self, coids: Sequence[str], log: list[str]) -> None:
        cancelled = []
        for coid in coids:
            state = self.engine.state(coid)
            if state.status.is_working and state.status is not OrderStatus.PENDING_CANCEL:
                r = await self.engine.cancel_order(coid)
                log.append(
                    f"cancelled {coid} with {state.remaining} left"
                    if r.success
                    else f"cancel of {coid} failed: {r.error}"
                )
                cancelled.append(coid)
        # IB confirms a cancel with the Cancelled status (PendingCancel first, and a fill may
        # still win the race): the summary is only true once it has answered.
        deadline = time.monotonic() + self.cancel_wait
        while cancelled and time.monotonic() < deadline:
            if all(s.status.is_done for s in self._states(cancelled)):
                return
            await asyncio.sleep(min(self.poll_interval, 0.05))
        for s in self._states(cancelled):
            if not s.status.is_done:
                log.append(f"{s.client_order_id}: IB has not confirmed the cancel ({s.status})")

    # ---- limit with patience -----------------------------------------------------------------

    async def limit_with_patience(
        self,
        contract: ContractRef,
        action: OrderAction,
        quantity: Decimal,
        *,
        mid: Decimal,
        quote: Quote | None = None,
        window: timedelta | None = None,
    ) -> StrategyReport:
        """A limit at the mid, escalated on the patience schedule; each step is a modify of the
        same order (recorded, and through the RiskGate). Stops when filled; what is left at
        the end is cancelled."""
        plan = patience_schedule(
            action,
            mid=mid,
            window=window or self.patience_window,
            quote=quote,
            tick=self.engine.settings.tick,
        )
        group = self.engine.new_group_id("patience")
        log: list[str] = []
        start = self.clock()
        first = plan.steps[0]
        spec = OrderSpec(
            action, quantity, OrderType.LIMIT, limit_price=first.limit_price, reference_price=mid
        )
        placed = await self.engine.place_order(contract, spec, group_id=group)
        if not placed.success:
            return StrategyReport(
                placed,
                Route.LIMIT_WITH_PATIENCE,
                quantity,
                ZERO,
                None,
                group,
                (f"place refused: {placed.error}",),
            )
        coid = placed.order_ids[0]
        log.append(f"placed {quantity} @ {first.limit_price} ({first.reason})")
        failure = None
        for n, step in enumerate(plan.steps[1:], start=1):
            tell = self._tell(Route.LIMIT_WITH_PATIENCE, n, len(plan.steps), quantity, [coid])
            if await self._wait(start + step.at.total_seconds(), [coid], tell):
                break
            spec = spec.with_changes(limit_price=step.limit_price)
            changed = await self.engine.modify_order(coid, spec)
            if not changed.success:
                # Refused (e.g. the price band) or the order ended meanwhile: stop escalating,
                # keep the order on its last terms until the end.
                failure = f"escalation to {step.limit_price} failed: {changed.error}"
                log.append(failure)
                break
            log.append(f"modified to {step.limit_price} ({step.reason})")
        steps = len(plan.steps)
        tell = self._tell(Route.LIMIT_WITH_PATIENCE, steps, steps, quantity, [coid])
        await self._wait(start + plan.ends_at.total_seconds(), [coid], tell)
        await self._cancel_rest([coid], log)
        tell(None)
        return self._summary(
            Route.LIMIT_WITH_PATIENCE,
            quantity,
            [coid],
            group,
            log,
            None if self.engine.state(coid).remaining == 0 else failure,
        )

    # ---- TWAP ------------------------------------------------------------------------------------

    async def twap(
        self,
        contract: ContractRef,
        action: OrderAction,
        quantity: Decimal,
        *,
        limit_price: Decimal,
        reference_price: Decimal | None = None,
        slices: int | None = None,
        duration: timedelta | None = None,
    ) -> StrategyReport:
        """``slices`` limit orders spread over ``duration`` (jittered ±20 %), each through the
        RiskGate; slices still working at the end are cancelled; fills are aggregated."""
        total = duration if duration is not None else self.twap_duration
        n = self.twap_slices if slices is None else slices  # 0 is refused, not the default
        schedule = twap_schedule(quantity, n, total, self.uniform)
        group = self.engine.new_group_id("twap")
        log: list[str] = []
        coids: list[str] = []
        failures: list[str] = []
        start = self.clock()
        for i, piece in enumerate(schedule):
            tell = self._tell(Route.TWAP, i, len(schedule), quantity, coids)
            await self._wait(start + piece.at.total_seconds(), [], tell)
            if self.stop.is_set():
                log.append(f"stopped before slice {i + 1}/{len(schedule)}")
                break
            spec = OrderSpec(
                action,
                piece.quantity,
                OrderType.LIMIT,
                limit_price=limit_price,
                reference_price=reference_price,
            )
            r = await self.engine.place_order(contract, spec, group_id=group)
            coids += r.order_ids
            if r.success:
                log.append(f"slice {i + 1}/{len(schedule)}: {piece.quantity} @ {limit_price}")
            else:
                failures.append(f"slice {i + 1}: {r.error}")
                log.append(failures[-1])
                if "kill_switch" in (r.error or ""):
                    break
        end = max(start + total.total_seconds(), self.clock())
        sent = sum(1 for line in log if line.startswith("slice "))
        tell = self._tell(Route.TWAP, sent, len(schedule), quantity, coids)
        await self._wait(end, coids, tell)
        await self._cancel_rest(coids, log)
        tell(None)
        return self._summary(Route.TWAP, quantity, coids, group, log, "; ".join(failures) or None)
