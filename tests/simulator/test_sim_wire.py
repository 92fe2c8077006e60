"""Cross-check of every message the simulator sends against ib_async's own Decoder.

ib_async unpacks fields positionally and only logs a mismatch, so each encoder is decoded here
through ``ib_async.decoder.Decoder`` with a recording wrapper, for several server versions, and
the parsed values are compared (the ``ib_errors`` fixture fails the test on any logged error).
placeOrder is checked the other way round: ib_async's ``Client.placeOrder`` writes it and the
simulator's parser must consume every field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from ib_async import (
    ComboLeg,
    Contract,
    DeltaNeutralContract,
    LimitOrder,
    Order,
    OrderComboLeg,
    PriceCondition,
    Stock,
    TagValue,
    TimeCondition,
)
from ib_async.client import Client
from ib_async.decoder import Decoder

from ordertrail.adapters.simulator import Instrument
from ordertrail.adapters.simulator import messages as msg
from ordertrail.adapters.simulator.executions import SimExecution
from ordertrail.adapters.simulator.order_messages import completed_order, open_order
from ordertrail.adapters.simulator.orders import SimOrder, Status
from ordertrail.adapters.simulator.tickets import OrderTicket, parse_place_order
from ordertrail.adapters.simulator.wire import ProtocolError, encode_field

VERSIONS = [157, 163, 170, 176, 178]
NOW = datetime(2025, 3, 4, 15, 30, 1, tzinfo=UTC)


class Recorder:
    """Stands in for ib_async's Wrapper: records each call the Decoder makes."""

    defaultTimezone = UTC  # noqa: N815 - the attribute name ib_async's Decoder reads

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def decode(version: int, fields: list[Any]) -> tuple[str, tuple[Any, ...]]:
    recorder = Recorder()
    Decoder(recorder, version).interpret([encode_field(f) for f in fields])  # type: ignore[arg-type]
    assert len(recorder.calls) == 1, recorder.calls
    return recorder.calls[0]


def client_place_order(version: int, contract: Contract, order: Order, order_id: int) -> list[str]:
    """The placeOrder fields ib_async 2.1.0 writes at ``version``."""
    client = Client(SimpleNamespace())
    client._serverVersion = version
    client.connState = Client.CONNECTED
    sent: list[str] = []
    client.sendMsg = sent.append  # type: ignore[method-assign]
    client.placeOrder(order_id, contract, order)
    return sent[0].split("\0")[:-1]


def kitchen_sink() -> tuple[Contract, Order]:
    """An order that exercises every conditional block of placeOrder and openOrder."""
    contract = Contract(
        secType="BAG",
        symbol="AAPL",
        exchange="SMART",
        currency="USD",
        comboLegs=[
            ComboLeg(conId=1, ratio=1, action="BUY", exchange="SMART"),
            ComboLeg(conId=2, ratio=2, action="SELL", exchange="SMART"),
        ],
        deltaNeutralContract=DeltaNeutralContract(conId=9, delta=0.5, price=101.0),
    )
    order = LimitOrder("BUY", 3, 1.25, orderRef="sink", account="DU1", ocaGroup="g", ocaType=2)
    order.orderComboLegs = [OrderComboLeg(price=1.5), OrderComboLeg(price=2.5)]
    order.smartComboRoutingParams = [TagValue("NonGuaranteed", "1")]
    order.deltaNeutralOrderType = "LMT"
    order.deltaNeutralAuxPrice = 0.75
    order.deltaNeutralConId = 9
    order.scaleInitLevelSize = 100
    order.scaleSubsLevelSize = 50
    order.scalePriceIncrement = 0.05
    order.scaleAutoReset = True
    order.hedgeType = "D"
    order.hedgeParam = "0.5"
    order.algoStrategy = "Adaptive"
    order.algoParams = [TagValue("adaptivePriority", "Normal")]
    order.conditions = [
        PriceCondition(price=10.0, conId=265598, exch="SMART"),
        TimeCondition(isMore=False, time="20250101 10:00:00"),
    ]
    order.conditionsCancelOrder = True
    order.cashQty = 1234.5
    order.usePriceMgmtAlgo = True
    order.autoCancelParent = True
    return contract, order


def peg_mid() -> tuple[Contract, Order]:
    order = Order(action="SELL", totalQuantity=7, orderType="PEG MID", lmtPrice=99.0)
    order.midOffsetAtWhole = 0.02
    order.midOffsetAtHalf = 0.01
    return Stock("AAPL", "IBKRATS", "USD"), order


def peg_bench() -> tuple[Contract, Order]:
    order = Order(action="BUY", totalQuantity=1, orderType="PEG BENCH", lmtPrice=5.0)
    order.referenceContractId = 8314
    order.isPeggedChangeAmountDecrease = True
    order.peggedChangeAmount = 0.3
    order.referenceChangeAmount = 0.2
    order.referenceExchangeId = "NYSE"
    return Stock("AAPL", "SMART", "USD"), order


