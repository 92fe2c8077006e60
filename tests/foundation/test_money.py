"""IB's numbers into Decimal (``domain/money.py``): its unset sentinels become None, never a
number; NaN, infinity, negative quantities and sentinels that slipped through are refused with
the field named; doubles keep the value IB meant (0.1 stays 0.1)."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from ordertrail.domain import money
from ordertrail.domain.errors import InvalidFact
from ordertrail.domain.money import (
    decimal,
    is_unset,
    price_or_none,
    quantity,
)


@pytest.fixture(autouse=True)
def _no_double_read_before() -> None:
    # A double read once is answered from memory after: every test here converts afresh,
    # whatever ran before it in the same process.
    money._DOUBLES.clear()


# The values IB's API sends for "unset", written here from their definitions rather than taken
# from the module under test: Java's Double.MAX_VALUE, Integer.MAX_VALUE, and the API's
# UNSET_DECIMAL (2**127 - 1).
UNSET_DOUBLE = sys.float_info.max
UNSET_INTEGER = 2**31 - 1
UNSET_DECIMAL_TEXT = str(2**127 - 1)


@pytest.mark.parametrize(
    "value",
    [
        None,
        UNSET_DOUBLE,
        UNSET_INTEGER,
        "",
        "   ",
        UNSET_DECIMAL_TEXT,
        f" {UNSET_DECIMAL_TEXT} ",
        "1.7976931348623157E308",
        Decimal(UNSET_DECIMAL_TEXT),
    ],
)
def test_every_unset_sentinel_is_unset(value: object) -> None:
    assert is_unset(value) is True  # type: ignore[arg-type]
    assert price_or_none(value, "lmtPrice") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [0.0, 1.5, UNSET_DOUBLE / 2, 0, UNSET_INTEGER - 1, "0", "12.5", Decimal(0), Decimal("1.5")],
)
def test_real_values_are_not_unset(value: object) -> None:
    assert is_unset(value) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (50.0, Decimal(50)),
        # repr() is the shortest text that round-trips: 0.1, not 0.1000000000000000055
        (0.1, Decimal("0.1")),
        (187.49, Decimal("187.49")),
        (-2.5, Decimal("-2.5")),
        (7, Decimal(7)),
        (" 12.50 ", Decimal("12.50")),
        (Decimal("3.25"), Decimal("3.25")),
    ],
)
def test_numbers_keep_the_value_ib_meant(value: object, expected: Decimal) -> None:
    got = decimal(value, "commission")  # type: ignore[arg-type]
    assert got == expected
    assert str(got) == str(expected)


def test_a_whole_double_becomes_a_whole_decimal_without_a_fraction() -> None:
    assert str(decimal(50.0, "shares")) == "50"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (float("-inf"), "not a finite number"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        (Decimal("NaN"), "not a finite number"),
        ("12,5", "not a number"),
        ("abc", "not a number"),
        (1e30, "beyond any real amount (>= 1E+12)"),
        (Decimal(10) ** 12, "beyond any real amount (>= 1E+12)"),
        (-(Decimal(10) ** 12), "beyond any real amount (>= 1E+12)"),
        ("1000000000000", "beyond any real amount (>= 1E+12)"),
    ],
)
def test_what_is_no_real_amount_is_refused_naming_the_field(value: object, reason: str) -> None:
    with pytest.raises(InvalidFact) as e:
        decimal(value, "realizedPNL")  # type: ignore[arg-type]
    assert (e.value.field, e.value.reason) == ("realizedPNL", reason)
    assert e.value.value is value  # as it came, not as it was read
    assert str(e.value).startswith("realizedPNL=")


def test_just_below_the_limit_is_a_real_amount() -> None:
    assert decimal("999999999999.99", "notional") == Decimal("999999999999.99")
    assert decimal(-999_999_999_999, "notional") == Decimal(-999_999_999_999)


def test_a_price_is_converted_and_a_negative_price_is_kept() -> None:
    # Spreads and some futures trade at negative prices: a price is not checked for sign here.
    assert price_or_none(" 410.25 ", "lmtPrice") == Decimal("410.25")
    assert price_or_none(-1.5, "lmtPrice") == Decimal("-1.5")
    with pytest.raises(InvalidFact, match="lmtPrice"):
        price_or_none(float("nan"), "lmtPrice")


@pytest.mark.parametrize("value", [None, UNSET_DOUBLE, UNSET_INTEGER, "", UNSET_DECIMAL_TEXT])
def test_an_unset_quantity_is_refused(value: object) -> None:
    with pytest.raises(InvalidFact) as e:
        quantity(value, "filled")  # type: ignore[arg-type]
    assert (e.value.field, e.value.reason) == ("filled", "quantity is unset")
    assert e.value.value is value  # the sentinel as IB sent it


def test_a_negative_quantity_is_refused_and_zero_is_a_quantity() -> None:
    with pytest.raises(InvalidFact) as e:
        quantity(-1.0, "remaining")
    assert (e.value.field, e.value.reason, e.value.value) == (
        "remaining",
        "quantity is negative",
        -1.0,
    )
    assert quantity(0.0, "remaining") == 0
    assert quantity("100", "remaining") == Decimal(100)


def test_a_quantity_that_is_no_number_is_refused_naming_its_field() -> None:
    with pytest.raises(InvalidFact) as e:
        quantity("1O0", "totalQuantity")
    assert (e.value.field, e.value.value, e.value.reason) == (
        "totalQuantity",
        "1O0",
        "not a number",
    )


def test_a_double_read_again_gives_the_decimal_it_gave_before() -> None:
    # Every message repeats a few numbers (filled, remaining, the limit price): a fact holds
    # the one Decimal each became, not a copy per message.
    first = quantity(37.25, "orderStatus.filled")
    again = quantity(37.25, "execution.shares")
    assert again == Decimal("37.25")
    assert again is first
    assert decimal(-0.0, "commission.realizedPNL") == Decimal(0)
    assert str(decimal(-0.0, "commission.realizedPNL")) == "0"


def test_a_double_refused_once_is_refused_every_time_naming_each_field() -> None:
    for field in ("orderStatus.filled", "execution.shares"):
        with pytest.raises(InvalidFact, match=field):
            quantity(float("nan"), field)
    # A negative number is a real amount (a PnL), but never a quantity, however often it
    # was read before as an amount.
    assert decimal(-12.5, "commission.realizedPNL") == Decimal("-12.5")
    with pytest.raises(InvalidFact, match=r"execution\.shares.*negative"):
        quantity(-12.5, "execution.shares")
    with pytest.raises(InvalidFact, match="beyond any real amount"):
        decimal(1e12, "commission.commission")
    with pytest.raises(InvalidFact, match="beyond any real amount"):
        decimal(1e12, "commission.realizedPNL")


def test_the_doubles_kept_are_bounded() -> None:
    for i in range(money.DOUBLES_KEPT):
        quantity(i + 0.5, "orderStatus.filled")
    assert len(money._DOUBLES) == money.DOUBLES_KEPT
    decimal(-1.5, "commission.realizedPNL")
    assert len(money._DOUBLES) == 1  # full: emptied before the next one was kept
    assert quantity(0.5, "orderStatus.filled") == Decimal("0.5")
