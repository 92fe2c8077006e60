"""Order entry from the command line: ``place``, ``modify``, ``cancel``, ``bracket``, ``close``,
``twap``.

Every order goes through the execution engine, so through the RiskGate, and is recorded in the
event store (``--data``/``--store``). ``--dry-run`` records simulated broker facts under
``DRY_OT-…`` ids and never connects; otherwise ``--host/--port/--client-id`` reach TWS, IB
Gateway or ``ordertrail simulate`` through one ``IbSession`` (a live account or port needs
``--live``). A refusal, a rejection or a failed connection prints the reason on stderr and exits
with code 1.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
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
    PlacerClientIdOpt,
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
    from ordertrail.domain.state import OrderState
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


def _recorded(order_id: str, data: str | None, store: str | None) -> OrderState:
    """The order as recorded; refuses an id the store has never seen before connecting to IB
    for it."""
    from ordertrail.adapters.trail import OrderTrail
    from ordertrail.domain.identity import is_client_order_id, order_uuid

    if not is_client_order_id(order_id):
        fail(f"not an ordertrail client order id: {order_id!r}")
    with clear_errors():
        trail = OrderTrail(config(data, store))
        try:
            oid = order_uuid(client_order_id=order_id)
            if not trail.exists(oid):
                fail(f"no order {order_id} in {trail.config.describe()}")
            return trail.get(oid).state
        finally:
            trail.close()


def _placing_client(state: OrderState) -> int | None:
    """The client id that sent the order: IB lets only that client modify or cancel it."""
    return state.aliases[-1][0] if state.aliases else None


def cancel(
    order_id: Annotated[str, typer.Argument(help="Client order id (OT-… or DRY_OT-…).")],
    dry_run: DryRunOpt = False,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: PlacerClientIdOpt = None,
    live: LiveOpt = False,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Cancel an order ordertrail placed (a DRY_ id is cancelled in the dry run), as the client
    id that placed it."""
    from ordertrail.domain.identity import is_dry_run_id
    from ordertrail.domain.risk import RiskPolicy

    if dry_run and not is_dry_run_id(order_id):
        fail(f"{order_id} is a live order: --dry-run cannot cancel it")
    placer = _placing_client(_recorded(order_id, data, store))
    chosen = client_id if client_id is not None else (placer or DEFAULT_CLIENT_ID)
    venue = Venue(is_dry_run_id(order_id), host, port, chosen, live)
    report(run(with_engine(data, store, venue, RiskPolicy(), lambda e: e.cancel_order(order_id))))


def modify(
    order_id: Annotated[str, typer.Argument(help="Client order id (OT-… or DRY_OT-…).")],
    qty: Annotated[str | None, typer.Option("--qty", help="New total quantity.")] = None,
    limit: Annotated[str | None, typer.Option("--limit", help="New limit price.")] = None,
    stop: Annotated[str | None, typer.Option("--stop", help="New stop price.")] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference price (mid/last): price band.")
    ] = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 7497,
    client_id: PlacerClientIdOpt = None,
    live: LiveOpt = False,
    max_quantity: MaxQtyOpt = None,
    max_notional: MaxNotionalOpt = None,
    price_band: BandOpt = None,
    data: DataOpt = None,
    store: StoreOpt = None,
) -> None:
    """Change a working order's quantity or prices (through the RiskGate), as the client id
    that placed it; what is not given stays as recorded. A DRY_ id is modified in the dry run."""
    from ordertrail.domain.errors import InvalidOrderSpec
    from ordertrail.domain.identity import is_dry_run_id

    if qty is None and limit is None and stop is None:
        fail("nothing to change: give --qty, --limit or --stop")
    state = _recorded(order_id, data, store)
    now = state.spec
    try:
        spec = replace(
            now,
            quantity=need(qty, "--qty") if qty is not None else now.quantity,
            limit_price=dec(limit, "--limit") if limit is not None else now.limit_price,
            stop_price=dec(stop, "--stop") if stop is not None else now.stop_price,
            reference_price=(
                dec(reference, "--reference") if reference is not None else now.reference_price
            ),
        )
    except InvalidOrderSpec as e:
        fail(str(e))
    policy = risk_policy(False, max_quantity, max_notional, price_band)
    chosen = client_id if client_id is not None else (_placing_client(state) or DEFAULT_CLIENT_ID)
    venue = Venue(is_dry_run_id(order_id), host, port, chosen, live)
    report(run(with_engine(data, store, venue, policy, lambda e: e.modify_order(order_id, spec))))


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
    from ordertrail.domain.bracket import BracketOrder
    from ordertrail.domain.errors import InvalidOrderSpec

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
    for command in (place, modify, cancel, bracket, close, twap, patience):
        app.command()(command)