def sim_order(version: int, contract: Contract, order: Order, **kw: Any) -> SimOrder:
    ticket = parse_place_order(client_place_order(version, contract, order, 42), version)
    return SimOrder(ticket=ticket, client_id=5, order_id=42, perm_id=777, placed_at=NOW, **kw)


def plain_open_order_length(version: int) -> int:
    """Field count of a plain order's openOrder, block by block as in Decoder.openOrder."""
    return (
        34 + (version < 177) + 29 + 7 + 3 + 3 + 1 + 5 + 1 + 19 + 1 + 16
        + (version >= 159) + (version >= 160) + (version >= 162) + 5 * (version >= 170)
    )  # fmt: skip


# ------------------------------------------------------------------- placeOrder
@pytest.mark.parametrize("version", VERSIONS)
def test_place_order_parser_consumes_every_field(version: int) -> None:
    plain = parse_place_order(client_place_order(version, *_plain(), 5), version)
    assert (plain.order_id, plain.action, plain.total_quantity) == (5, "BUY", 10)
    assert (plain.lmt_price, plain.order_ref, plain.transmit) == (Decimal("150.5"), "r", True)
    sink = parse_place_order(client_place_order(version, *kitchen_sink(), 6), version)
    assert len(sink.combo_legs) == 2
    assert sink.order_combo_leg_prices == ["1.5", "2.5"]
    assert sink.algo_params == [("adaptivePriority", "Normal")]
    assert [c[0] for c in sink.conditions] == ["1", "3"]
    assert sink.delta_neutral_contract == ("9", "0.5", "101.0")
    assert (sink.oca_group, sink.oca_type, sink.text("cashQty")) == ("g", 2, "1234.5")
    mid = parse_place_order(client_place_order(version, *peg_mid(), 7), version)
    assert mid.text("midOffsetAtHalf") == ("0.01" if version >= 170 else "")
    bench = parse_place_order(client_place_order(version, *peg_bench(), 8), version)
    assert bench.text("referenceExchangeId") == "NYSE"


@pytest.mark.parametrize("version", VERSIONS)
def test_place_order_fields_that_open_a_group_are_read_by_name(version: int) -> None:
    """A delta-neutral order type opens its group whatever the aux price beside it; a hedge
    type opens its parameter; a scale increment above 0 opens the scale's tail."""
    contract, order = _plain()
    order.deltaNeutralOrderType = "MKT"
    order.deltaNeutralConId = 9
    order.hedgeType = "D"
    order.hedgeParam = "0.5"
    order.scalePriceIncrement = 0.25
    order.scalePriceAdjustValue = 0.1
    ticket = parse_place_order(client_place_order(version, contract, order, 5), version)
    assert ticket.text("deltaNeutralOrderType") == "MKT"
    assert ticket.text("deltaNeutralConId") == "9"
    assert ticket.text("hedgeParam") == "0.5"
    assert ticket.number("scalePriceAdjustValue") == Decimal("0.1")
    aux_only = _plain()[1]
    aux_only.deltaNeutralAuxPrice = 0.75
    plain = parse_place_order(client_place_order(version, _plain()[0], aux_only, 6), version)
    assert plain.text("deltaNeutralConId") == ""


def test_place_order_parser_rejects_leftover_fields() -> None:
    fields = client_place_order(178, *_plain(), 5)
    with pytest.raises(ProtocolError, match="1 unexpected trailing fields"):
        parse_place_order([*fields, "x"], 178)
    with pytest.raises(ProtocolError, match="ended"):
        parse_place_order(fields[:-1], 178)


def _plain() -> tuple[Contract, Order]:
    return Stock("AAPL", "SMART", "USD"), LimitOrder("BUY", 10, 150.5, orderRef="r")


# -------------------------------------------------------------------- openOrder
@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_of_a_plain_order(version: int, ib_errors: Any) -> None:
    order = sim_order(version, *_plain(), status=Status.SUBMITTED)
    fields = open_order(version, order)
    assert len(fields) == plain_open_order_length(version)
    name, (order_id, contract, decoded, state) = decode(version, fields)
    assert (name, order_id, decoded.orderId, decoded.clientId, decoded.permId) == (
        "openOrder", 42, 42, 5, 777,
    )  # fmt: skip
    assert (contract.symbol, contract.secType, contract.currency) == ("AAPL", "STK", "USD")
    assert (decoded.action, decoded.totalQuantity, decoded.lmtPrice) == ("BUY", 10, 150.5)
    assert (decoded.orderType, decoded.orderRef, state.status) == ("LMT", "r", "Submitted")
    assert decoded.auxPrice == 0  # TWS's 0 for an unset aux price
    assert (decoded.outsideRth, decoded.transmit, decoded.whatIf) == (False, True, False)


