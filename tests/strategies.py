"""Hypothesis strategies for ordertrail's domain and for what IB sends about an order.

One module, shared by every test (and the seed of what ``ordertrail[testing]`` ships). Three
layers:

* **values** — ``contracts()``, ``order_specs()``, ``executions()``, ``commission_reports()``:
  valid domain values with IB-shaped contents (execIds like ``0000e0d5.65f1a2b3.01.01``, Decimal
  quantities and prices, timezone-aware UTC times);
* **facts** — the domain's own fact values (``StatusReport``, ``ExecutionReport``,
  ``CommissionReported``, ``ErrorReport``, ``OpenOrderReport``) with ``feed_order`` /
  ``feed_trail`` to hand one to the ``Order`` aggregate or to the ``OrderTrail`` service;
* **sessions** — ``ib_fact_sequences()``: the facts of one order's life as real IB sessions
  deliver them: statuses in any order and repeated, executions before any status or after
  Filled, late fills after a cancel, execution corrections, commission reports early, late,
  twice or never, and the errors that matter (201, 202, 10147, 10148, ...).

Everything here is deterministic given hypothesis' choices: no clock, no uuid4.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionReport,
    OpenOrderReport,
    OutboundRequest,
    RequestKind,
    StatusReport,
)
from ordertrail.domain.status import IB_ASYNC_LOCAL_STATUSES, IB_STATUSES
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
    TimeInForce,
    exec_base_id,
    exec_revision,
)

if TYPE_CHECKING:
    from ordertrail.adapters.trail import FactKey, OrderTrail
    from ordertrail.domain.order import Order

# ---- numbers -----------------------------------------------------------------------------------


def quantities(max_value: int = 1000) -> st.SearchStrategy[Decimal]:
    """Order and fill quantities: mostly whole shares, sometimes fractional (IB sends floats;
    fractional shares and crypto are real)."""
    return st.one_of(
        st.integers(1, max_value).map(Decimal),
        st.decimals(Decimal("0.0001"), Decimal(max_value), places=4),
    )


def prices(
    min_value: str = "0.01", max_value: str = "5000", places: int = 4
) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(min_value), Decimal(max_value), places=places)


def utc_times(
    start: datetime = datetime(2020, 1, 1, tzinfo=UTC), days: int = 3650
) -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC times with microseconds, as IB's times become after parsing."""
    return st.integers(0, days * 86_400_000_000).map(lambda us: start + timedelta(microseconds=us))


# ---- values ------------------------------------------------------------------------------------

symbols = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
accounts = st.sampled_from(["DU1234567", "U7654321", ""])


@st.composite
def contracts(draw: st.DrawFn, sec_type: str | None = None) -> ContractRef:
    """Stocks, options, futures, FX and combos, shaped like IB's contract details."""
    kind = sec_type or draw(st.sampled_from(["STK", "STK", "OPT", "FUT", "CASH", "BAG"]))
    con_id = draw(st.integers(1, 2**31 - 2))
    symbol = draw(symbols)
    if kind == "OPT":
        return ContractRef(
            con_id,
            symbol,
            "OPT",
            multiplier=Decimal(100),
            expiry=draw(st.sampled_from(["20240419", "20241220", "20250117"])),
            strike=draw(prices("1", "1000", places=1)),
            right=draw(st.sampled_from(["C", "P"])),
        )
    if kind == "FUT":
        return ContractRef(
            con_id,
            symbol,
            "FUT",
            exchange="CME",
            multiplier=draw(st.sampled_from([Decimal(5), Decimal(50), Decimal("12.5")])),
            expiry="20240621",
            local_symbol=f"{symbol}M4",
        )
    if kind == "CASH":
        return ContractRef(con_id, "EUR", "CASH", exchange="IDEALPRO", currency="USD")
    return ContractRef(con_id, symbol, kind)


