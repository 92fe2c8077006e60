"""What the order commands share: their options, the parsing of numbers and contracts, the
venue they trade at (dry run, or IB through one ``IbSession``) and how a result is reported."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from ordertrail.adapters.cli.common import clear_errors, config, fail, report_unrecorded

if TYPE_CHECKING:
    from ordertrail.adapters.execution import OrderExecutionEngine
    from ordertrail.adapters.ib.session import IbSession
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.domain.risk import RiskPolicy
    from ordertrail.domain.values import ContractRef, ExecutionResult, OrderAction


class Action(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Kind(enum.StrEnum):
    LMT = "LMT"
    MKT = "MKT"
    STP = "STP"


Symbol = Annotated[str, typer.Argument(help="Symbol, e.g. AAPL or ES.")]
ActionOpt = Annotated[Action, typer.Option("--action", help="BUY or SELL.")]
QtyOpt = Annotated[str, typer.Option("--qty", help="Quantity (shares or contracts).")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Record simulated broker facts; never connect to IB.")
]
HostOpt = Annotated[str, typer.Option("--host", help="TWS / IB Gateway / simulator host.")]
PortOpt = Annotated[int, typer.Option("--port", help="Port (7497: TWS paper).")]
# Not 1, which the README's ``record`` uses: TWS refuses a second connection under a client id
# in use (error 326).
DEFAULT_CLIENT_ID = 2
ClientIdOpt = Annotated[
    int,
    typer.Option(
        "--client-id",
        help="API client id (default 2; a running `ordertrail record` needs another).",
        envvar="ORDERTRAIL_CLIENT_ID",
    ),
]
# IB lets only the client that placed an order modify or cancel it.
PlacerClientIdOpt = Annotated[
    int | None,
    typer.Option("--client-id", help="API client id (default: the one that placed the order)."),
]
LiveOpt = Annotated[
    bool,
    typer.Option(
        "--live",
        help="Allow a live account (not DU…) or a live port (7496, 4001).",
        envvar="ORDERTRAIL_LIVE",
    ),
]
ConIdOpt = Annotated[int, typer.Option("--con-id", help="IB contract id (0: by symbol).")]
SecTypeOpt = Annotated[str, typer.Option("--sec-type", help="STK, FUT, OPT, ...")]
ExchangeOpt = Annotated[str, typer.Option("--exchange", help="Exchange.")]
CurrencyOpt = Annotated[str, typer.Option("--currency", help="Currency.")]
ExpiryOpt = Annotated[str | None, typer.Option("--expiry", help="Expiry (YYYYMMDD) of a future.")]
MultiplierOpt = Annotated[str, typer.Option("--multiplier", help="Contract multiplier.")]
AllowMarketOpt = Annotated[
    bool,
    typer.Option("--allow-market-orders", help="Lift the no-market-orders policy (default on)."),
]
MaxQtyOpt = Annotated[str | None, typer.Option("--max-quantity", help="RiskGate: max quantity.")]
MaxNotionalOpt = Annotated[
    str | None, typer.Option("--max-notional", help="RiskGate: max notional per order.")
]
BandOpt = Annotated[
    str | None, typer.Option("--price-band", help="RiskGate: max distance from the reference.")
]


def dec(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        out = Decimal(value)
    except InvalidOperation:
        fail(f"{name}: not a number: {value!r}")
    if not out.is_finite():
        fail(f"{name}: not a finite number: {value!r}")
    return out


def need(value: str, name: str) -> Decimal:
    out = dec(value, name)
    assert out is not None
    return out


def contract_ref(
    symbol: str,
    con_id: int,
    sec_type: str,
    exchange: str,
    currency: str,
    expiry: str | None,
    multiplier: str,
) -> ContractRef:
    from ordertrail.domain.values import ContractRef

    with clear_errors():
        return ContractRef(
            con_id,
            symbol,
            sec_type,
            exchange,
            currency,
            multiplier=need(multiplier, "--multiplier"),
            expiry=expiry,
        )


def risk_policy(
    allow_market: bool, max_qty: str | None, max_notional: str | None, band: str | None
) -> RiskPolicy:
    from dataclasses import replace

    from ordertrail.domain.risk import RiskPolicy

    policy = RiskPolicy(allow_market_orders=allow_market)
    changes: dict[str, Any] = {}
    for field, value, name in (
        ("max_order_quantity", max_qty, "--max-quantity"),
        ("max_order_notional", max_notional, "--max-notional"),
        ("price_band", band, "--price-band"),
    ):
        if value is not None:
            limit = None if value.lower() == "none" else dec(value, name)
            if limit is not None and limit < 0:
                fail(f"{name}: must not be negative: {value!r}")
            changes[field] = limit
    with clear_errors():
        return replace(policy, **changes)


Operation = Callable[["OrderExecutionEngine"], Awaitable["ExecutionResult"]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the command decided, and what its recorder could not record of IB's answers."""

    result: ExecutionResult
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Venue:
    """Where the orders go, and whether a live account may receive them."""

    dry_run: bool
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = DEFAULT_CLIENT_ID
    live: bool = False


