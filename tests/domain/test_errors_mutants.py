"""The domain's errors say which field was wrong and why: what an adapter or the CLI shows the
person who wrote the policy or the order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordertrail.domain.errors import InvalidPolicy, OrdertrailError
from ordertrail.domain.risk import RiskPolicy


@pytest.mark.parametrize(
    "limit", ["max_order_quantity", "max_order_notional", "max_position", "price_band"]
)
@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal(-1)])
def test_a_limit_that_cannot_be_a_limit_is_refused_naming_the_limit(
    limit: str, value: Decimal
) -> None:
    with pytest.raises(InvalidPolicy) as refused:
        RiskPolicy(**{limit: value})  # type: ignore[arg-type]
    assert refused.value.field == limit
    assert str(refused.value).startswith(f"{limit}: must be")
    assert str(value) in str(refused.value)


def test_a_negative_open_order_limit_is_refused_naming_the_limit() -> None:
    with pytest.raises(InvalidPolicy) as refused:
        RiskPolicy(max_open_orders=-1)
    assert refused.value.field == "max_open_orders"
    assert str(refused.value).startswith("max_open_orders: must be")
    assert str(refused.value).endswith("-1")


def test_a_refused_policy_is_a_value_error_callers_can_catch_as_ours() -> None:
    with pytest.raises(InvalidPolicy) as refused:
        RiskPolicy(price_band=Decimal(-1))
    assert isinstance(refused.value, ValueError)
    assert isinstance(refused.value, OrdertrailError)


def test_limits_at_zero_or_off_are_limits() -> None:
    zero = RiskPolicy(
        max_order_quantity=Decimal(0),
        max_order_notional=Decimal(0),
        max_position=Decimal(0),
        price_band=Decimal(0),
        max_open_orders=0,
    )
    assert zero.max_open_orders == 0
    off = RiskPolicy(
        max_order_quantity=None,
        max_order_notional=None,
        max_position=None,
        price_band=None,
        max_open_orders=None,
    )
    assert off.max_order_quantity is None
