"""Parsing an incoming placeOrder message into an :class:`OrderTicket`.

placeOrder (message 3) carries no version field: its layout depends on the negotiated server
version and on the order's own content (combo legs, delta-neutral, scale, hedge, algo, PEG BENCH,
conditions, PEG BEST/MID). The walk below mirrors ib_async 2.1.0's ``Client.placeOrder`` line by
line; a miscount would shift every later field, so the parser also insists that nothing is left
over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Final

from .wire import FieldReader, ProtocolError

# Fields after the condition type, per ib_async's OrderCondition dataclasses (createClass).
CONDITION_FIELDS: Final = {1: 6, 3: 3, 4: 3, 5: 4, 6: 5, 7: 5}
PEG_BENCH_TYPES: Final = frozenset({"PEG BENCH", "PEGBENCH"})
PEG_BEST_TYPES: Final = frozenset({"PEG BEST", "PEGBEST"})
PEG_MID_TYPES: Final = frozenset({"PEG MID", "PEGMID"})

_CONTRACT = (
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass",
    "secIdType", "secId",
)  # fmt: skip
_HEAD = (
    "action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif", "ocaGroup",
    "account", "openClose", "origin", "orderRef", "transmit", "parentId", "blockOrder",
    "sweepToFill", "displaySize", "triggerMethod", "outsideRth", "hidden",
)  # fmt: skip
_FA = (
    "_sharesAllocation", "discretionaryAmt", "goodAfterTime", "goodTillDate", "faGroup",
    "faMethod", "faPercentage",
)  # fmt: skip
_MIDDLE = (
    "modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType", "rule80A",
    "settlingFirm", "allOrNone", "minQty", "percentOffset", "eTradeOnly", "firmQuoteOnly",
    "nbboPriceCap", "auctionStrategy", "startingPrice", "stockRefPrice", "delta",
    "stockRangeLower", "stockRangeUpper", "overridePercentageConstraints", "volatility",
    "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice",
)  # fmt: skip
DELTA_NEUTRAL = (
    "deltaNeutralConId", "deltaNeutralSettlingFirm", "deltaNeutralClearingAccount",
    "deltaNeutralClearingIntent", "deltaNeutralOpenClose", "deltaNeutralShortSale",
    "deltaNeutralShortSaleSlot", "deltaNeutralDesignatedLocation",
)  # fmt: skip
_SCALE_HEAD = (
    "continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent",
    "scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement",
)  # fmt: skip
SCALE_TAIL = (
    "scalePriceAdjustValue", "scalePriceAdjustInterval", "scaleProfitOffset", "scaleAutoReset",
    "scaleInitPosition", "scaleInitFillQty", "scaleRandomPercent",
)  # fmt: skip
_MISC = ("algoId", "whatIf", "orderMiscOptions", "solicited", "randomizeSize", "randomizePrice")
PEG_BENCH = (
    "referenceContractId", "isPeggedChangeAmountDecrease", "peggedChangeAmount",
    "referenceChangeAmount", "referenceExchangeId",
)  # fmt: skip
_TAIL = (
    "adjustedOrderType", "triggerPrice", "lmtPriceOffset", "adjustedStopPrice",
    "adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit", "extOperator",
    "softDollarTierName", "softDollarTierValue", "cashQty", "mifid2DecisionMaker",
    "mifid2DecisionAlgo", "mifid2ExecutionTrader", "mifid2ExecutionAlgo",
    "dontUseAutoPriceForHedge", "isOmsContainer", "discretionaryUpToLimitPrice",
    "usePriceMgmtAlgo",
)  # fmt: skip
COMBO_LEG = (
    "conId", "ratio", "action", "exchange", "openClose", "shortSaleSlot", "designatedLocation",
    "exemptCode",
)  # fmt: skip


_HEDGE = ("scaleTable", "activeStartTime", "activeStopTime", "hedgeType")
_CLEARING = ("optOutSmartRouting", "clearingAccount", "clearingIntent", "notHeld")
# The walk reads each stretch of scalar fields between two fields that decide the layout in
# one run (the runs below); a deciding field is found from the end of its run.
_CONTRACT_HEAD = _CONTRACT + _HEAD
_SEC_TYPE = _CONTRACT.index("secType")
_ORDER_TYPE = len(_CONTRACT) + _HEAD.index("orderType")
_FA_MIDDLE = {True: (*_FA, "faProfile", *_MIDDLE), False: _FA + _MIDDLE}  # server version < 177
_DELTA_NEUTRAL_TYPE = _MIDDLE.index("deltaNeutralOrderType") - len(_MIDDLE)
_SCALE = {True: DELTA_NEUTRAL + _SCALE_HEAD, False: _SCALE_HEAD}  # a delta-neutral order type
_SCALE_INCREMENT = _SCALE_HEAD.index("scalePriceIncrement") - len(_SCALE_HEAD)
_HEDGE_RUN = {True: SCALE_TAIL + _HEDGE, False: _HEDGE}  # a positive scale increment
_HEDGE_TYPE = _HEDGE.index("hedgeType") - len(_HEDGE)
_CLEARING_RUN = {True: ("hedgeParam", *_CLEARING), False: _CLEARING}  # a hedge type


def wire_number(value: str) -> Decimal | None:
    """A number as the client wrote it; None for an empty field or an unset one."""
    if value in ("", "Infinite") or value.lower().startswith("1.7976931348623157e"):
        return None
    return Decimal(value)


def wire_flag(value: str) -> bool:
    return value not in ("", "0")


@dataclass(slots=True)
class OrderTicket:
    """An order as the client described it; ``raw`` keeps every scalar field as sent.

    Keys of ``raw`` are ib_async ``Order``/``Contract`` attribute names, so the openOrder encoder
    can echo what the client sent, as TWS does.
    """

    order_id: int
    raw: dict[str, str]
    combo_legs: list[list[str]] = field(default_factory=list)
    order_combo_leg_prices: list[str] = field(default_factory=list)
    smart_combo_routing_params: list[tuple[str, str]] = field(default_factory=list)
    delta_neutral_contract: tuple[str, str, str] | None = None
    algo_params: list[tuple[str, str]] = field(default_factory=list)
    conditions: list[list[str]] = field(default_factory=list)

    def text(self, name: str) -> str:
        return self.raw.get(name, "")

    def number(self, name: str) -> Decimal | None:
        return wire_number(self.text(name))

    def integer(self, name: str, default: int = 0) -> int:
        value = self.text(name)
        return int(value) if value else default

    def flag(self, name: str) -> bool:
        return wire_flag(self.text(name))

    @property
    def con_id(self) -> int:
        return self.integer("conId")

    @property
    def symbol(self) -> str:
        return self.text("symbol")

    @property
    def action(self) -> str:
        return self.text("action")

    @property
    def is_buy(self) -> bool:
        return self.action.upper() == "BUY"

    @property
    def total_quantity(self) -> Decimal:
        return self.number("totalQuantity") or Decimal(0)

    @property
    def order_type(self) -> str:
        return self.text("orderType").upper()

    @property
    def lmt_price(self) -> Decimal | None:
        return self.number("lmtPrice")

    @property
    def aux_price(self) -> Decimal | None:
        return self.number("auxPrice")

    @property
    def account(self) -> str:
        return self.text("account")

    @property
    def order_ref(self) -> str:
        return self.text("orderRef")

    @property
    def oca_group(self) -> str:
        return self.text("ocaGroup")

    @property
    def oca_type(self) -> int:
        return self.integer("ocaType")

    @property
    def parent_id(self) -> int:
        return self.integer("parentId")

    @property
    def transmit(self) -> bool:
        return self.flag("transmit")

    @property
    def outside_rth(self) -> bool:
        return self.flag("outsideRth")


class _Walk:
    """The scalar fields of a placeOrder, read in runs: ``raw`` is made of them in one step at
    the end (a replay reads every placeOrder of its tape back, and a dict filled one field at
    a time costs about as much again as the rest of the walk)."""

    __slots__ = ("names", "r", "values")

    def __init__(self, r: FieldReader) -> None:
        self.r = r
        self.names: list[str] = []
        self.values: list[str] = []

    def take(self, group: tuple[str, ...]) -> list[str]:
        got = self.r.texts(len(group))
        self.names.extend(group)
        self.values.extend(got)
        return got


def parse_place_order(fields: list[str], server_version: int) -> OrderTicket:
    """Parse placeOrder ``fields`` (starting with the message id 3) as ib_async wrote them."""
    r = FieldReader(fields)
    if r.text() != "3":
        raise ProtocolError("not a placeOrder message")
    order_id = r.integer()
    if order_id is None:
        raise ProtocolError("placeOrder without an order id")
    t = OrderTicket(order_id=order_id, raw={})
    w = _Walk(r)
    # The runs' own values decide the layout.
    order_type = _walk_terms(t, w, server_version)
    _walk_options(t, w, order_type)
    w.take(_tail(server_version, bool(t.conditions)))
    t.raw = dict(zip(w.names, w.values, strict=True))
    if server_version >= 170:
        _read_peg_offsets(t, r)
    if r.remaining:
        raise ProtocolError(f"placeOrder {order_id}: {r.remaining} unexpected trailing fields")
    return t


# The fields ib_async sends from a server version on.
_SINCE_VERSION = (
    (158, "duration"),
    (160, "postToAts"),
    (162, "autoCancelParent"),
    (166, "advancedErrorOverride"),
    (169, "manualOrderTime"),
)


@cache
def _tail(server_version: int, conditions: bool) -> tuple[str, ...]:
    """The last run: after the conditions (their two flags, when there are any)."""
    head = ("conditionsIgnoreRth", "conditionsCancelOrder") if conditions else ()
    since = tuple(name for minimum, name in _SINCE_VERSION if server_version >= minimum)
    return head + _TAIL + since


def _walk_terms(t: OrderTicket, w: _Walk, server_version: int) -> str:
    """The contract, the order's terms up to its clearing; returns its order type."""
    r, take = w.r, w.take
    contract_head = take(_CONTRACT_HEAD)
    order_type = contract_head[_ORDER_TYPE].upper()
    if contract_head[_SEC_TYPE] == "BAG":
        t.combo_legs = [[r.text() for _ in COMBO_LEG] for _ in range(r.integer_or(0))]
        t.order_combo_leg_prices = [r.text() for _ in range(r.integer_or(0))]
        t.smart_combo_routing_params = [(r.text(), r.text()) for _ in range(r.integer_or(0))]
    delta_neutral = bool(take(_FA_MIDDLE[server_version < 177])[_DELTA_NEUTRAL_TYPE])
    increment = wire_number(take(_SCALE[delta_neutral])[_SCALE_INCREMENT])
    hedge = take(_HEDGE_RUN[increment is not None and increment > 0])[_HEDGE_TYPE]
    take(_CLEARING_RUN[bool(hedge)])
    return order_type


