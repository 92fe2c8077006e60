"""The pure planners: routing, the patience schedule, TWAP slicing, close and roll orders."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.domain.errors import InvalidOrderSpec
from ordertrail.domain.planning import (
    PositionLeg,
    Quote,
    Route,
    choose_route,
    leg_order,
    marketable_limit,
    patience_schedule,
    rolled_legs,
    twap_schedule,
    twap_slices,
)
from ordertrail.domain.values import ContractRef, OrderAction, OrderType

D = Decimal
AAPL = ContractRef(265598, "AAPL")
W = timedelta(seconds=60)


# ---- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "adv", "route", "participation"),
    [
        (D(99), D(10_000), Route.LIMIT_WITH_PATIENCE, D("0.0099")),
        (D(100), D(10_000), Route.TWAP, D("0.01")),  # at the threshold: TWAP
        (D(101), D(10_000), Route.TWAP, D("0.0101")),
        (D(1), D(0), Route.TWAP, D(1)),  # no volume known: max(ADV, 1)
        (D("0.5"), D("0.2"), Route.TWAP, D("0.5")),
    ],
)
def test_routing_by_participation(qty: D, adv: D, route: Route, participation: D) -> None:
    decision = choose_route(qty, adv)
    assert decision.route is route
    assert decision.participation == participation


def test_routing_refuses_a_non_positive_quantity() -> None:
    with pytest.raises(InvalidOrderSpec):
        choose_route(D(0), D(100))


# ---- limit with patience ---------------------------------------------------------------------


def test_patience_schedule_for_a_buy_without_a_quote() -> None:
    plan = patience_schedule(OrderAction.BUY, mid=D(150), window=W)
    got = [(s.at, s.limit_price, s.reason) for s in plan.steps]
    assert got == [
        (timedelta(0), D("150.00"), "limit at the mid"),
        (W, D("150.15"), "step toward the market"),  # 0.1 % of the mid
        (W * 3 / 2, D("151.50"), "cross the spread"),  # 10 steps as the spread estimate
        (W * 7 / 4, D("151.65"), "beyond the spread"),  # a quarter window later
        (W * 15 / 8, D("151.80"), "beyond the spread"),  # an eighth
    ]
    assert plan.ends_at == W * 31 / 16


def test_patience_schedule_for_a_sell_uses_the_quote_and_rounds_to_ticks() -> None:
    plan = patience_schedule(
        OrderAction.SELL,
        mid=D("100.005"),
        window=W,
        quote=Quote(D("99.98"), D("100.03")),
        escalations=0,
    )
    prices = [s.limit_price for s in plan.steps]
    # The mid rounds away from the market (passive); later steps round toward it. The quoted
    # spread (99.955) is tighter than the first step (0.1 %): crossing still moves one tick.
    assert prices == [D("100.01"), D("99.90"), D("99.89")]
    assert plan.ends_at == W * 3 / 2 + W / 4


def test_patience_steps_always_move_toward_the_market_by_a_tick() -> None:
    # 0.1 % of a 1.00 mid is less than a tick: each step still moves by one.
    plan = patience_schedule(OrderAction.BUY, mid=D(1), window=W, escalations=3)
    prices = [s.limit_price for s in plan.steps]
    assert all(b - a >= D("0.01") for a, b in itertools.pairwise(prices))


@given(
    mid=st.decimals(D("0.05"), D(100_000), places=3),
    action=st.sampled_from(OrderAction),
    escalations=st.integers(0, 5),
)
def test_patience_schedule_is_monotone_in_time_and_price(
    mid: D, action: OrderAction, escalations: int
) -> None:
    plan = patience_schedule(action, mid=mid, window=W, escalations=escalations)
    assert len(plan.steps) == 3 + escalations
    times = [s.at for s in plan.steps]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert plan.ends_at > times[-1]
    prices = [s.limit_price * action.sign for s in plan.steps]
    assert all(b > a for a, b in itertools.pairwise(prices))


def test_patience_schedule_refuses_nonsense() -> None:
    with pytest.raises(InvalidOrderSpec):
        patience_schedule(OrderAction.BUY, mid=D(0), window=W)
    with pytest.raises(InvalidOrderSpec):
        patience_schedule(OrderAction.BUY, mid=D(1), window=timedelta(0))


# ---- TWAP --------------------------------------------------------------------------------------


def test_twap_slices_give_the_remainder_to_the_first_slices() -> None:
    assert twap_slices(D(13), 5) == (D(3), D(3), D(3), D(2), D(2))
    assert twap_slices(D(10), 5) == (D(2),) * 5
    assert twap_slices(D(3), 5) == (D(1),) * 3  # never an empty slice


def test_twap_slices_in_lots() -> None:
    assert twap_slices(D(700), 3, lot=D(100)) == (D(300), D(200), D(200))
    with pytest.raises(InvalidOrderSpec):
        twap_slices(D(250), 3, lot=D(100))
    with pytest.raises(InvalidOrderSpec):
        twap_slices(D(10), 0)


@given(qty=st.integers(1, 100_000), n=st.integers(1, 50))
def test_twap_slices_sum_exactly_to_the_quantity(qty: int, n: int) -> None:
    sizes = twap_slices(D(qty), n)
    assert sum(sizes) == qty
    assert len(sizes) == min(n, qty)
    assert max(sizes) - min(sizes) <= 1
    assert list(sizes) == sorted(sizes, reverse=True)


@given(
    qty=st.integers(1, 10_000),
    n=st.integers(1, 20),
    draws=st.lists(st.floats(-0.2, 0.2), min_size=20, max_size=20),
)
def test_twap_intervals_are_jittered_within_twenty_percent(
    qty: int, n: int, draws: list[float]
) -> None:
    source = iter(draws)
    calls: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return next(source)

    duration = timedelta(minutes=10)
    plan = twap_schedule(D(qty), n, duration, uniform)
    assert sum(s.quantity for s in plan) == qty
    assert plan[0].at == timedelta(0)
    base = duration / len(plan)
    for a, b in itertools.pairwise(plan):
        assert base * 0.8 - timedelta(microseconds=1) <= b.at - a.at
        assert b.at - a.at <= base * 1.2 + timedelta(microseconds=1)
    assert set(calls) <= {(-0.2, 0.2)}


def test_twap_refuses_a_random_source_outside_the_jitter() -> None:
    with pytest.raises(ValueError, match="outside"):
        twap_schedule(D(10), 2, timedelta(seconds=10), lambda lo, hi: 0.5)


# ---- closing and rolling ------------------------------------------------------------------------


def test_closing_orders_are_marketable_limits_unless_market_orders_are_allowed() -> None:
    long = PositionLeg(AAPL, D(100), mark=D(150))
    short = PositionLeg(AAPL, D(-7), mark=D("99.99"))
    sell = leg_order(long, OrderAction.SELL, market_allowed=False)
    assert (sell.order_type, sell.limit_price, sell.quantity) == (
        OrderType.LIMIT,
        D("149.25"),
        D(100),
    )
    buy = leg_order(short, OrderAction.BUY, market_allowed=False)
    assert (buy.limit_price, buy.quantity, buy.reference_price) == (D("100.49"), D(7), D("99.99"))
    mkt = leg_order(long, OrderAction.SELL, market_allowed=True)
    assert (mkt.order_type, mkt.limit_price, mkt.reference_price) == (
        OrderType.MARKET,
        None,
        D(150),
    )
    with pytest.raises(InvalidOrderSpec, match="mark"):
        leg_order(PositionLeg(AAPL, D(1)), OrderAction.SELL, market_allowed=False)
    assert marketable_limit(OrderAction.BUY, D(10), D("0.01"), D("0.25")) == D("10.25")


def test_rolled_legs_move_to_the_new_expiry() -> None:
    es = ContractRef(
        495512557, "ES", "FUT", "CME", multiplier=D(50), expiry="20240621", local_symbol="ESM4"
    )
    (new,) = rolled_legs([PositionLeg(es, D(-3), D(5000))], "20240920", [D(5010)])
    assert new.contract.expiry == "20240920"
    assert (new.contract.con_id, new.contract.local_symbol) == (0, None)
    assert (new.contract.symbol, new.contract.multiplier) == ("ES", D(50))
    assert (new.quantity, new.mark) == (D(-3), D(5010))
    with pytest.raises(InvalidOrderSpec):
        rolled_legs([PositionLeg(es, D(1))], "20240920", [])