@st.composite
def order_specs(
    draw: st.DrawFn,
    *,
    action: OrderAction | None = None,
    quantity: Decimal | None = None,
    order_type: OrderType | None = None,
    allow_negative_prices: bool = False,
) -> OrderSpec:
    """Valid order specifications of every order type (each gets the prices it needs)."""
    otype = order_type or draw(st.sampled_from(list(OrderType)))
    low = "-500" if allow_negative_prices else "0.01"
    # The domain says which prices a type needs: new order types need no change here.
    limit = draw(prices(low)) if otype.needs_limit_price else None
    stop = draw(prices(low)) if otype.needs_stop_price else None
    trailing_percent = None
    if otype in (OrderType.TRAILING, OrderType.TRAILING_LIMIT):
        if draw(st.booleans()):
            stop = draw(prices("0.01", "50"))
        else:
            trailing_percent = draw(prices("0.1", "20", places=1))
        if otype is OrderType.TRAILING_LIMIT:
            limit = draw(prices("0.01", "50"))
    tif = draw(st.sampled_from([t for t in TimeInForce if t is not TimeInForce.GTD]))
    oca_type = draw(st.sampled_from([0, 0, 1, 2, 3]))
    return OrderSpec(
        action=action or draw(st.sampled_from(list(OrderAction))),
        quantity=quantity if quantity is not None else draw(quantities()),
        order_type=otype,
        limit_price=limit,
        stop_price=stop,
        tif=tif,
        account=draw(accounts),
        outside_rth=draw(st.booleans()),
        trailing_percent=trailing_percent,
        oca_group=f"OCA-{draw(st.integers(1, 99))}" if oca_type else "",
        oca_type=oca_type,
        allow_negative_prices=allow_negative_prices,
    )


def client_order_ids() -> st.SearchStrategy[str]:
    """Our client order ids (carried in IB's orderRef)."""
    return st.from_regex(r"OT-[0-9A-Za-z][0-9A-Za-z._:-]{0,20}", fullmatch=True)


def exec_bases() -> st.SearchStrategy[str]:
    """The part of an execId that names a fill: ``0000e0d5.65f1a2b3.01``."""
    return st.tuples(
        st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF), st.integers(1, 99)
    ).map(lambda t: f"{t[0]:08x}.{t[1]:08x}.{t[2]:02d}")


def exec_ids(revision: int = 1) -> st.SearchStrategy[str]:
    return exec_bases().map(lambda base: with_revision(base, revision))


def with_revision(base: str, revision: int) -> str:
    """The execId of ``revision`` of a fill: IB corrects ``….01`` with ``….02``."""
    return f"{base}.{revision:02d}"


def next_revision(exec_id: str, by: int = 1) -> str:
    """The execId of a correction of ``exec_id``."""
    return with_revision(exec_base_id(exec_id), int(exec_revision(exec_id)) + by)


@st.composite
def executions(
    draw: st.DrawFn,
    *,
    exec_id: str | None = None,
    shares: Decimal | None = None,
    action: OrderAction = OrderAction.BUY,
    order_ref: str = "",
    perm_id: int = 0,
    client_id: int = 0,
    order_id: int = 0,
) -> Execution:
    """One execDetails as IB reports it for an order (side follows the order's action)."""
    return Execution(
        exec_id=exec_id or draw(exec_ids()),
        time=draw(utc_times()),
        account=draw(accounts),
        exchange=draw(st.sampled_from(["NYSE", "ISLAND", "ARCA", "IEX", "IDEALPRO"])),
        side=Side.BOUGHT if action is OrderAction.BUY else Side.SOLD,
        shares=shares if shares is not None else draw(quantities(300)),
        price=draw(prices()),
        perm_id=perm_id,
        client_id=client_id,
        order_id=order_id,
        order_ref=order_ref,
        liquidity=draw(st.sampled_from([0, 1, 2, 3])),
    )


