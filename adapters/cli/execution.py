"""Order entry from the command line: ``place``, ``cancel``, ``bracket``, ``close``, ``twap``.

Every order goes through the execution engine, so through the RiskGate, and is recorded in the
event store (``--data``/``--store``). ``--dry-run`` records simulated broker facts under
``DRY_OT-…`` ids and never connects; otherwise ``--host/--port/--client-id`` reach TWS, IB
Gateway (a paper account) or ``ordertrail simulate``. A refusal, a rejection or a lost
connection prints the reason on stderr and exits with code 1.
"""

from __future__ import annotations

import asyncio
import enum
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from ordertrail.adapters.cli.common import (
    DataOpt,
    StoreOpt,
    clear_errors,
    config,
    fail,
    report_unrecorded,
)

if TYPE_CHECKING:
    from ordertrail.adapters.execution import OrderExecutionEngine
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
ClientIdOpt = Annotated[int, typer.Option("--client-id", help="API client id.")]
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


def _dec(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        out = Decimal(value)
    except InvalidOperation:
        fail(f"{name}: not a number: {value!r}")
    if not out.is_finite():
        fail(f"{name}: not a finite number: {value!r}")
    return out


def _need(value: str, name: str) -> Decimal:
    out = _dec(value, name)
    assert out is not None
    return out


def _contract(
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
            multiplier=_need(multiplier, "--multiplier"),
            expiry=expiry,
        )


def _policy(
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
            limit = None if value.lower() == "none" else _dec(value, name)
            if limit is not None and limit < 0:
                fail(f"{name}: must not be negative: {value!r}")
            changes[field] = limit
    with clear_errors():
        return replace(policy, **changes)


Operation = Callable[["OrderExecutionEngine"], Awaitable["ExecutionResult"]]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the command decided, and what its recorder could not record of IB's answers."""

    result: ExecutionResult
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


async def _with_engine(
    data: str | None,
    store: str | None,
    dry_run: bool,
    host: str,
    port: int,
    client_id: int,
    policy: RiskPolicy,
    op: Operation,
) -> _Outcome:
    from ordertrail.adapters.execution import DryRunGateway, IbGateway, OrderExecutionEngine
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.domain.values import ExecutionResult

    trail = OrderTrail(config(data, store))
    if dry_run:
        return _Outcome(await op(OrderExecutionEngine(trail, DryRunGateway(trail), policy=policy)))
    from ib_async import IB

    from ordertrail.adapters.ib.broker import IbBroker
    from ordertrail.adapters.ib.recorder import IbRecorder

    ib = IB()
    recorder = IbRecorder(ib, trail).attach()
    try:
        await ib.connectAsync(host, port, clientId=client_id, timeout=10)
    except (OSError, TimeoutError) as e:
        failed = ExecutionResult.failed(f"cannot connect to {host}:{port}: {e or type(e).__name__}")
        return _Outcome(failed)
    try:
        token = lambda: uuid.uuid4().hex[:16]  # noqa: E731
        gateway = IbGateway(IbBroker(ib, trail, token))
        result = await op(OrderExecutionEngine(trail, gateway, policy=policy, new_token=token))
        await asyncio.sleep(0.2)  # let IB's last answers be recorded before disconnecting
        stats = recorder.stats
        return _Outcome(result, tuple(stats.problems), tuple(stats.warnings))
    finally:
        recorder.detach()
        ib.disconnect()


def _report(outcome: _Outcome, extra: dict[str, Any] | None = None) -> None:
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


def _run(coro: Awaitable[_Outcome]) -> _Outcome:
    async def main() -> _Outcome:
        return await coro

    with clear_errors():  # the store cannot be opened (a file as --data, a closed port)
        return asyncio.run(main())


def _action(a: Action) -> OrderAction:
    from ordertrail.domain.values import OrderAction

    return OrderAction(a.value)


def place(
    symbol: Symbol,
    action: ActionOpt,
    qty: QtyOpt,
    kind: Annotated[Kind, typer.Option("--type", help="LMT, MKT or STP.")] = Kind.LMT,
    limit: Annotated[str | None, typer.Option("--limit", help="Limit price.")] = None,
    stop: Annotated[str | None, typer.Option("--stop", help="Stop price.")] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference price (mid/last): price band.")
    ] = None,
    account: Annotated[str, typer.Option("--account", help="Account.")] = "",
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: ClientIdOpt = 1,
    con_id: ConIdOpt = 0,
    sec_type: SecTypeOpt = "STK",
    exchange: ExchangeOpt = "SMART",
    currency: CurrencyOpt = "USD",
    expiry: ExpiryOpt = None,
    multiplier: MultiplierOpt = "1",
    allow_market_orders: AllowMarketOpt = False,
    max_quantity: MaxQtyOpt = None,
    max_notional: MaxNotionalOpt = None,
    price_band: BandOpt = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Place one order (through the RiskGate)."""
    from ordertrail.domain.errors import InvalidOrderSpec
    from ordertrail.domain.values import OrderSpec, OrderType

    contract = _contract(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    try:
        spec = OrderSpec(
            _action(action),
            _need(qty, "--qty"),
            OrderType(kind.value),
            limit_price=_dec(limit, "--limit"),
            stop_price=_dec(stop, "--stop"),
            reference_price=_dec(reference, "--reference"),
            account=account,
        )
    except InvalidOrderSpec as e:
        fail(str(e))
    policy = _policy(allow_market_orders, max_quantity, max_notional, price_band)
    _report(
        _run(
            _with_engine(
                data,
                store,
                dry_run,
                host,
                port,
                client_id,
                policy,
                lambda e: e.place_order(contract, spec),
            )
        )
    )


def _known_order(order_id: str, data: str | None, store: str | None) -> None:
    """Refuse an id the store has never seen before connecting to IB for it."""
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.domain.identity import order_uuid

    with clear_errors():
        trail = OrderTrail(config(data, store))
        try:
            if not trail.exists(order_uuid(client_order_id=order_id)):
                fail(f"no order {order_id} in {trail.config.describe()}")
        finally:
            trail.close()


def cancel(
    order_id: Annotated[str, typer.Argument(help="Client order id (OT-… or DRY_OT-…).")],
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: ClientIdOpt = 1,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Cancel an order ordertrail placed (a DRY_ id is cancelled in the dry run)."""
    from ordertrail.domain.identity import is_client_order_id, is_dry_run_id
    from ordertrail.domain.risk import RiskPolicy

    if not is_client_order_id(order_id):
        fail(f"not an ordertrail client order id: {order_id!r}")
    if dry_run and not is_dry_run_id(order_id):
        fail(f"{order_id} is a live order: --dry-run cannot cancel it")
    dry = is_dry_run_id(order_id)
    _known_order(order_id, data, store)
    _report(
        _run(
            _with_engine(
                data,
                store,
                dry,
                host,
                port,
                client_id,
                RiskPolicy(),
                lambda e: e.cancel_order(order_id),
            )
        )
    )


def bracket(
    symbol: Symbol,
    action: ActionOpt,
    qty: QtyOpt,
    entry: Annotated[str, typer.Option("--entry", help="Entry limit price.")],
    take_profit: Annotated[str, typer.Option("--take-profit", help="Take-profit limit.")],
    stop_loss: Annotated[str, typer.Option("--stop-loss", help="Stop-loss stop price.")],
    oca_group: Annotated[str | None, typer.Option("--oca-group", help="OCA group name.")] = None,
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: ClientIdOpt = 1,
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
    """Parent limit + take-profit + stop-loss in one OCA group (only the last transmits)."""
    from ordertrail.domain.errors import InvalidOrderSpec
    from ordertrail.domain.values import BracketOrder

    contract = _contract(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    try:
        order = BracketOrder.build(
            action=_action(action),
            quantity=_need(qty, "--qty"),
            entry_price=_need(entry, "--entry"),
            take_profit_price=_need(take_profit, "--take-profit"),
            stop_loss_price=_need(stop_loss, "--stop-loss"),
            oca_group=oca_group or f"OT-oca-{uuid.uuid4().hex[:12]}",
        )
    except InvalidOrderSpec as e:
        fail(str(e))
    policy = _policy(False, max_quantity, max_notional, price_band)
    _report(
        _run(
            _with_engine(
                data,
                store,
                dry_run,
                host,
                port,
                client_id,
                policy,
                lambda e: e.place_bracket_order(contract, order),
            )
        )
    )


def close(
    symbol: Symbol,
    position: Annotated[str, typer.Option("--position", help="Signed position (long > 0).")],
    mark: Annotated[
        str | None, typer.Option("--mark", help="Mark price: marketable limits start from it.")
    ] = None,
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: ClientIdOpt = 1,
    con_id: ConIdOpt = 0,
    sec_type: SecTypeOpt = "STK",
    exchange: ExchangeOpt = "SMART",
    currency: CurrencyOpt = "USD",
    expiry: ExpiryOpt = None,
    multiplier: MultiplierOpt = "1",
    allow_market_orders: AllowMarketOpt = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Close a position: the opposite order, a marketable limit unless market orders are
    allowed."""
    from ordertrail.domain.planning import PositionLeg

    contract = _contract(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    leg = PositionLeg(contract, _need(position, "--position"), _dec(mark, "--mark"))
    policy = _policy(allow_market_orders, None, None, None)
    _report(
        _run(
            _with_engine(
                data, store, dry_run, host, port, client_id, policy, lambda e: e.close_position(leg)
            )
        )
    )


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
    client_id: ClientIdOpt = 1,
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
    end, fills aggregated."""
    from ordertrail.adapters.execution import OrderManager
    from ordertrail.domain.errors import InvalidOrderSpec

    contract = _contract(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    policy = _policy(False, max_quantity, max_notional, price_band)
    quantity, limit_price = _need(qty, "--qty"), _need(limit, "--limit")
    reference_price = _dec(reference, "--reference")
    if not math.isfinite(duration) or duration < 0:
        fail(f"--duration: must be a finite number of seconds >= 0, not {duration}")
    summary: dict[str, Any] = {}

    async def op(engine: OrderExecutionEngine) -> ExecutionResult:
        from ordertrail.domain.values import ExecutionResult

        try:
            report = await OrderManager(engine).twap(
                contract,
                _action(action),
                quantity,
                limit_price=limit_price,
                reference_price=reference_price,
                slices=slices,
                duration=timedelta(seconds=duration),
            )
        except InvalidOrderSpec as e:
            return ExecutionResult.failed(str(e))
        summary.update(
            filled=str(report.filled), avg_price=report.avg_price, group_id=report.group_id
        )
        return report.result

    result = _run(_with_engine(data, store, dry_run, host, port, client_id, policy, op))
    _report(result, summary)


def register(app: typer.Typer) -> None:
    for command in (place, cancel, bracket, close, twap):
        app.command()(command)
