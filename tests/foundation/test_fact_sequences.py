"""Whole order lives as IB delivers them (``ib_fact_sequences``): any order, any repeats, any
missing commission report. Nothing is ever refused, the invariants hold at the end, and
delivering every fact twice records exactly what delivering it once does."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from ordertrail.domain.order import Order
from ordertrail.domain.values import ContractRef, OrderSpec
from tests.conftest import EPOCH
from tests.foundation.model import OrderModel, check_invariants
from tests.strategies import Fact, feed_order, ib_fact_sequences, order_specs

CONTRACT = ContractRef(265598, "AAPL")


@st.composite
def lives(draw: st.DrawFn) -> tuple[OrderSpec, list[Fact]]:
    spec = draw(order_specs())
    return spec, draw(ib_fact_sequences(spec, order_ref="OT-life-1", perm_id=4242))


def live(spec: OrderSpec, facts: list[Fact], *, twice: bool) -> tuple[Order, OrderModel]:
    order = Order.place(
        client_order_id="OT-life-1", contract=CONTRACT, spec=spec, ts_recorded=EPOCH
    )
    order.submit(client_id=1, order_id=1, ts_recorded=EPOCH)
    model = OrderModel(spec=spec, status=order.state.status)
    for n, fact in enumerate(facts):
        ts = EPOCH + timedelta(seconds=n + 1)
        assert feed_order(order, fact, ts) == model.apply(fact)
        if twice:
            assert feed_order(order, fact, ts) is False
    return order, model


@given(lives())
def test_any_delivery_keeps_the_invariants(life: tuple[OrderSpec, list[Fact]]) -> None:
    spec, facts = life
    order, model = live(spec, facts, twice=False)
    check_invariants(order.state, model)


@given(lives())
def test_delivering_every_fact_twice_changes_nothing(life: tuple[OrderSpec, list[Fact]]) -> None:
    spec, facts = life
    once, _ = live(spec, facts, twice=False)
    twice, _ = live(spec, facts, twice=True)
    assert twice.state == once.state
    assert twice.version == once.version