def _walk_options(t: OrderTicket, w: _Walk, order_type: str) -> None:
    """From the delta-neutral contract to the conditions."""
    r, take = w.r, w.take
    if r.flag():
        t.delta_neutral_contract = (r.text(), r.text(), r.text())
    if take(("algoStrategy",))[0]:
        t.algo_params = [(r.text(), r.text()) for _ in range(r.integer_or(0))]
    take(_MISC + PEG_BENCH if order_type in PEG_BENCH_TYPES else _MISC)
    t.conditions = [_read_condition(r) for _ in range(r.integer_or(0))]


def _read_condition(r: FieldReader) -> list[str]:
    cond_type = r.integer_or(0)
    if cond_type not in CONDITION_FIELDS:
        raise ProtocolError(f"unknown order condition type {cond_type}")
    return [str(cond_type), *(r.text() for _ in range(CONDITION_FIELDS[cond_type]))]


def _read_peg_offsets(t: OrderTicket, r: FieldReader) -> None:
    # ib_async sends these only when they apply (exchange IBKRATS, PEG BEST, PEG MID).
    if t.text("exchange") == "IBKRATS":
        t.raw["minTradeQty"] = r.text()
    if t.order_type in PEG_BEST_TYPES:
        t.raw["minCompeteSize"] = r.text()
        t.raw["competeAgainstBestOffset"] = r.text()
        if t.raw["competeAgainstBestOffset"] == "Infinite":
            t.raw["midOffsetAtWhole"] = r.text()
            t.raw["midOffsetAtHalf"] = r.text()
    elif t.order_type in PEG_MID_TYPES:
        t.raw["midOffsetAtWhole"] = r.text()
        t.raw["midOffsetAtHalf"] = r.text()


def apply_modification(current: OrderTicket, update: OrderTicket) -> None:
    """A placeOrder for a live id replaces the order's terms (TWS keeps the same permId)."""
    current.raw = update.raw
    current.combo_legs = update.combo_legs
    current.order_combo_leg_prices = update.order_combo_leg_prices
    current.smart_combo_routing_params = update.smart_combo_routing_params
    current.delta_neutral_contract = update.delta_neutral_contract
    current.algo_params = update.algo_params
    current.conditions = update.conditions
