"""Fills recorded live against the statement's fills for the same period: did the live record
miss anything, or record something IB's books do not have?

The comparison covers the part of the statement's period that the live record covers (from
the account's first live fill to its last): before the recorder ran, every statement fill
would be "missing", which says nothing. A statement fill pairs with a live fill by execId, or,
when the row has no execId, by content (account, conid, side, quantity, price, time within a
second) when exactly one live fill matches; several candidates are reported as ambiguous.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ordertrail.adapters.flex.identity import ContentIndex
from ordertrail.adapters.flex.recorded import RecordedFill, RecordedFills
from ordertrail.adapters.flex.rows import Fill, FlexFile, Identity, Statement
from ordertrail.domain.values import exec_base_id


class FillVerdict(enum.StrEnum):
    MISSING_LIVE = "missing_live"  # the statement has it, the live record does not
    MISSING_IN_STATEMENT = "missing_in_statement"  # recorded live, absent from IB's books
    DIFFERS = "differs"  # the same fill, with another price, quantity or commission
    AMBIGUOUS = "ambiguous"  # several live fills match a row without an execId


@dataclass(frozen=True, slots=True)
class FillCheck:
    verdict: FillVerdict
    account: str
    con_id: int
    exec_id: str
    side: str
    quantity: Decimal
    price: Decimal
    day: date
    detail: str
    file: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "account": self.account,
            "con_id": self.con_id,
            "exec_id": self.exec_id,
            "side": self.side,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "day": self.day.isoformat(),
            "detail": self.detail,
            "file": self.file,
        }


@dataclass(frozen=True, slots=True)
class FillComparison:
    """One statement's comparison: the window compared (None: no live fills in its period)."""

    account: str
    file: str
    window: tuple[date, date] | None
    paired: int
    checks: list[FillCheck]

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "file": self.file,
            "compared_from": None if self.window is None else self.window[0].isoformat(),
            "compared_to": None if self.window is None else self.window[1].isoformat(),
            "paired": self.paired,
            "checks": [c.as_dict() for c in self.checks],
        }


def _row_check(verdict: FillVerdict, f: Fill, detail: str, file: str) -> FillCheck:
    return FillCheck(
        verdict,
        f.account,
        f.contract.con_id,
        f.exec_id,
        f.side.value,
        f.shares,
        f.price,
        f.day,
        detail,
        file,
    )


def _differences(f: Fill, live: RecordedFill, commission: Decimal | None) -> list[str]:
    x = live.execution
    out = []
    if (x.side, x.shares) != (f.side, f.shares):
        out.append(f"quantity {x.side.value} {x.shares} live vs {f.side.value} {f.shares}")
    if x.price != f.price:
        out.append(f"price {x.price} live vs {f.price}")
    if commission is not None and f.commission is not None and commission != f.commission:
        out.append(f"commission {commission} live vs {f.commission}")
    return out


def _window(live: list[RecordedFill], st: Statement) -> tuple[date, date] | None:
    if not live:
        return None
    start = max(st.from_date, min(h.day for h in live))
    end = min(st.to_date, max(h.day for h in live))
    return (start, end) if start <= end else None


def compare_statement(st: Statement, known: RecordedFills, file: str) -> FillComparison:
    live = [h for h in known.fills.values() if h.live and h.account == st.account]
    window = _window(live, st)
    if window is None:
        return FillComparison(st.account, file, None, 0, [])
    start, end = window
    in_window = [h for h in live if start <= h.day <= end and h.cancelled_on is None]
    index = ContentIndex(in_window)
    paired: set[str] = set()
    checks: list[FillCheck] = []
    for f in st.fills:
        if not (start <= f.day <= end) or f.account != st.account:
            continue
        held = known.fills.get(exec_base_id(f.exec_id)) if f.identity is Identity.EXEC_ID else None
        found = [held] if held is not None and held.live else index.candidates(f)
        if len(found) > 1:
            ids = ", ".join(sorted(h.execution.exec_id for h in found))
            checks.append(_row_check(FillVerdict.AMBIGUOUS, f, f"live fills {ids}", file))
            continue
        if not found:
            checks.append(_row_check(FillVerdict.MISSING_LIVE, f, "not in the live record", file))
            continue
        (match,) = found
        paired.add(match.execution.base_id)
        index.claimed.add(match.execution.base_id)
        differs = _differences(f, match, known.commissions.get(match.execution.base_id))
        if differs:
            detail = f"live {match.execution.exec_id}: " + "; ".join(differs)
            checks.append(_row_check(FillVerdict.DIFFERS, f, detail, file))
    for h in in_window:
        if h.execution.base_id not in paired:
            x = h.execution
            checks.append(
                FillCheck(
                    FillVerdict.MISSING_IN_STATEMENT,
                    h.account,
                    h.con_id,
                    x.exec_id,
                    x.side.value,
                    x.shares,
                    x.price,
                    h.day,
                    "recorded live, not in the statement",
                    file,
                )
            )
    return FillComparison(st.account, file, window, len(paired), checks)


def compare_fills(flex: FlexFile, known: RecordedFills) -> list[FillComparison]:
    return [compare_statement(st, known, flex.name) for st in flex.statements]