@st.composite
def corrections(draw: st.DrawFn, original: Execution, by: int = 1) -> Execution:
    """IB's correction of ``original``: same fill, higher execId suffix, new shares/price."""
    return Execution(
        exec_id=next_revision(original.exec_id, by),
        time=original.time,
        account=original.account,
        exchange=original.exchange,
        side=original.side,
        shares=draw(st.one_of(st.just(original.shares), quantities(300))),
        price=draw(st.one_of(st.just(original.price), prices())),
        perm_id=original.perm_id,
        client_id=original.client_id,
        order_id=original.order_id,
        order_ref=original.order_ref,
        liquidity=original.liquidity,
    )


@st.composite
def executions_with_corrections(
    draw: st.DrawFn, *, action: OrderAction = OrderAction.BUY, max_fills: int = 4
) -> list[Execution]:
    """Executions of one order, some followed by corrections (in order of arrival)."""
    out: list[Execution] = []
    bases = draw(st.lists(exec_bases(), min_size=1, max_size=max_fills, unique=True))
    for base in bases:
        x = draw(executions(exec_id=with_revision(base, 1), action=action))
        out.append(x)
        for _ in range(draw(st.integers(0, 2))):
            x = draw(corrections(x))
            out.append(x)
    return out


@st.composite
def commission_reports(draw: st.DrawFn, exec_id: str | None = None) -> CommissionReport:
    """A commissionReport; IB's "unset" commission arrives as None after money.price_or_none."""
    return CommissionReport(
        exec_id=exec_id or draw(exec_ids()),
        commission=draw(st.one_of(st.none(), prices("0", "25", places=6))),
        currency=draw(st.sampled_from(["USD", "EUR", "GBP"])),
        realized_pnl=draw(st.one_of(st.none(), prices("-1000", "1000", places=2))),
    )


# ---- facts -------------------------------------------------------------------------------------


# The facts are the domain's own values (``domain.facts``): tests build exactly what the
# recorder and the importers hand to the trail.
Fact = (
    StatusReport
    | ExecutionReport
    | CommissionReported
    | ErrorReport
    | OpenOrderReport
    | OutboundRequest
)


def with_identifiers(fact: Fact, key: FactKey | None) -> Fact:
    """The fact as IB sends it: orderStatus carries the permId, openOrder the permId, clientId
    and orderId of ``key``."""
    if key is None:
        return fact
    if isinstance(fact, StatusReport):
        return replace(fact, perm_id=key.perm_id)
    if isinstance(fact, OpenOrderReport):
        return replace(fact, perm_id=key.perm_id, client_id=key.client_id, order_id=key.order_id)
    return fact


def feed_order(order: Order, fact: Fact, ts: datetime, key: FactKey | None = None) -> bool:
    """Hand one fact to the aggregate; True when it recorded something. ``key`` holds the
    identifiers IB sent along (permId, clientId, orderId), as the recorder passes them on."""
    return order.record(with_identifiers(fact, key), ts_recorded=ts)


def feed_trail(trail: OrderTrail, key: FactKey, fact: Fact) -> bool | None:
    """Hand one fact to the service, routed by ``key`` (commission reports by execId only).
    None: a commission report held until its execution arrives."""
    return trail.record(key, with_identifiers(fact, key))


# ---- statuses and errors -----------------------------------------------------------------------

IB_STATUS_STRINGS: tuple[str, ...] = tuple(sorted(IB_STATUSES))


def ib_status_strings(*, include_unknown: bool = False) -> st.SearchStrategy[str]:
    """IB's status strings; with ``include_unknown`` also ib_async's local inventions
    (ValidationError, ApiUpdate) and text IB never documented."""
    known = st.sampled_from(IB_STATUS_STRINGS)
    if not include_unknown:
        return known
    return st.one_of(
        known, known, known, st.sampled_from(sorted(IB_ASYNC_LOCAL_STATUSES)), st.just("Unknown")
    )


@st.composite
def status_sequences(draw: st.DrawFn, *, max_size: int = 12) -> list[str]:
    """Status strings in any order, each possibly repeated two or three times in a row (IB
    repeats the same orderStatus; PendingCancel especially)."""
    out: list[str] = []
    for status in draw(st.lists(ib_status_strings(), max_size=max_size)):
        out.extend([status] * draw(st.sampled_from([1, 1, 1, 2, 3])))
    return out


