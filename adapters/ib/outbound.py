"""Requests as they leave the client: the TWS API messages ib_async writes, read back as facts.

An error's meaning depends on the request it answers (201 answering a new order rejects it,
answering a modify refuses only the modify), and a program sharing ordertrail's ``IB`` places,
modifies and cancels orders ordertrail never hears of otherwise. So every placeOrder,
cancelOrder and reqGlobalCancel on the wire is read here — live from ib_async's connection,
in a replay from the tape's outbound lines — by the same function, so both yield the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.simulator.tickets import (
    OrderTicket,
    parse_place_order,
    wire_flag,
    wire_number,
)
from ordertrail.adapters.simulator.wire import ProtocolError
from ordertrail.domain.values import ContractRef, OrderSpec, OrderType, TimeInForce

PLACE_ORDER = "3"
CANCEL_ORDER = "4"
GLOBAL_CANCEL = "58"
UNSET = 1.7976931348623157e308
# A session trades few contracts and sends each many times: a placeOrder's contract, as the
# client wrote it, is converted once (up to this many kept; converting is a pure function of
# the text, so a contract read again gives exactly what converting it again would).
CONTRACTS_KEPT = 256
_CONTRACT_TEXT = itemgetter(
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "currency", "localSymbol",
)  # fmt: skip
_ORDER_TEXT = itemgetter(
    "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif", "account",
    "outsideRth", "ocaGroup", "ocaType", "transmit", "goodTillDate", "trailingPercent",
)  # fmt: skip


class _SentContract(NamedTuple):
    """The attributes ``mapping.contract_ref`` reads, as ib_async's ``Contract`` has them."""

    conId: int  # noqa: N815 - ib_async's names
    symbol: str
    secType: str  # noqa: N815
    lastTradeDateOrContractMonth: str  # noqa: N815
    strike: float
    right: str
    multiplier: str
    exchange: str
    currency: str
    localSymbol: str  # noqa: N815


class _SentOrder(NamedTuple):
    """The attributes ``mapping.order_spec`` reads, as ib_async's ``Order`` has them."""

    action: str
    totalQuantity: float  # noqa: N815
    orderType: str  # noqa: N815
    lmtPrice: float  # noqa: N815
    auxPrice: float  # noqa: N815
    tif: str
    account: str
    outsideRth: bool  # noqa: N815
    ocaGroup: str  # noqa: N815
    ocaType: int  # noqa: N815
    transmit: bool
    goodTillDate: str  # noqa: N815
    trailingPercent: float  # noqa: N815


_contracts: dict[tuple[str, ...], ContractRef] = {}


class SentPlace(NamedTuple):
    """A placeOrder: a tuple, made in one step (every placeOrder of a tape is read back)."""

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


def _price(text: str) -> float:
    value = wire_number(text)
    return UNSET if value is None else float(value)


def _place(t: OrderTicket) -> SentPlace:
    cref = _contract(t)
    (action, total, order_type, lmt, aux, tif, account, outside_rth, oca_group, oca_type,
     transmit, good_till, trailing) = _ORDER_TEXT(t.raw)  # fmt: skip
    order = _SentOrder(
        action,
        float(wire_number(total) or 0),
        order_type,
        _price(lmt),
        _price(aux),
        tif,
        account,
        wire_flag(outside_rth),
        oca_group,
        int(oca_type) if oca_type else 0,
        wire_flag(transmit),
        good_till,
        _price(trailing),
    )
    spec = mapping.order_spec(order, cref)
    # Only a code ``order_spec`` could not name has a raw code to keep.
    unnamed = {}
    if spec.order_type is OrderType.OTHER or spec.tif is TimeInForce.OTHER:
        unnamed = mapping.unnamed_terms(order)
    return SentPlace(t.order_id, cref, spec, t.order_ref, t.parent_id, unnamed)


def _contract(t: OrderTicket) -> ContractRef:
    text: tuple[str, ...] = _CONTRACT_TEXT(t.raw)
    cref = _contracts.get(text)
    if cref is None:
        con_id, symbol, sec_type, expiry, strike, *rest = text
        number = float(wire_number(strike) or 0)
        cref = mapping.contract_ref(
            _SentContract(int(con_id) if con_id else 0, symbol, sec_type, expiry, number, *rest)
        )
        if len(_contracts) >= CONTRACTS_KEPT:
            _contracts.clear()
        _contracts[text] = cref
    return cref


__all__ = ["ProtocolError", "Sent", "SentCancel", "SentGlobalCancel", "SentPlace", "read_outbound"]
