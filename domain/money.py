"""Conversion of IB's numbers into Decimal, honouring IB's "unset" sentinels.

IB's API sends doubles; an unset double is ``Double.MAX_VALUE`` (1.7976931348623157e308) and an
unset int is ``Integer.MAX_VALUE``. A sentinel must become ``None``, never a number: summing a
sentinel into a position would corrupt every figure after it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ordertrail.domain.errors import InvalidFact

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1
UNSET_DECIMAL_TEXT = "170141183460469231731687303715884105727"  # IB's UNSET_DECIMAL (2**127-1)
# No real quantity, price, commission or PnL comes near 10**12; a number that does is a sentinel
# that slipped through (a Flex attribute, a hand-typed 1e30) and would overflow the audit tables'
# decimal(38, 10) columns once multiplied (quantity x price), breaking every read after it.
MAX_MAGNITUDE = Decimal(10) ** 12

Number = Decimal | float | int | str


# The Decimal each double already read became. A session repeats few numbers many times (the
# quantities filled and remaining, a limit price, a commission): one object each is kept by
# every fact and event that holds it, instead of one per message. Only numbers that passed
# the checks below are here; bounded like every per-session memory.
_DOUBLES: dict[float, Decimal] = {}
DOUBLES_KEPT = 4096


def _to_decimal(value: Number, field: str) -> Decimal:
    if isinstance(value, float):
        found = _DOUBLES.get(value)
        if found is not None:
            return found
        # IB sends quantities as doubles: 50.0 is the quantity 50, and repr() is the shortest
        # string that round-trips, so 0.1 stays 0.1, not 0.1000000000000000055. A NaN or an
        # infinity becomes a Decimal that is not finite, refused below with the texts'.
        result = Decimal(int(value)) if value.is_integer() else Decimal(repr(value))
        _checked(result, value, field)
        if len(_DOUBLES) >= DOUBLES_KEPT:
            _DOUBLES.clear()
        _DOUBLES[value] = result
        return result
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidFact(field, value, "not a number") from None
    _checked(result, value, field)
    return result


def _checked(result: Decimal, value: Number, field: str) -> None:
    if not result.is_finite():
        raise InvalidFact(field, value, "not a finite number")
    if abs(result) >= MAX_MAGNITUDE:
        raise InvalidFact(field, value, f"beyond any real amount (>= {MAX_MAGNITUDE:.0E})")


def is_unset(value: Number | None) -> bool:
    """True for IB's unset sentinels and for empty fields."""
    if value is None:
        return True
    if isinstance(value, float):
        # Exactly Double.MAX_VALUE is IB's sentinel; infinity is not one (it is refused).
        return value == UNSET_DOUBLE
    if isinstance(value, int):
        return value == UNSET_INTEGER
    if isinstance(value, str):
        text = value.strip()
        return text == "" or text == UNSET_DECIMAL_TEXT or text == "1.7976931348623157E308"
    return value == Decimal(UNSET_DECIMAL_TEXT)


def price_or_none(value: Number | None, field: str) -> Decimal | None:
    """A price from IB: the sentinel or an empty field is None; NaN and infinity are refused."""
    if value is None or is_unset(value):
        return None
    return _to_decimal(value, field)


def quantity(value: Number | None, field: str) -> Decimal:
    """A quantity from IB: must be present, finite and not negative."""
    if value is None or is_unset(value):
        raise InvalidFact(field, value, "quantity is unset")
    result = _to_decimal(value, field)
    if result < 0:
        raise InvalidFact(field, value, "quantity is negative")
    return result


def decimal(value: Number, field: str) -> Decimal:
    """Any finite number (commissions, PnL): NaN and infinity are refused."""
    return _to_decimal(value, field)