async def with_engine(
    data: str | None, store: str | None, venue: Venue, policy: RiskPolicy, op: Operation
) -> Outcome:
    """Run ``op`` on an engine at ``venue``: the dry run, or IB through one ``IbSession`` (the
    recorder attached, IB's positions as the RiskGate's figure)."""
    from ordertrail.adapters.execution import DryRunGateway, OrderExecutionEngine
    from ordertrail.adapters.ib.session import IbSession
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.domain.ports import BrokerUnavailable
    from ordertrail.domain.values import ExecutionResult

    trail = OrderTrail(config(data, store))
    if venue.dry_run:
        return Outcome(await op(OrderExecutionEngine(trail, DryRunGateway(trail), policy=policy)))
    session = IbSession(trail)
    with quiet_ib_async():
        try:
            await session.connect(venue.host, venue.port, venue.client_id, live=venue.live)
        except BrokerUnavailable as e:
            session.close()
            return Outcome(ExecutionResult.failed(str(e)))
        return await _trade(trail, session, policy, op)


@contextmanager
def quiet_ib_async() -> Iterator[None]:
    """ib_async logs IB's answers (202 for a cancel, 201, 326) at ERROR level; the recorder
    records them and the result names the one that matters, on one line."""
    logger = logging.getLogger("ib_async")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _trade(
    trail: OrderTrail, session: IbSession, policy: RiskPolicy, op: Operation
) -> Outcome:
    from ordertrail.adapters.execution import OrderExecutionEngine

    try:
        engine = OrderExecutionEngine(
            trail,
            session.gateway,
            policy=policy,
            positions=session.position,
        )
        result = await op(engine)
        await session.settle()
        stats = session.recorder.stats
        return Outcome(result, tuple(stats.problems), tuple(stats.warnings))
    finally:
        session.close()


def report(outcome: Outcome, extra: dict[str, Any] | None = None) -> None:
    result = outcome.result
    row: dict[str, Any] = {
        "success": result.success,
        "action": result.action.value,
        "order_ids": list(result.order_ids),
        "error": result.error,
        **(extra or {}),
    }
    typer.echo(orjson.dumps(row, default=str).decode())
    # The order went to IB either way; what IB answered and could not be recorded is reported
    # as ``record`` reports it, and fails the command (the store no longer says what IB did).
    unrecorded = report_unrecorded(outcome.problems, outcome.warnings)
    if not result.success:
        fail(result.error or result.action.value)
    if unrecorded:
        raise typer.Exit(1)


def run(coro: Awaitable[Outcome]) -> Outcome:
    async def main() -> Outcome:
        return await coro

    with clear_errors():  # the store cannot be opened (a file as --data, a closed port)
        return asyncio.run(main())


def to_action(a: Action) -> OrderAction:
    from ordertrail.domain.values import OrderAction

    return OrderAction(a.value)