@st.composite
def status_facts(
    draw: st.DrawFn, raw_status: str | None = None, quantity: Decimal | None = None
) -> StatusReport:
    status = raw_status or draw(ib_status_strings(include_unknown=True))
    total = quantity if quantity is not None else draw(quantities())
    filled = draw(st.sampled_from([Decimal(0), total])) if status != "Filled" else total
    return StatusReport(
        raw_status=status,
        filled=filled,
        remaining=total - filled,
        avg_fill_price=draw(prices()) if filled else None,
        why_held=draw(st.sampled_from(["", "", "locate"])) if status == "Inactive" else "",
    )


# The errors that decide or explain an order's fate, with the texts IB sends (202 is localised).
ERROR_TEXTS: dict[int, tuple[str, ...]] = {
    201: (
        "Order rejected - reason:Exchange is closed.",
        "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
        "POSITION YOUR EQUITY WITH LOAN VALUE [1000 USD] MUST EXCEED THE INITIAL MARGIN",
        "Order rejected - reason:Missing order account",
    ),
    200: ("No security definition has been found for the request",),
    103: ("Duplicate order id",),
    110: ("The price does not conform to the minimum price variation for this contract.",),
    202: (
        "Order Canceled - reason:",
        "Order Canceled - reason:Cancelled by user",
        "Ordre annulé - raison :",
    ),
    10147: ("OrderId 17 that needs to be cancelled is not found.",),
    10148: ("OrderId 17 that needs to be cancelled cannot be cancelled, state: Filled.",),
    161: ("Cancel attempted when order is not in a cancellable state.",),
    399: ("Order Message: Warning: your order will not be placed at the exchange until ...",),
    404: ("Order held while securities are located.",),
    10349: ("Order TIF was set to DAY based on order preset.",),
}


@st.composite
def error_facts(draw: st.DrawFn, codes: Sequence[int] | None = None) -> ErrorReport:
    code = draw(st.sampled_from(sorted(codes or ERROR_TEXTS)))
    return ErrorReport(code, draw(st.sampled_from(ERROR_TEXTS[code])))


# ---- sessions ----------------------------------------------------------------------------------


@st.composite
def fill_sizes(draw: st.DrawFn, quantity: Decimal, *, allow_overfill: bool = True) -> list[Decimal]:
    """Split ``quantity`` into fills; sometimes short of it (partial), sometimes beyond it
    (IB's corrections summed as new fills, or a late fill on a replaced order)."""
    parts = draw(st.integers(1, 4))
    if quantity == quantity.to_integral_value() and quantity >= parts:
        cuts = (
            sorted(
                draw(st.lists(st.integers(1, int(quantity) - 1), max_size=parts - 1, unique=True))
            )
            if quantity > 1
            else []
        )
        edges = [0, *cuts, int(quantity)]
        sizes = [Decimal(b - a) for a, b in itertools.pairwise(edges)]
    else:
        sizes = [quantity]
    shape = draw(
        st.sampled_from(
            ["exact", "exact", "partial", "over"]
            if allow_overfill
            else ["exact", "exact", "partial"]
        )
    )
    if shape == "partial" and len(sizes) > 1:
        sizes = sizes[:-1]
    elif shape == "over":
        sizes = [*sizes, draw(quantities(50))]
    return sizes


