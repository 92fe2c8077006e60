"""Which stored fill a statement's row is, when IB's ids are there and when they are not.

Users choose their Flex query's attributes, and many leave out ``ibExecID``, ``tradeID`` and
``ibOrderID``. The statement is still their authoritative history, so a row without IB's
execution id gets a key derived from what identifies a fill in the statement: account, conid,
time (or trade date), side, quantity, price, and the row's ordinal among identical rows (two
fills of 100 at the same second and price are two fills). Re-importing the same or an
overlapping statement derives the same keys, so nothing is recorded twice.

Two keys of the same kind are comparable: different ids are different fills. Keys of different
kinds (a live execId and a statement without ids) are not, so such a row is matched by content
with fills recorded before this file: exactly one candidate merges; several are reported, not
guessed (docs/adr/0040-flex-identity-without-ids.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from ordertrail.adapters.flex.recorded import RecordedFill
from ordertrail.adapters.flex.rows import Fill, Identity

# Flex writes dateTime to the second; IB's live execution time is also to the second.
MATCH_TOLERANCE = timedelta(seconds=1)
# An order key for a fill IB booked without an order id: negative, so no real permId equals
# it, and under 2**60 so every store keeps it whole.
_KEY_BITS = 15


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _when(fill: Fill) -> str:
    return fill.time.isoformat() if fill.time is not None else fill.day.isoformat()


def with_derived_keys(fills: list[Fill]) -> list[Fill]:
    """The statement's fills, those without IB's ids keyed by content and ordinal."""
    seen: Counter[tuple[object, ...]] = Counter()
    out: list[Fill] = []
    for f in fills:
        if f.identity is not Identity.DERIVED:
            out.append(f)
            continue
        what = (
            f.account,
            f.contract.con_id,
            _when(f),
            f.side.value,
            f.shares.normalize(),
            f.price.normalize(),
        )
        ordinal = seen[what]
        seen[what] += 1
        out.append(replace(f, exec_id=f"FLEX-D{_digest(*what, ordinal)[:24]}"))
    return out


def order_key(fill: Fill) -> int:
    """IB's order id; without one (an expiry, or a query without ``ibOrderID``), the fill is an
    order of its own, keyed by minus its tradeID or by its derived key."""
    if fill.ib_order_id:
        return fill.ib_order_id
    if fill.trade_id.isdigit():
        return -int(fill.trade_id)
    return -int(_digest(fill.exec_id)[:_KEY_BITS], 16)


def conflict_id(fill: Fill) -> str:
    """The key of a row whose execution id IB already used for other content: both are kept,
    so the second needs a key of its own, the same on every import."""
    return f"FLEX-X{_digest(fill.exec_id, *fill.content)[:24]}"


def differing_fields(held: tuple[object, ...], row: tuple[object, ...]) -> list[str]:
    names = ("account", "conid", "side", "quantity", "price", "time")
    out = []
    for name, a, b in zip(names, held, row, strict=True):
        if name == "time":
            # A row without a time of day says nothing against a time.
            if a is not None and b is not None and abs(a - b) > MATCH_TOLERANCE:  # type: ignore[operator]
                out.append(f"time {a} vs {b}")
        elif a != b:
            out.append(f"{name} {a} vs {b}")
    return out


class ContentIndex:
    """Fills recorded before this file, by what a fill is, for rows whose key cannot be
    compared with the stored fill's key."""

    def __init__(self, held: Iterable[RecordedFill]) -> None:
        self._by: dict[tuple[object, ...], list[RecordedFill]] = {}
        for h in held:
            if h.cancelled_on is None:
                x = h.execution
                self._by.setdefault((h.account, h.con_id, x.side, x.shares, x.price), []).append(h)
        self.claimed: set[str] = set()

    def candidates(self, fill: Fill) -> list[RecordedFill]:
        key = (fill.account, fill.contract.con_id, fill.side, fill.shares, fill.price)
        out = []
        for h in self._by.get(key, ()):
            if h.identity is fill.identity or h.execution.base_id in self.claimed:
                continue
            t = h.execution.time
            if t is not None and fill.time is not None:
                if abs(t - fill.time) <= MATCH_TOLERANCE:
                    out.append(h)
            elif h.day == fill.day:
                out.append(h)
        return out
