"""The quote the patience schedule crosses: IB's top of book can be one-sided (no bid on a deep
out-of-the-money option, no ask outside hours), locked or crossed (a stale side), and only a
two-sided, uncrossed quote has a spread to cross."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ordertrail.domain.planning import Quote, patience_schedule
from ordertrail.domain.values import OrderAction

D = Decimal


@pytest.mark.parametrize(
    ("quote", "spread"),
    [
        (Quote(D("99.98"), D("100.03")), D("0.05")),
        (Quote(D(100), D(100)), D(0)),  # locked: a real market with nothing between the sides
        (Quote(D("100.03"), D("99.98")), None),  # crossed: one side is stale
        (Quote(ask=D(100)), None),
        (Quote(bid=D(100)), None),
        (Quote(bid=D(0)), None),  # bid at zero, nobody offering
        (Quote(), None),
    ],
)
def test_a_quote_has_a_spread_only_when_both_sides_are_there_and_uncrossed(
    quote: Quote, spread: Decimal | None
) -> None:
    assert quote.spread == spread


@pytest.mark.parametrize(
    "quote", [Quote(D("100.50"), D("99.50")), Quote(ask=D("99.50")), Quote(bid=D("100.50"))]
)
def test_a_buy_crosses_a_crossed_or_one_sided_quote_by_the_estimate(quote: Quote) -> None:
    # Without a spread to trust, crossing moves 10 steps of 0.1 % of the mid toward the market:
    # never a price read off a stale side.
    plan = patience_schedule(
        OrderAction.BUY, mid=D(100), window=timedelta(seconds=60), quote=quote, escalations=0
    )
    assert [s.limit_price for s in plan.steps] == [D("100.00"), D("100.10"), D("101.00")]


def test_a_buy_crosses_a_locked_quote_at_its_ask_one_tick_past_the_step_before() -> None:
    # bid == ask: the market is at the mid, and crossing it pays the ask (the mid); each step
    # is at least a tick more aggressive than the one before, so the cross is one tick past
    # the step toward the market, never 1 % of the mid away as without a quote.
    plan = patience_schedule(
        OrderAction.BUY,
        mid=D(100),
        window=timedelta(seconds=60),
        quote=Quote(D(100), D(100)),
        escalations=0,
    )
    assert [s.limit_price for s in plan.steps] == [D("100.00"), D("100.10"), D("100.11")]