def test_plain_open_order_has_127_fields_at_178() -> None:
    assert plain_open_order_length(178) == 127


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_of_every_conditional_block(version: int, ib_errors: Any) -> None:
    contract_in, order_in = kitchen_sink()
    order = sim_order(version, contract_in, order_in, status=Status.PRE_SUBMITTED)
    _, (_, contract, decoded, state) = decode(version, open_order(version, order))
    assert contract.comboLegs == contract_in.comboLegs
    assert contract.deltaNeutralContract == contract_in.deltaNeutralContract
    assert [leg.price for leg in decoded.orderComboLegs] == [1.5, 2.5]
    assert decoded.smartComboRoutingParams == order_in.smartComboRoutingParams
    assert (decoded.deltaNeutralOrderType, decoded.deltaNeutralConId) == ("LMT", 9)
    assert (decoded.scalePriceIncrement, decoded.scaleAutoReset) == (0.05, True)
    assert (decoded.hedgeType, decoded.hedgeParam) == ("D", "0.5")
    assert decoded.algoParams == order_in.algoParams
    assert decoded.conditions == order_in.conditions
    assert decoded.conditionsCancelOrder is True
    # Fields near the end would be shifted by any miscount before them.
    assert (decoded.cashQty, decoded.usePriceMgmtAlgo, state.status) == (
        1234.5, True, "PreSubmitted",
    )  # fmt: skip
    assert decoded.autoCancelParent is (version >= 162)


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_of_pegged_orders(version: int, ib_errors: Any) -> None:
    _, (_, _, mid, _) = decode(version, open_order(version, sim_order(version, *peg_mid())))
    if version >= 170:
        assert (mid.midOffsetAtWhole, mid.midOffsetAtHalf) == (0.02, 0.01)
    _, (_, _, bench, _) = decode(version, open_order(version, sim_order(version, *peg_bench())))
    assert (bench.referenceContractId, bench.referenceExchangeId) == (8314, "NYSE")
    assert bench.peggedChangeAmount == 0.3


# --------------------------------------------------------------- completedOrder
@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order(version: int, ib_errors: Any) -> None:
    for contract_in, order_in in (_plain(), kitchen_sink(), peg_bench()):
        order = sim_order(version, contract_in, order_in, status=Status.FILLED)
        order.filled = Decimal(order.ticket.total_quantity)
        order.completed_at = NOW
        order.completed_status = "Filled"
        name, (contract, decoded, state) = decode(version, completed_order(version, order, 776))
        assert name == "completedOrder"
        assert (decoded.orderId, decoded.permId, decoded.parentPermId) == (0, 777, 776)
        assert decoded.filledQuantity == float(order.filled)
        assert (state.status, state.completedStatus) == ("Filled", "Filled")
        assert state.completedTime == "20250304 15:30:01 UTC"
        assert decoded.algoParams == order_in.algoParams
        assert decoded.conditions == order_in.conditions
        assert contract.comboLegs == contract_in.comboLegs


# ------------------------------------------------------- the other message kinds
def _execution(version: int) -> SimExecution:
    order = sim_order(version, *_plain())
    return SimExecution(
        exec_id="0000030.00000001.01.01", order=order, order_id=42, client_id=5, time=NOW,
        shares=Decimal(4), price=Decimal("150.25"), cum_qty=Decimal(4),
        avg_price=Decimal("150.25"), exchange="ISLAND", last_liquidity=2,
        commission=Decimal("1.00"), currency="USD", realized_pnl=None,
    )  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_details_and_commission_report(version: int, ib_errors: Any) -> None:
    ex = _execution(version)
    fields = msg.exec_details(version, -1, ex)
    assert len(fields) == 31 + (version >= 178)
    _, (req_id, contract, execution) = decode(version, fields)
    assert (req_id, execution.orderId, execution.permId, execution.clientId) == (-1, 42, 777, 5)
    assert (execution.shares, execution.price, execution.side) == (4, 150.25, "BOT")
    assert (execution.orderRef, execution.lastLiquidity, contract.symbol) == ("r", 2, "AAPL")
    assert execution.time == NOW
    _, (report,) = decode(version, msg.commission_report(ex))
    assert (report.execId, report.commission, report.currency) == (ex.exec_id, 1.0, "USD")
    assert report.realizedPNL > 1e300  # the sentinel: ib_async's wrapper turns it into 0


