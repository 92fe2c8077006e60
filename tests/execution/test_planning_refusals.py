"""What the planners refuse, and how they say it: a trader typing `ordertrail twap` or `patience`
reads the field and the reason, so both are part of the contract. Boundaries are checked on
both sides (a zero jitter is allowed, a jitter of 1 is not)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ordertrail.domain.errors import InvalidOrderSpec
from ordertrail.domain.planning import (
    PositionLeg,
    choose_route,
    closing_action,
    leg_order,
    open_legs,
    opening_action,
    patience_schedule,
    rolled_legs,
    twap_schedule,
    twap_slices,
)
from ordertrail.domain.values import ContractRef, OrderAction, OrderType, TimeInForce

D = Decimal
W = timedelta(seconds=30)
BUY, SELL = OrderAction.BUY, OrderAction.SELL


def no_jitter(low: float, high: float) -> float:
    return 0.0


def refusal(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(InvalidOrderSpec) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(caught.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((D(0), D(100)), "quantity: must be > 0, got 0"),
        ((D(-5), D(100)), "quantity: must be > 0, got -5"),
    ],
)
def test_routing_names_a_bad_quantity(args: tuple[D, D], message: str) -> None:
    assert refusal(choose_route, *args) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mid": D(0)}, "mid: must be > 0, got 0"),
        ({"window": timedelta(0)}, "window: must be positive, got 0:00:00"),
        ({"window": -W}, "window: must be positive, got -1 day, 23:59:30"),
        ({"escalations": -1}, "escalations: must be >= 0, got -1"),
    ],
)
def test_patience_names_what_it_refuses(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"mid": D(100), "window": W, **kwargs}
    assert refusal(patience_schedule, BUY, **args) == message


def test_patience_allows_no_escalation_and_a_sell_steps_down_by_at_least_a_tick() -> None:
    plan = patience_schedule(SELL, mid=D("1.00"), window=W, escalations=0)
    # 0.1 % of 1.00 is a tenth of a tick: each step is pushed to exactly one tick lower.
    assert [s.limit_price for s in plan.steps] == [D("1.00"), D("0.99"), D("0.98")]


def test_patience_rests_a_buy_below_an_odd_mid_and_a_sell_above_it() -> None:
    buy = patience_schedule(BUY, mid=D("100.005"), window=W, escalations=0)
    sell = patience_schedule(SELL, mid=D("100.005"), window=W, escalations=0)
    assert (buy.steps[0].limit_price, sell.steps[0].limit_price) == (D("100.00"), D("100.01"))


def test_patience_keeps_a_step_of_exactly_one_tick() -> None:
    # mid 10: the first step is 0.01, exactly a tick; it is kept as computed, not pushed further.
    plan = patience_schedule(BUY, mid=D(10), window=W, escalations=0)
    assert [s.limit_price for s in plan.steps] == [D("10.00"), D("10.01"), D("10.10")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((D(10), 0), "slices: must be >= 1, got 0"),
        ((D(0), 3), "quantity: must be > 0, got 0"),
        ((D(10), 3, D(0)), "quantity: must be > 0, got 10"),
        ((D(10), 3, D(-1)), "quantity: must be > 0, got 10"),
        ((D(150), 3, D(100)), "quantity: 150 is not a whole number of lots of 100"),
    ],
)
def test_twap_slices_name_what_they_refuse(args: tuple[object, ...], message: str) -> None:
    assert refusal(twap_slices, *args) == message


def test_twap_slices_of_one_lot_size() -> None:
    assert twap_slices(D(1), 1) == (D(1),)
    assert twap_slices(D(300), 2, D(100)) == (D(200), D(100))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": -W}, "duration: must not be negative, got -1 day, 23:59:30"),
        ({"jitter": 1.0}, "jitter: must be in [0, 1), got 1.0"),
        ({"jitter": -0.1}, "jitter: must be in [0, 1), got -0.1"),
    ],
)
def test_twap_schedule_names_what_it_refuses(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"duration": W, **kwargs}
    assert refusal(twap_schedule, D(10), 2, uniform=no_jitter, **args) == message


def test_twap_without_jitter_is_a_plain_clock_and_lots_are_kept() -> None:
    # 300 shares in round lots over 4 slices: three slices of a lot, 80 seconds apart.
    plan = twap_schedule(D(300), 4, timedelta(minutes=4), no_jitter, jitter=0.0, lot=D(100))
    assert [(s.at, s.quantity) for s in plan] == [
        (timedelta(seconds=t), D(100)) for t in (0, 80, 160)
    ]
    assert twap_schedule(D(10), 2, timedelta(0), no_jitter)[1].at == timedelta(0)


def test_a_late_slice_waits_longer_and_an_early_one_less() -> None:
    draws = iter([0.1, -0.1])
    plan = twap_schedule(D(3), 3, timedelta(seconds=30), lambda lo, hi: next(draws))
    assert [s.at for s in plan] == [timedelta(0), timedelta(seconds=11), timedelta(seconds=20)]


AAPL = ContractRef(265598, "AAPL")


@pytest.mark.parametrize("market_allowed", [True, False])
def test_a_leg_order_carries_the_side_quantity_tif_and_account(market_allowed: bool) -> None:
    leg = PositionLeg(AAPL, D(-40), mark=D(200))
    spec = leg_order(leg, BUY, market_allowed=market_allowed, tif=TimeInForce.GTC, account="DU77")
    assert (spec.action, spec.quantity, spec.tif, spec.account) == (
        BUY,
        D(40),
        TimeInForce.GTC,
        "DU77",
    )
    assert spec.order_type is (OrderType.MARKET if market_allowed else OrderType.LIMIT)
    assert spec.reference_price == D(200)
    plain = leg_order(leg, BUY, market_allowed=market_allowed)
    assert (plain.tif, plain.account) == (TimeInForce.DAY, "")


@pytest.mark.parametrize(("tick", "price"), [(D("0.01"), D("99.92")), (D("0.05"), D("99.90"))])
def test_a_closing_limit_lies_on_the_contracts_tick(tick: Decimal, price: Decimal) -> None:
    # 100.03 less 0.1 % is 99.92997: a sell limit on a coarser grid is rounded through the
    # market to the grid, or IB rejects the price as not a multiple of the minimum tick.
    leg = PositionLeg(AAPL, D(10), mark=D("100.03"))
    spec = leg_order(leg, SELL, market_allowed=False, offset=D("0.001"), tick=tick)
    assert spec.limit_price == price


@pytest.mark.parametrize(
    ("contract", "name"), [(AAPL, "AAPL"), (ContractRef(756733, ""), "756733")]
)
def test_a_closing_limit_without_a_mark_names_the_leg(contract: ContractRef, name: str) -> None:
    message = refusal(leg_order, PositionLeg(contract, D(5)), SELL, market_allowed=False)
    assert message == (
        f"mark: {name}: market orders are disallowed, so a marketable limit needs the leg's "
        "mark price"
    )


def test_closing_and_opening_sides_and_open_legs() -> None:
    long, short, flat = (PositionLeg(AAPL, D(q)) for q in ("1", "-1", "0"))
    assert [closing_action(leg) for leg in (long, short)] == [SELL, BUY]
    assert [opening_action(leg) for leg in (long, short)] == [BUY, SELL]
    assert closing_action(PositionLeg(AAPL, D("0.5"))) is SELL  # a fractional share is long
    assert open_legs([long, flat, short, PositionLeg(AAPL, D(1))]) == (long, short, long)


def test_a_roll_without_marks_leaves_them_unknown_and_names_a_count_mismatch() -> None:
    legs = [PositionLeg(AAPL, D(1), mark=D(5)), PositionLeg(AAPL, D(-2), mark=D(6))]
    assert [leg.mark for leg in rolled_legs(legs, "20270115")] == [None, None]
    assert refusal(rolled_legs, legs, "20270115", [D(1)]) == "marks: 1 marks for 2 legs"
