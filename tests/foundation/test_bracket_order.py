"""A bracket is refused before anything reaches IB when its legs could leave a position unguarded.

IB's own ``bracketOrder`` holds the parent and the take-profit (``transmit=False``) and lets the
stop-loss transmit all three; both children share an OCA group of type 1, so one filling cancels
the other. Each rule below is a way a hand-built bracket breaks that, named by the field at fault.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.errors import InvalidOrderSpec
from ordertrail.domain.values import (
    OrderAction,
    OrderSpec,
    OrderType,
    TimeInForce,
)

BUY, SELL = OrderAction.BUY, OrderAction.SELL


def bracket(
    action: OrderAction = BUY, entry: str = "100", tp: str = "110", sl: str = "95"
) -> BracketOrder:
    return BracketOrder.build(
        action=action,
        quantity=Decimal(300),
        entry_price=Decimal(entry),
        take_profit_price=Decimal(tp),
        stop_loss_price=Decimal(sl),
        oca_group="brk-1",
        tif=TimeInForce.GTC,
        account="DU123",
    )


def refused(field: str, **legs: object) -> InvalidOrderSpec:
    base = bracket()
    with pytest.raises(InvalidOrderSpec) as caught:
        replace(base, **legs)
    assert caught.value.field == field
    return caught.value


def test_build_makes_ibs_bracket_shape() -> None:
    b = bracket()
    p, tp, sl = b.parent, b.take_profit, b.stop_loss
    assert (p.action, p.order_type, p.limit_price) == (BUY, OrderType.LIMIT, Decimal(100))
    assert (tp.action, tp.order_type, tp.limit_price) == (SELL, OrderType.LIMIT, Decimal(110))
    assert (sl.action, sl.order_type, sl.stop_price) == (SELL, OrderType.STOP, Decimal(95))
    assert [leg.transmit for leg in (p, tp, sl)] == [False, False, True]
    assert [leg.oca_group for leg in (p, tp, sl)] == ["", "brk-1", "brk-1"]
    assert [leg.oca_type for leg in (p, tp, sl)] == [0, 1, 1]
    assert {leg.quantity for leg in (p, tp, sl)} == {Decimal(300)}
    assert {(leg.tif, leg.account) for leg in (p, tp, sl)} == {(TimeInForce.GTC, "DU123")}
    assert b.oca_group == "brk-1"


def test_a_short_bracket_mirrors_the_long_one() -> None:
    b = bracket(SELL, entry="100", tp="90", sl="105")
    assert (b.take_profit.action, b.stop_loss.action) == (BUY, BUY)
    assert (b.take_profit.limit_price, b.stop_loss.stop_price) == (Decimal(90), Decimal(105))


def test_a_bracket_needs_its_oca_group() -> None:
    assert str(refused("oca_group", oca_group="")) == "oca_group: a bracket needs an OCA group"


@pytest.mark.parametrize("leg", ["take_profit", "stop_loss"])
def test_each_child_closes_the_parent_in_full_in_the_brackets_group(leg: str) -> None:
    child: OrderSpec = getattr(bracket(), leg)
    same_side = replace(child, action=BUY)
    assert str(refused(f"{leg}.action", **{leg: same_side})) == (
        f"{leg}.action: a bracket child must close the parent"
    )
    fewer = child.with_changes(quantity=Decimal(200))
    assert str(refused(f"{leg}.quantity", **{leg: fewer})) == (
        f"{leg}.quantity: must equal the parent's quantity"
    )
    elsewhere = child.with_changes(oca_group="other")
    assert str(refused(f"{leg}.oca_group", **{leg: elsewhere})) == (
        f"{leg}.oca_group: children share the bracket's OCA group"
    )


def test_the_take_profit_needs_a_limit_and_the_stop_loss_a_stop() -> None:
    market_tp = OrderSpec(SELL, Decimal(300), OrderType.MARKET, oca_group="brk-1", oca_type=1,
                          transmit=False)  # fmt: skip
    assert str(refused("take_profit.limit_price", take_profit=market_tp)).endswith("required")
    limit_sl = OrderSpec(SELL, Decimal(300), OrderType.LIMIT, limit_price=Decimal(95),
                         oca_group="brk-1", oca_type=1)  # fmt: skip
    assert str(refused("stop_loss.stop_price", stop_loss=limit_sl)).endswith("required")


@pytest.mark.parametrize(
    ("action", "tp", "sl", "field", "words"),
    [
        (BUY, "100", "95", "take_profit.limit_price", "above the entry price 100"),
        (BUY, "99.99", "95", "take_profit.limit_price", "above the entry price 100"),
        (BUY, "110", "100", "stop_loss.stop_price", "below the entry price 100"),
        (BUY, "110", "100.01", "stop_loss.stop_price", "below the entry price 100"),
        (SELL, "100", "105", "take_profit.limit_price", "below the entry price 100"),
        (SELL, "100.01", "105", "take_profit.limit_price", "below the entry price 100"),
        (SELL, "90", "100", "stop_loss.stop_price", "above the entry price 100"),
        (SELL, "90", "99.99", "stop_loss.stop_price", "above the entry price 100"),
    ],
)
def test_exits_must_lie_on_their_side_of_the_entry(
    action: OrderAction, tp: str, sl: str, field: str, words: str
) -> None:
    with pytest.raises(InvalidOrderSpec) as caught:
        bracket(action, entry="100", tp=tp, sl=sl)
    assert caught.value.field == field
    assert str(caught.value) == f"{field}: must be {words}"


@pytest.mark.parametrize(
    ("action", "tp", "sl"), [(BUY, "100.01", "99.99"), (SELL, "99.99", "100.01")]
)
def test_exits_a_tick_from_the_entry_are_accepted(action: OrderAction, tp: str, sl: str) -> None:
    b = bracket(action, entry="100", tp=tp, sl=sl)
    assert (b.take_profit.limit_price, b.stop_loss.stop_price) == (Decimal(tp), Decimal(sl))


def test_the_entry_is_the_parents_limit_else_its_stop_and_a_market_entry_has_none() -> None:
    base = bracket()  # take-profit 110, stop-loss 95

    def parent(order_type: OrderType, limit: str | None, stop: str | None) -> OrderSpec:
        return OrderSpec(BUY, Decimal(300), order_type, transmit=False,
                         limit_price=None if limit is None else Decimal(limit),
                         stop_price=None if stop is None else Decimal(stop))  # fmt: skip

    assert replace(base, parent=parent(OrderType.STOP, None, "96")).parent.stop_price == 96
    low = parent(OrderType.STOP, None, "94")
    assert str(refused("stop_loss.stop_price", parent=low)).endswith("entry price 94")
    high = parent(OrderType.STOP, None, "111")
    assert str(refused("take_profit.limit_price", parent=high)).endswith("entry price 111")
    # A stop-limit enters at its limit: a stop at 94 does not make the stop-loss at 95 wrong.
    stop_limit = parent(OrderType.STOP_LIMIT, "100", "94")
    assert replace(base, parent=stop_limit).parent.limit_price == 100
    market = parent(OrderType.MARKET, None, None)
    anywhere = replace(base.take_profit, limit_price=Decimal(1))
    assert replace(base, parent=market, take_profit=anywhere).take_profit.limit_price == 1


@pytest.mark.parametrize(
    ("leg", "transmit"), [("parent", True), ("take_profit", True), ("stop_loss", False)]
)
def test_only_the_stop_loss_transmits(leg: str, transmit: bool) -> None:
    base = bracket()
    changed = replace(getattr(base, leg), transmit=transmit)
    assert str(refused("transmit", **{leg: changed})) == (
        "transmit: parent and take-profit hold (False); the stop-loss transmits (True)"
    )


def test_a_bracket_built_without_an_account_leaves_it_to_ib() -> None:
    b = BracketOrder.build(
        action=BUY,
        quantity=Decimal(1),
        entry_price=Decimal(10),
        take_profit_price=Decimal(11),
        stop_loss_price=Decimal(9),
        oca_group="g",
    )
    assert {(leg.account, leg.tif) for leg in (b.parent, b.take_profit, b.stop_loss)} == {
        ("", TimeInForce.DAY)
    }
