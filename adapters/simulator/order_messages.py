"""Encoders for openOrder (5) and completedOrder (101), the two long order messages.

Both walk ib_async 2.1.0's ``Decoder.openOrder``/``Decoder.completedOrder`` field by field,
including their conditional blocks, and echo what the client sent (``OrderTicket.raw``) the way
TWS echoes an order back. At server version 178 a plain order's openOrder has 127 fields.

Known difference from IB's own decoder: ib_async reads openOrder's ``duration`` from server
version 159, IB's from 158 (MIN_SERVER_VER_DURATION). We follow ib_async, the client we serve.
"""

from __future__ import annotations

from datetime import datetime

from .messages import contract_fields
from .orders import SimOrder
from .tickets import DELTA_NEUTRAL, PEG_BENCH, PEG_BENCH_TYPES, SCALE_TAIL, OrderTicket
from .tws_time import UTC_TWS, TwsTimeZone
from .wire import UNSET_DOUBLE_TEXT, Field


def _echo(t: OrderTicket, name: str) -> str:
    value = t.text(name)
    # ib_async writes math.inf as "Infinite" but reads with float(), which only knows "inf".
    return "Infinity" if value == "Infinite" else value


def _price_or_zero(t: OrderTicket, name: str) -> Field:
    # TWS reports an unset limit/aux price of an order as 0, not as the sentinel.
    value = t.number(name)
    return "0" if value is None else value


def _repeating_groups(t: OrderTicket) -> list[Field]:
    fields: list[Field] = [len(t.combo_legs)]
    for leg in t.combo_legs:
        fields += leg
    fields.append(len(t.order_combo_leg_prices))
    fields += t.order_combo_leg_prices
    fields.append(len(t.smart_combo_routing_params))
    for tag, value in t.smart_combo_routing_params:
        fields += [tag, value]
    return fields


def _scale_and_hedge(t: OrderTicket) -> list[Field]:
    g = t.text
    fields: list[Field] = [g("scaleInitLevelSize"), g("scaleSubsLevelSize")]
    fields.append(g("scalePriceIncrement"))
    increment = t.number("scalePriceIncrement")
    if increment is not None and increment > 0:
        fields += [g(n) for n in SCALE_TAIL]
    fields.append(g("hedgeType"))
    if g("hedgeType"):
        fields.append(g("hedgeParam"))
    return fields


def _delta_neutral_contract(t: OrderTicket) -> list[Field]:
    if t.delta_neutral_contract is None:
        return [False]
    return [True, *t.delta_neutral_contract]


def _algo(t: OrderTicket) -> list[Field]:
    fields: list[Field] = [t.text("algoStrategy")]
    if t.text("algoStrategy"):
        fields.append(len(t.algo_params))
        for tag, value in t.algo_params:
            fields += [tag, value]
    return fields


def _peg_bench(t: OrderTicket) -> list[Field]:
    if t.order_type in PEG_BENCH_TYPES:
        return [t.text(n) for n in PEG_BENCH]
    return []


def _conditions(t: OrderTicket) -> list[Field]:
    fields: list[Field] = [len(t.conditions)]
    for condition in t.conditions:
        fields += condition
    if t.conditions:
        fields += [t.text("conditionsIgnoreRth"), t.text("conditionsCancelOrder")]
    return fields


def _peg_offsets(t: OrderTicket) -> list[Field]:
    names = (
        "minTradeQty", "minCompeteSize", "competeAgainstBestOffset", "midOffsetAtWhole",
        "midOffsetAtHalf",
    )  # fmt: skip
    return [_echo(t, n) for n in names]