@pytest.mark.parametrize("version", VERSIONS)
def test_small_messages(version: int, ib_errors: Any) -> None:
    order = sim_order(version, *_plain(), status=Status.SUBMITTED)
    order.filled = Decimal(4)
    order.avg_fill_price = order.last_fill_price = Decimal("150.25")
    contract = order.ticket.raw
    cases: list[tuple[list[Any], str, tuple[Any, ...]]] = [
        (msg.managed_accounts(["DU1", "DU2"]), "managedAccounts", ("DU1,DU2",)),
        (msg.next_valid_id(17), "nextValidId", (17,)),
        (msg.order_status(order), "orderStatus",
         (42, "Submitted", 4.0, 6.0, 150.25, 777, 0, 150.25, 5, "", 0.0)),
        (msg.open_order_end(), "openOrderEnd", ()),
        (msg.completed_orders_end(), "completedOrdersEnd", ()),
        (msg.exec_details_end(9), "execDetailsEnd", (9,)),
        (msg.position_end(), "positionEnd", ()),
        (msg.account_value("NetLiquidation", "100", "USD", "DU1"), "updateAccountValue",
         ("NetLiquidation", "100", "USD", "DU1")),
        (msg.account_time(NOW), "updateAccountTime", ("15:30",)),
        (msg.account_download_end("DU1"), "accountDownloadEnd", ("DU1",)),
        (msg.account_update_multi(3, "DU1", "k", "v", "USD"), "accountUpdateMulti",
         (3, "DU1", "", "k", "v", "USD")),
        (msg.account_update_multi_end(3), "accountUpdateMultiEnd", (3,)),
        (msg.account_summary(4, "DU1", "NetLiquidation", "100", "USD"), "accountSummary",
         (4, "DU1", "NetLiquidation", "100", "USD")),
        (msg.account_summary_end(4), "accountSummaryEnd", (4,)),
        (msg.order_bound(777, 0, -1), "orderBound", (777, 0, -1)),
        (msg.current_time(NOW), "currentTime", (int(NOW.timestamp()),)),
    ]  # fmt: skip
    for fields, name, args in cases:
        assert decode(version, fields) == (name, args)
    _, (account, pos_contract, qty, avg) = decode(
        version, msg.position("DU1", contract, Decimal(-5), Decimal("10.5"))
    )
    assert (account, pos_contract.symbol, qty, avg) == ("DU1", "AAPL", -5.0, 10.5)
    _, portfolio = decode(
        version,
        msg.portfolio_value("DU1", contract, Decimal(2), Decimal(11), Decimal(10), Decimal(3)),
    )
    assert portfolio[1:] == (2.0, 11.0, 22.0, 10.0, 2.0, 3.0, "DU1")
    _, error = decode(version, msg.error(version, 42, 201, "rejected", "{}"))
    assert error == (42, 201, "rejected", "{}" if version >= 166 else "")


def test_handshake_reply_is_two_fields() -> None:
    assert msg.handshake_reply(178, NOW) == [178, "20250304 15:30:01 UTC"]


def test_field_encoding_pitfalls() -> None:
    assert [encode_field(v) for v in (True, False, 1, -1, None, "x")] == [
        "1", "0", "1", "-1", "", "x",
    ]  # fmt: skip
    assert encode_field(Decimal("100.0")) == "100"  # never "100.0" where an int may be read
    assert encode_field(Decimal("150.2500")) == "150.25"
    assert encode_field(Decimal("1E+2")) == "100"


def test_open_order_ticket_echoes_unknown_defaults() -> None:
    ticket = OrderTicket(order_id=1, raw={"orderType": "MKT", "action": "BUY"})
    order = SimOrder(ticket=ticket, client_id=1, order_id=1, perm_id=2, placed_at=NOW)
    assert len(open_order(178, order)) == 127


@pytest.mark.parametrize("version", VERSIONS)
def test_contract_details(version: int, ib_errors: Any) -> None:
    inst = Instrument(
        265598, "AAPL", primary_exchange="NASDAQ", long_name="APPLE INC", trading_class="NMS"
    )
    name, (req_id, details) = decode(version, msg.contract_details(version, 9, inst))
    assert (name, req_id) == ("contractDetails", 9)
    c = details.contract
    assert (c.conId, c.symbol, c.secType, c.exchange) == (265598, "AAPL", "STK", "SMART")
    assert (c.primaryExchange, c.currency, c.localSymbol, c.tradingClass) == (
        "NASDAQ", "USD", "AAPL", "NMS",
    )  # fmt: skip
    assert (details.minTick, details.longName, details.validExchanges) == (
        0.01, "APPLE INC", "SMART,NASDAQ",
    )  # fmt: skip
    # The last fields move with the version: a miscount would shift these.
    assert (details.stockType, details.timeZoneId) == ("COMMON", "US/Eastern")
    if version >= 164:
        assert (details.minSize, details.sizeIncrement, details.suggestedSizeIncrement) == (
            1,
            1,
            100,
        )
    assert decode(version, msg.contract_details_end(9)) == ("contractDetailsEnd", (9,))
