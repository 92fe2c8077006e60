"""Derived positions at a statement's end against the statement's ``OpenPositions``.

Positions key on (account, conId): symbols change under corporate actions.

* The store's position: every fill in the store (live or imported) dated up to the statement's
  ``toDate``, as the statement's end knows them (a cancel reported later still counts the fill),
  plus the statement's corporate actions and transfers that move quantity.
* The store records fills, never balances, so it cannot know a position held before its first
  fill. The statement may say: MTM summary rows carry ``prevCloseQuantity`` (the
  ``PriorPeriodPositions`` rows seen so far carry no quantity). With that opening, the expected
  end is opening + the statement's own activity (its fills, cancels and quantity moves), and a
  difference is a mismatch.
* Without an opening, a difference is not called a mismatch: it is a position held before what
  the store knows, and the implied opening balance is stated instead of guessed.
* No OpenPositions section (Trade Confirmations, many Activity queries): nothing to compare.
* Currency conversions (``assetCategory="CASH"``, USD.CHF) are not positions: IB states them as
  cash balances, and cash.py checks those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ordertrail.adapters.flex.dates import NEW_YORK
from ordertrail.adapters.flex.recorded import RecordedFills
from ordertrail.adapters.flex.rows import FlexFile, Statement

ZERO = Decimal(0)
Key = tuple[str, int]


class Verdict(enum.StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    OPENING_BALANCE_UNKNOWN = "opening_balance_unknown"
    NOTHING_TO_COMPARE = "nothing_to_compare"


def judge(
    stated: Decimal | None, derived: Decimal, opening: Decimal | None
) -> tuple[Verdict, Decimal | None]:
    """The verdict of a derived figure against the statement's, and, when the statement gives
    no opening, the opening its figure implies (stated, never guessed into the figures)."""
    if stated is None:
        return Verdict.NOTHING_TO_COMPARE, None
    if stated == derived:
        return Verdict.MATCH, None
    if opening is None:
        return Verdict.OPENING_BALANCE_UNKNOWN, stated - derived
    return Verdict.MISMATCH, None


def num(v: Decimal | None) -> str | None:
    # Strings keep Decimal exact in JSON (a float would not).
    return None if v is None else str(v)


@dataclass(frozen=True, slots=True)
class PositionCheck:
    account: str
    con_id: int
    symbol: str
    derived: Decimal
    statement: Decimal | None  # None: the statement has no OpenPositions section
    verdict: Verdict
    store_position: Decimal
    opening: Decimal | None  # the statement's own opening figure, when it carries one
    statement_activity: Decimal
    implied_opening: Decimal | None
    file: str
    from_date: date
    to_date: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "con_id": self.con_id,
            "symbol": self.symbol,
            "derived": num(self.derived),
            "statement": num(self.statement),
            "verdict": self.verdict.value,
            "store_position": num(self.store_position),
            "opening": num(self.opening),
            "statement_activity": num(self.statement_activity),
            "implied_opening": num(self.implied_opening),
            "difference": None if self.statement is None else num(self.statement - self.derived),
            "file": self.file,
            "from_date": self.from_date.isoformat(),
            "to_date": self.to_date.isoformat(),
        }


def _activity(st: Statement, key: Key) -> Decimal:
    """What the statement itself says moved: fills, TradeCancel rows (signed against the fill
    they bust) and quantity moves. Report-time, as IB's own OpenPositions counts it."""
    total = sum((f.signed for f in st.fills if (f.account, f.contract.con_id) == key), ZERO)
    total += sum((c.quantity for c in st.cancels if (c.account, c.con_id) == key), ZERO)
    return total + sum((m.quantity for m in st.moves if (m.account, m.con_id) == key), ZERO)


def _check(
    st: Statement, key: Key, symbol: str, known: RecordedFills, file: str, zone: ZoneInfo
) -> PositionCheck:
    account, con_id = key
    fills, _ = known.position(
        account, con_id, since=None, until=st.to_date, known_at=st.to_date, zone=zone
    )
    moved = sum((m.quantity for m in st.moves if (m.account, m.con_id) == key), ZERO)
    store_position = fills + moved
    activity = _activity(st, key)
    opening = st.openings.get(key)
    derived = store_position if opening is None else opening + activity
    stated = None
    if st.positions is not None:
        stated = sum((p.quantity for p in st.positions if (p.account, p.con_id) == key), ZERO)
    # Without an opening, derived is the store position: what it lacks is the opening.
    verdict, implied = judge(stated, derived, opening)
    return PositionCheck(
        account=account,
        con_id=con_id,
        symbol=symbol,
        derived=derived,
        statement=stated,
        verdict=verdict,
        store_position=store_position,
        opening=opening,
        statement_activity=activity,
        implied_opening=implied,
        file=file,
        from_date=st.from_date,
        to_date=st.to_date,
    )


def reconcile(
    flex: FlexFile, known: RecordedFills, *, zone: ZoneInfo = NEW_YORK
) -> list[PositionCheck]:
    """One check per (account, conId) the statement trades, moves or states, and, when it has
    an OpenPositions section, per position the store holds in its accounts that the statement
    omits (an omitted position is a statement of zero)."""
    checks: list[PositionCheck] = []
    for st in flex.statements:
        symbols: dict[Key, str] = {}
        for f in st.fills:
            if f.is_fx:
                continue  # a conversion moves two cash balances, not a position (cash.py)
            symbols.setdefault((f.account, f.contract.con_id), f.row.attrs.get("symbol", ""))
        for c in st.cancels:
            symbols.setdefault((c.account, c.con_id), c.row.attrs.get("symbol", ""))
        for m in st.moves:
            symbols.setdefault((m.account, m.con_id), m.symbol)
        for p in st.positions or ():
            symbols[(p.account, p.con_id)] = p.symbol
        mentioned = set(symbols)
        if st.positions is not None:
            accounts = {a for a, _ in symbols} | {st.account}
            for key in known.keys(known_at=st.to_date):
                if key[0] in accounts and key not in symbols:
                    symbols[key] = known.symbols.get(key[1], "")
        for key in sorted(symbols):
            check = _check(st, key, symbols[key], known, flex.name, zone)
            # A position the store closed long ago, and the statement omits, says nothing.
            if key in mentioned or check.derived != check.statement:
                checks.append(check)
    return checks
