"""Order entry from the command line: ``place``, ``cancel``, ``bracket``, ``close``, ``twap``.

Every order goes through the execution engine, so through the RiskGate, and is recorded in the
event store (``--data``/``--store``). ``--dry-run`` records simulated broker facts under
``DRY_OT-…`` ids and never connects; otherwise ``--host/--port/--client-id`` reach TWS, IB
Gateway or ``ordertrail simulate`` through one ``IbSession`` (a live account or port needs
``--live``). A refusal, a rejection or a failed connection prints the reason on stderr and exits
with code 1.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from ordertrail.adapters.cli.common import DataOpt, StoreOpt, clear_errors, config, fail
from ordertrail.adapters.cli.strategy import patience, twap
from ordertrail.adapters.cli.trading import (
    DEFAULT_CLIENT_ID,
    ActionOpt,
    AllowMarketOpt,
    BandOpt,
    ClientIdOpt,
    ConIdOpt,
    CurrencyOpt,
    DryRunOpt,
    ExchangeOpt,
    ExpiryOpt,
    HostOpt,
    Kind,
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
    from ordertrail.adapters.execution import OrderExecutionEngine
    from ordertrail.domain.values import ExecutionResult


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
    client_id: ClientIdOpt = DEFAULT_CLIENT_ID,
    live: LiveOpt = False,
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

    contract = contract_ref(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    try:
        spec = OrderSpec(
            to_action(action),
            need(qty, "--qty"),
            OrderType(kind.value),
            limit_price=dec(limit, "--limit"),
            stop_price=dec(stop, "--stop"),
            reference_price=dec(reference, "--reference"),
            account=account,
        )
    except InvalidOrderSpec as e:
        fail(str(e))
    policy = risk_policy(allow_market_orders, max_quantity, max_notional, price_band)
    venue = Venue(dry_run, host, port, client_id, live)
    report(run(with_engine(data, store, venue, policy, lambda e: e.place_order(contract, spec))))


def _placing_client(order_id: str, data: str | None, store: str | None) -> int | None:
    """The client id that sent the order (IB lets only it cancel the order); refuses an id the
    store has never seen before connecting to IB for it."""
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.domain.identity import order_uuid

    with clear_errors():
        trail = OrderTrail(config(data, store))
        try:
            oid = order_uuid(client_order_id=order_id)
            if not trail.exists(oid):
                fail(f"no order {order_id} in {trail.config.describe()}")
            aliases = trail.get(oid).state.aliases
            return aliases[-1][0] if aliases else None
        finally:
            trail.close()


def cancel(
    order_id: Annotated[str, typer.Argument(help="Client order id (OT-… or DRY_OT-…).")],
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: Annotated[
        int | None,
        typer.Option("--client-id", help="API client id (default: the one that placed the order)."),
    ] = None,
    live: LiveOpt = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Cancel an order ordertrail placed (a DRY_ id is cancelled in the dry run), as the client
    id that placed it."""
    from ordertrail.domain.identity import is_client_order_id, is_dry_run_id
    from ordertrail.domain.risk import RiskPolicy

    if not is_client_order_id(order_id):
        fail(f"not an ordertrail client order id: {order_id!r}")
    if dry_run and not is_dry_run_id(order_id):
        fail(f"{order_id} is a live order: --dry-run cannot cancel it")
    placer = _placing_client(order_id, data, store)
    chosen = client_id if client_id is not None else (placer or DEFAULT_CLIENT_ID)
    venue = Venue(is_dry_run_id(order_id), host, port, chosen, live)
    report(run(with_engine(data, store, venue, RiskPolicy(), lambda e: e.cancel_order(order_id))))


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
    """Parent limit + take-profit + stop-loss in one OCA group (only the last transmits)."""
    from ordertrail.domain.errors import InvalidOrderSpec
    from ordertrail.domain.values import BracketOrder

    contract = contract_ref(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    try:
        order = BracketOrder.build(
            action=to_action(action),
            quantity=need(qty, "--qty"),
            entry_price=need(entry, "--entry"),
            take_profit_price=need(take_profit, "--take-profit"),
            stop_loss_price=need(stop_loss, "--stop-loss"),
            oca_group=oca_group or f"OT-oca-{uuid.uuid4().hex[:12]}",
        )
    except InvalidOrderSpec as e:
        fail(str(e))
    policy = risk_policy(False, max_quantity, max_notional, price_band)
    venue = Venue(dry_run, host, port, client_id, live)
    report(
        run(
            with_engine(
                data, store, venue, policy, lambda e: e.place_bracket_order(contract, order)
            )
        )
    )


def close(
    symbol: Symbol,
    position: Annotated[
        str | None,
        typer.Option(
            "--position",
            help="Signed position to close (long > 0). Default: IB's figure, or the recorded "
            "fills in a dry run. A figure that would grow the exposure is refused.",
        ),
    ] = None,
    mark: Annotated[
        str | None, typer.Option("--mark", help="Mark price: marketable limits start from it.")
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
    allow_market_orders: AllowMarketOpt = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Close a position: the opposite order, a marketable limit unless market orders are
    allowed. The size comes from IB (or the record), never from a guess."""
    from ordertrail.domain.planning import PositionLeg

    contract = contract_ref(symbol, con_id, sec_type, exchange, currency, expiry, multiplier)
    typed = dec(position, "--position")
    price = dec(mark, "--mark")
    policy = risk_policy(allow_market_orders, None, None, None)

    async def op(engine: OrderExecutionEngine) -> ExecutionResult:
        held = typed if typed is not None else await engine.position(contract)
        return await engine.close_position(PositionLeg(contract, held, price))

    report(run(with_engine(data, store, Venue(dry_run, host, port, client_id, live), policy, op)))


def register(app: typer.Typer) -> None:
    for command in (place, cancel, bracket, close, twap, patience):
        app.command()(command)
