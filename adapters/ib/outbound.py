"""Requests as they leave the client: the TWS API messages ib_async writes, read back as facts.

An error's meaning depends on the request it answers (201 answering a new order rejects it,
answering a modify refuses only the modify), and a program sharing ordertrail's ``IB`` places,
modifies and cancels orders ordertrail never hears of otherwise. So every placeOrder,
cancelOrder and reqGlobalCancel on the wire is read here — live from ib_async's connection,
in a replay from the tape's outbound lines — by the same function, so both yield the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ib_async import Contract
from ib_async import Order as IbOrder

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.simulator.tickets import OrderTicket, parse_place_order
from ordertrail.adapters.simulator.wire import ProtocolError
from ordertrail.domain.values import ContractRef, OrderSpec

PLACE_ORDER = "3"
CANCEL_ORDER = "4"
GLOBAL_CANCEL = "58"
UNSET = 1.7976931348623157e308
# ib_async's ``Order()`` and ``Contract()`` assign every default one by one (139 for an
# order): a placeOrder read back starts from a copy of a blank one instead. The copies never
# leave ``_place``, so the default lists they share with the blanks are never changed.
_BLANK_ORDER = IbOrder()
_BLANK_CONTRACT = Contract()


@dataclass(frozen=True, slots=True)
class SentPlace:
    order_id: int
    contract: ContractRef
    spec: OrderSpec
    order_ref: str
    parent_id: int
    unnamed: dict[str, str]


@dataclass(frozen=True, slots=True)
class SentCancel:
    order_id: int


@dataclass(frozen=True, slots=True)
class SentGlobalCancel:
    pass


Sent = SentPlace | SentCancel | SentGlobalCancel
T = TypeVar("T")


def read_outbound(fields: list[str], server_version: int) -> Sent | None:
    """The request in one outbound message, or None for any other message. Raises ValueError
    for a placeOrder this reader cannot walk."""
    if not fields:
        return None
    kind = fields[0]
    if kind == PLACE_ORDER:
        try:
            return _place(parse_place_order(fields, server_version))
        except ProtocolError as e:
            raise ValueError(f"placeOrder of {len(fields)} fields: {e}") from None
    if kind == CANCEL_ORDER and len(fields) >= 3:
        return SentCancel(int(fields[2]))
    if kind == GLOBAL_CANCEL:
        return SentGlobalCancel()
    return None


def _num(ticket: OrderTicket, name: str) -> float:
    value = ticket.number(name)
    return UNSET if value is None else float(value)


def _place(t: OrderTicket) -> SentPlace:
    contract = _blank_copy(
        _BLANK_CONTRACT,
        conId=t.con_id,
        symbol=t.symbol,
        secType=t.text("secType"),
        lastTradeDateOrContractMonth=t.text("lastTradeDateOrContractMonth"),
        strike=float(t.number("strike") or 0),
        right=t.text("right"),
        multiplier=t.text("multiplier"),
        exchange=t.text("exchange"),
        currency=t.text("currency"),
        localSymbol=t.text("localSymbol"),
    )
    order = _blank_copy(
        _BLANK_ORDER,
        action=t.action,
        totalQuantity=float(t.total_quantity),
        orderType=t.text("orderType"),
        lmtPrice=_num(t, "lmtPrice"),
        auxPrice=_num(t, "auxPrice"),
        tif=t.text("tif"),
        account=t.account,
        outsideRth=t.outside_rth,
        ocaGroup=t.oca_group,
        ocaType=t.oca_type,
        transmit=t.transmit,
        goodTillDate=t.text("goodTillDate"),
        trailingPercent=_num(t, "trailingPercent"),
    )
    cref = mapping.contract_ref(contract)
    return SentPlace(
        order_id=t.order_id,
        contract=cref,
        spec=mapping.order_spec(order, cref),
        order_ref=t.order_ref,
        parent_id=t.parent_id,
        unnamed=mapping.unnamed_terms(order),
    )


def _blank_copy(blank: T, **values: object) -> T:
    copy: T = object.__new__(type(blank))
    copy.__dict__.update(blank.__dict__)
    copy.__dict__.update(values)
    return copy


__all__ = ["ProtocolError", "Sent", "SentCancel", "SentGlobalCancel", "SentPlace", "read_outbound"]