def open_order(server_version: int, order: SimOrder) -> list[Field]:
    t = order.ticket
    g = t.text
    f: list[Field] = [5, order.order_id, *contract_fields(t.raw)]
    f += [g("action"), t.total_quantity, g("orderType"), _price_or_zero(t, "lmtPrice")]
    f += [_price_or_zero(t, "auxPrice"), g("tif"), g("ocaGroup"), g("account"), g("openClose")]
    f += [g("origin"), g("orderRef"), order.client_id, order.perm_id, g("outsideRth")]
    f += [g("hidden"), g("discretionaryAmt"), g("goodAfterTime"), ""]  # "" = sharesAllocation
    f += [g("faGroup"), g("faMethod"), g("faPercentage")]
    if server_version < 177:
        f.append(g("faProfile"))
    f += [g(n) for n in ("modelCode", "goodTillDate", "rule80A", "percentOffset")]
    f += [g(n) for n in ("settlingFirm", "shortSaleSlot", "designatedLocation", "exemptCode")]
    f += [g(n) for n in ("auctionStrategy", "startingPrice", "stockRefPrice", "delta")]
    f += [g(n) for n in ("stockRangeLower", "stockRangeUpper", "displaySize", "blockOrder")]
    f += [g(n) for n in ("sweepToFill", "allOrNone", "minQty", "ocaType", "eTradeOnly")]
    f += [g("firmQuoteOnly"), g("nbboPriceCap"), t.parent_id, g("triggerMethod")]
    f += [g("volatility"), g("volatilityType"), g("deltaNeutralOrderType")]
    f.append(g("deltaNeutralAuxPrice"))
    if g("deltaNeutralOrderType"):
        f += [g(n) for n in DELTA_NEUTRAL]
    f += [g("continuousUpdate"), g("referencePriceType"), g("trailStopPrice")]
    f += [g("trailingPercent"), "", "", ""]  # basisPoints, basisPointsType, comboLegsDescrip
    f += _repeating_groups(t)
    f += _scale_and_hedge(t)
    f += [g("optOutSmartRouting"), g("clearingAccount"), g("clearingIntent"), g("notHeld")]
    f += _delta_neutral_contract(t)
    f += _algo(t)
    f += [g("solicited"), g("whatIf"), order.status.value]
    f += [""] * 9  # margin before/change/after: only what-if orders carry them
    f += [UNSET_DOUBLE_TEXT] * 3  # commission, minCommission, maxCommission
    f += ["", ""]  # commissionCurrency, warningText
    f += [g("randomizeSize"), g("randomizePrice")]
    f += _peg_bench(t)
    f += _conditions(t)
    f += [g("adjustedOrderType"), g("triggerPrice"), g("trailStopPrice"), g("lmtPriceOffset")]
    f += [g("adjustedStopPrice"), g("adjustedStopLimitPrice"), g("adjustedTrailingAmount")]
    f += [g("adjustableTrailingUnit"), g("softDollarTierName"), g("softDollarTierValue"), ""]
    f += [g("cashQty"), g("dontUseAutoPriceForHedge"), g("isOmsContainer")]
    f += [g("discretionaryUpToLimitPrice"), g("usePriceMgmtAlgo")]
    if server_version >= 159:
        f.append(g("duration"))
    if server_version >= 160:
        f.append(g("postToAts"))
    if server_version >= 162:
        f.append(g("autoCancelParent"))
    if server_version >= 170:
        f += _peg_offsets(t)
    return f


def completed_order(
    server_version: int, order: SimOrder, parent_perm_id: int, tz: TwsTimeZone = UTC_TWS
) -> list[Field]:
    """completedOrder: no orderId and no clientId, so ib_async keys it by permId alone."""
    t = order.ticket
    g = t.text
    f: list[Field] = [101, *contract_fields(t.raw)]
    quantity = t.total_quantity
    if order.completed_total_quantity is not None:
        quantity = order.completed_total_quantity  # IB's incomplete snapshot after a restart
    f += [g("action"), quantity, g("orderType"), _price_or_zero(t, "lmtPrice")]
    f += [_price_or_zero(t, "auxPrice"), g("tif"), g("ocaGroup"), g("account"), g("openClose")]
    f += [g("origin"), g("orderRef"), order.perm_id, g("outsideRth"), g("hidden")]
    f += [g("discretionaryAmt"), g("goodAfterTime"), g("faGroup"), g("faMethod")]
    f.append(g("faPercentage"))
    if server_version < 177:
        f.append(g("faProfile"))
    f += [g(n) for n in ("modelCode", "goodTillDate", "rule80A", "percentOffset")]
    f += [g(n) for n in ("settlingFirm", "shortSaleSlot", "designatedLocation", "exemptCode")]
    f += [g(n) for n in ("startingPrice", "stockRefPrice", "delta", "stockRangeLower")]
    f += [g(n) for n in ("stockRangeUpper", "displaySize", "sweepToFill", "allOrNone")]
    f += [g(n) for n in ("minQty", "ocaType", "triggerMethod", "volatility")]
    f += [g("volatilityType"), g("deltaNeutralOrderType"), g("deltaNeutralAuxPrice")]
    if g("deltaNeutralOrderType"):
        f += [g(n) for n in ("deltaNeutralConId", "deltaNeutralShortSale")]
        f += [g(n) for n in ("deltaNeutralShortSaleSlot", "deltaNeutralDesignatedLocation")]
    f += [g("continuousUpdate"), g("referencePriceType"), g("trailStopPrice")]
    f += [g("trailingPercent"), ""]  # comboLegsDescrip
    f += _repeating_groups(t)
    f += _scale_and_hedge(t)
    f += [g("clearingAccount"), g("clearingIntent"), g("notHeld")]
    f += _delta_neutral_contract(t)
    f += _algo(t)
    f += [g("solicited"), order.status.value, g("randomizeSize"), g("randomizePrice")]
    f += _peg_bench(t)
    f += _conditions(t)
    f += [g("trailStopPrice"), g("lmtPriceOffset"), g("cashQty")]
    f += [g("dontUseAutoPriceForHedge"), g("isOmsContainer"), ""]  # autoCancelDate
    f += [order.filled, "", g("autoCancelParent"), "", "", ""]
    f += [parent_perm_id or "", _completed_time(order.completed_at, tz), order.completed_status]
    if server_version >= 170:
        f += _peg_offsets(t)
    return f


def _completed_time(moment: datetime | None, tz: TwsTimeZone) -> str:
    return "" if moment is None else tz.stamp(moment)
