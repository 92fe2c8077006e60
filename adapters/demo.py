"""``ordertrail demo``: a scripted session against the built-in simulator, recorded for real.

No IB account and no set-up: the simulator runs in-process on a free loopback port, the real
ib_async client connects to it through an ``IbSession``, and every order takes the one path a
trader's orders take: the execution engine, the RiskGate, the IB gateway. The recorder writes
what "IB" answered into the event store. The script covers what an IB trader meets in a day:
a limit order that fills in parts, a bracket whose take-profit fills and whose stop-loss the
OCA group cancels, a cancel that races a fill, a margin rejection, and a market order the
RiskGate refuses before IB ever sees it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.execution import OrderExecutionEngine
from ordertrail.adapters.ib.session import IbSession
from ordertrail.adapters.simulator import Scenario, SimOrder, Simulator
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.identity import order_uuid
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ContractRef,
    ExecutionResult,
    OrderAction,
    OrderSpec,
    OrderType,
)

AAPL = ContractRef(265598, "AAPL", exchange="SMART", currency="USD")
MSFT = ContractRef(272093, "MSFT", exchange="SMART", currency="USD")


@dataclass
class DemoResult:
    orders: list[tuple[str, UUID]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the simulator did not answer in time")
        await asyncio.sleep(0.01)


class _Script:
    """The demo's five steps, each a scene an IB trader meets in a day."""

    def __init__(
        self,
        trail: OrderTrail,
        sim: Simulator,
        engine: OrderExecutionEngine,
        run: str,
        result: DemoResult,
    ) -> None:
        self.trail, self.sim, self.engine, self.run, self.result = trail, sim, engine, run, result

    def sent(self, r: ExecutionResult) -> list[UUID]:
        if not r.success:
            raise RuntimeError(f"the demo's order was not sent: {r.error}")
        return [order_uuid(client_order_id=c) for c in r.order_ids]

    def status_is(self, oid: UUID, *statuses: OrderStatus) -> Callable[[], bool]:
        return lambda: self.trail.get(oid).state.status in statuses

    def sim_order(self, oid: UUID) -> SimOrder:
        return self.sim.order_by_ref(self.trail.get(oid).state.client_order_id or "")

    # 1. A limit order that fills in parts.
    async def partial_fills(self) -> None:
        spec = OrderSpec(
            OrderAction.BUY,
            Decimal(100),
            OrderType.LIMIT,
            limit_price=Decimal("150.00"),
            reference_price=Decimal("149.98"),
        )
        (oid,) = self.sent(await self.engine.place_order(AAPL, spec))
        self.result.orders.append(("limit order filled in parts", oid))
        await _until(self.status_is(oid, OrderStatus.SUBMITTED))
        for qty, px in ((30, "149.95"), (30, "149.98"), (40, "150.00")):
            self.sim.fill(self.sim_order(oid), qty, Decimal(px))
        await _until(lambda: len(self.trail.get(oid).state.commissions) == 3)

    # 2. A bracket: parent fills, take-profit fills, the OCA group cancels the stop.
    async def bracket(self) -> None:
        b = BracketOrder.build(
            action=OrderAction.BUY,
            quantity=Decimal(50),
            entry_price=Decimal("410.00"),
            take_profit_price=Decimal("415.00"),
            stop_loss_price=Decimal("405.00"),
            oca_group=f"OT-demo{self.run}-oca",
        )
        parent, take, stop = self.sent(await self.engine.place_bracket_order(MSFT, b))
        self.result.orders += [
            ("bracket parent", parent),
            ("bracket take-profit", take),
            ("bracket stop-loss", stop),
        ]
        await _until(self.status_is(stop, OrderStatus.PRE_SUBMITTED, OrderStatus.SUBMITTED))
        self.sim.fill(self.sim_order(parent))
        await _until(self.status_is(parent, OrderStatus.FILLED))
        self.sim.set_price("MSFT", Decimal("415.00"))
        self.sim.fill(self.sim_order(take), price=Decimal("415.00"))
        await _until(self.status_is(stop, OrderStatus.CANCELLED))

    # 3. A cancel that races a fill: PendingCancel, then Filled.
    async def cancel_race(self) -> None:
        spec = OrderSpec(
            OrderAction.SELL, Decimal(20), OrderType.LIMIT, limit_price=Decimal("151.00")
        )
        (oid,) = self.sent(await self.engine.place_order(AAPL, spec))
        self.result.orders.append(("cancel that raced a fill", oid))
        await _until(self.status_is(oid, OrderStatus.SUBMITTED))
        self.sim.defer_cancel(self.sim_order(oid))
        await self.engine.cancel_order(oid)
        await _until(self.status_is(oid, OrderStatus.PENDING_CANCEL))
        self.sim.fill(self.sim_order(oid), price=Decimal("151.00"))
        await _until(self.status_is(oid, OrderStatus.FILLED))

    # 4. A margin rejection: IB refuses the order at submission — error 201 and no
    # acknowledgement — then reports it Inactive.
    async def rejection(self) -> None:
        spec = OrderSpec(
            OrderAction.BUY, Decimal(6000), OrderType.LIMIT, limit_price=Decimal("150.00")
        )
        self.sim.reject_next(
            201,
            "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE "
            "DESIRED POSITION YOUR EQUITY WITH LOAN VALUE [9912.55 USD] MUST EXCEED THE "
            "INITIAL MARGIN [3750000.00 USD]",
            inactive=True,
        )
        r = await self.engine.place_order(AAPL, spec)
        oid = order_uuid(client_order_id=r.order_ids[0])
        self.result.orders.append(("margin rejection", oid))
        await _until(self.status_is(oid, OrderStatus.INACTIVE))

    # 5. A market order: refused by the RiskGate's default policy, recorded as RiskDenied.
    async def refused(self) -> None:
        spec = OrderSpec(OrderAction.SELL, Decimal(100), OrderType.MARKET)
        r = await self.engine.place_order(AAPL, spec)
        if r.success:
            raise RuntimeError("the RiskGate let a market order through")
        self.result.orders.append(
            ("refused by the RiskGate", order_uuid(client_order_id=r.order_ids[0]))
        )


