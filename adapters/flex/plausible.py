"""Values a Flex row can hold that no real fill has: recorded as the statement says, flagged.

IB's statements are the user's history, so a strange value is never corrected on the way in
(a multiplier of 0 silently stored as 1, an empty dateTime stored as midnight New York, hide
what the file said). Each flag becomes an anomaly on the fill's order and a warning.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

# No exchange IB reaches traded electronically before this; a year 0001 is an unset field.
EARLIEST_PLAUSIBLE = date(1970, 1, 1)
# Futures, their spreads and combos can trade below zero (crude oil did in April 2020).
NEVER_NEGATIVE = frozenset({"STK", "OPT", "FOP", "WAR", "CASH", "FUND", "BOND", "IOPT"})


class FlexFlag(enum.StrEnum):
    TIME_MISSING = "flex_time_missing"
    IMPLAUSIBLE_DATE = "flex_implausible_date"
    NEGATIVE_PRICE = "flex_negative_price"
    INVALID_MULTIPLIER = "flex_invalid_multiplier"


def flags(
    *,
    raw_time: str,
    time: datetime | None,
    day: date,
    sec_type: str,
    price: Decimal,
    raw_multiplier: Decimal | None,
) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    if time is None:
        out.append(
            (
                FlexFlag.TIME_MISSING,
                f"dateTime={raw_time!r} gives no time of day: the trade date {day} is kept, "
                "no time is recorded",
            )
        )
    if day < EARLIEST_PLAUSIBLE:
        out.append((FlexFlag.IMPLAUSIBLE_DATE, f"trade date {day} is before {EARLIEST_PLAUSIBLE}"))
    if price < 0 and sec_type in NEVER_NEGATIVE:
        out.append((FlexFlag.NEGATIVE_PRICE, f"price {price} is negative for a {sec_type}"))
    if raw_multiplier is not None and raw_multiplier <= 0:
        out.append(
            (
                FlexFlag.INVALID_MULTIPLIER,
                f"multiplier={raw_multiplier} is no multiplier: the contract records 1 (the only "
                "value it can hold without one), the row's own value is in the provenance",
            )
        )
    return tuple(out)