@st.composite
def ib_fact_sequences(
    draw: st.DrawFn,
    spec: OrderSpec,
    *,
    order_ref: str = "",
    perm_id: int = 0,
) -> list[Fact]:
    """What IB says about one order, as real sessions deliver it.

    Starts from a plausible life (statuses towards Submitted, fills, commissions, maybe a
    cancel or a rejection), then lets hypothesis shuffle it, repeat facts, drop commission
    reports, correct executions and append late fills and errors.
    """
    q = spec.quantity
    x_kw = {"action": spec.action, "order_ref": order_ref, "perm_id": perm_id}
    facts: list[Fact] = []
    for status in draw(
        st.sampled_from(
            [
                ["PreSubmitted"],
                ["Submitted"],
                ["PreSubmitted", "Submitted"],
                [],
                ["ApiPending"],
            ]
        )
    ):
        facts.append(StatusReport(status, Decimal(0), q))
    ending = draw(st.sampled_from(["filled", "filled", "cancelled", "rejected", "open"]))
    filled = Decimal(0)
    if ending in ("filled", "open", "cancelled"):
        sizes = draw(fill_sizes(q)) if ending == "filled" else draw(fill_sizes(q))[:1]
        for size in sizes:
            x = draw(executions(shares=size, **x_kw))
            facts.append(ExecutionReport(x))
            if draw(st.booleans()):
                x = draw(corrections(x))
                facts.append(ExecutionReport(x))
            if draw(st.integers(0, 3)):  # sometimes the commission report never comes
                facts.append(CommissionReported(draw(commission_reports(x.exec_id))))
            filled += x.shares
            facts.append(StatusReport("Filled" if filled >= q else "Submitted", filled, q - filled))
    if ending == "cancelled":
        facts += [
            StatusReport("PendingCancel", filled, q - filled),
            StatusReport("Cancelled", filled, q - filled),
        ]
        facts.append(draw(error_facts([202])))
        if draw(st.booleans()):  # a late fill after the cancel
            facts.append(ExecutionReport(draw(executions(shares=q - filled or Decimal(1), **x_kw))))
    elif ending == "rejected":
        facts.append(draw(error_facts([201, 200, 103])))
        if draw(st.booleans()):
            facts.append(StatusReport("Inactive", Decimal(0), q))
    elif ending == "filled" and draw(st.booleans()):
        # Our cancel lost the race.
        facts.append(draw(error_facts([10148, 10147])))
    # Reorder some of it: messages are not delivered in the order they happened.
    facts = draw(st.permutations(facts)) if draw(st.booleans()) else facts
    # Repeat some facts in place (IB repeats orderStatus, openOrder and commission reports).
    out: list[Fact] = []
    for fact in facts:
        out.append(fact)
        if draw(st.integers(0, 4)) == 0:
            out.append(fact)
    return out


@st.composite
def wire_facts(
    draw: st.DrawFn, spec: OrderSpec, *, client_id: int, order_id: int, perm_id: int
) -> list[OutboundRequest | OpenOrderReport]:
    """What a live session sees of one order besides IB's reports, in any order: the requests
    that left the client (a placeOrder with its terms, a modify with new terms, the same terms
    or none, a cancelOrder, a reqGlobalCancel; orderId 0 from a program that had none yet) and
    openOrder's identifiers (a permId or none, a (clientId, orderId) alias or none, and the
    account IB placed the order in, which matters when it was sent without one)."""
    out: list[OutboundRequest | OpenOrderReport] = []
    ids = st.sampled_from([order_id, order_id, 0, order_id + 100])
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(list(RequestKind)))
        terms: OrderSpec | None = None
        if kind is RequestKind.PLACE:
            terms = spec
        elif kind is RequestKind.MODIFY:
            terms = draw(
                st.sampled_from([None, spec, spec.with_changes(quantity=spec.quantity + 1)])
            )
        out.append(OutboundRequest(kind, client_id, draw(ids), terms))
    for _ in range(draw(st.integers(0, 2))):
        alias = draw(
            st.sampled_from([None, (client_id, order_id), (client_id + 1, order_id + 100)])
        )
        out.append(
            OpenOrderReport(
                replace(spec, account=draw(accounts)),
                perm_id=draw(st.sampled_from([None, 0, perm_id, perm_id + 7])),
                client_id=alias[0] if alias else None,
                order_id=alias[1] if alias else None,
            )
        )
    return draw(st.permutations(out))