_STEPS: tuple[tuple[str, Callable[[_Script], Awaitable[None]]], ...] = (
    ("1/5 limit order filled in parts (30, 30, 40)", _Script.partial_fills),
    ("2/5 bracket: take-profit fills, OCA cancels the stop", _Script.bracket),
    ("3/5 cancel racing a fill", _Script.cancel_race),
    ("4/5 margin rejection (error 201, then Inactive)", _Script.rejection),
    ("5/5 market order refused by the RiskGate (never sent)", _Script.refused),
)


async def run_demo_async(trail: OrderTrail, say: Callable[[str], None]) -> DemoResult:
    scenario = Scenario(
        prices={"AAPL": Decimal("150.00"), "MSFT": Decimal("410.00")}, auto_fill=False
    )
    result = DemoResult()
    # Client order ids must be unique across runs sharing one store.
    run = uuid.uuid4().hex[:8]
    counter = iter(range(1, 1000))
    async with Simulator(scenario) as sim:
        session = await IbSession(trail).connect("127.0.0.1", sim.port, client_id=1)
        engine = OrderExecutionEngine(
            trail, session.gateway, new_token=lambda: f"demo{run}-{next(counter)}"
        )
        script = _Script(trail, sim, engine, run, result)
        for title, step in _STEPS:
            say(title)
            await step(script)
        await session.settle(0.1)
        session.close()
        result.stats = session.recorder.stats.as_dict()
    return result


def run_demo(trail: OrderTrail, say: Callable[[str], None]) -> DemoResult:
    import logging

    # ib_async logs IB's errors 201/202 at ERROR level; in the demo they are the point. The
    # level is put back afterwards: a program (or a test run) that calls the demo keeps its own.
    logger = logging.getLogger("ib_async")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(run_demo_async(trail, say))
    finally:
        logger.setLevel(level)
