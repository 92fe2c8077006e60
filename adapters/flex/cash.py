"""Cash balances moved by currency conversions, against what the statement states for cash.

A conversion (``assetCategory="CASH"``, symbol ``USD.CHF``) moves two balances: the base
currency by its quantity and the quote currency by its net cash. IB does not list it in
``OpenPositions``; it states the balances in ``FxPositions`` (non-base currencies) or in
``CashReport`` (``startingCash``/``endingCash`` per currency).

Every currency a conversion touched gets a check. The derived balance is the statement's own
opening (``CashReport`` ``startingCash``) plus every cash flow the statement shows in that
currency: trades' net cash (conversions included), commissions charged in it, and
``CashTransactions`` (dividends, interest, fees, deposits). Without an opening the difference
is an implied opening, not a mismatch. ``FxPositions`` lists non-base currencies only, so a
currency that neither it nor a ``CashReport`` states has nothing to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ordertrail.adapters.flex.reconcile import Verdict, judge, num
from ordertrail.adapters.flex.rows import FlexFile, Statement

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CashCheck:
    account: str
    currency: str
    derived: Decimal
    statement: Decimal | None
    verdict: Verdict
    opening: Decimal | None
    statement_activity: Decimal
    implied_opening: Decimal | None
    stated_by: str
    file: str
    from_date: date
    to_date: date

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "currency": self.currency,
            "derived": num(self.derived),
            "statement": num(self.statement),
            "verdict": self.verdict.value,
            "opening": num(self.opening),
            "statement_activity": num(self.statement_activity),
            "implied_opening": num(self.implied_opening),
            "difference": None if self.statement is None else num(self.statement - self.derived),
            "stated_by": self.stated_by or None,
            "file": self.file,
            "from_date": self.from_date.isoformat(),
            "to_date": self.to_date.isoformat(),
        }


def _converted(st: Statement) -> set[tuple[str, str]]:
    keys = set()
    for f in st.fills:
        if f.is_fx:
            base = f.contract.symbol.split(".", 1)[0]
            keys |= {(f.account, base), (f.account, f.contract.currency)}
    return keys


def _check(st: Statement, key: tuple[str, str], file: str) -> CashCheck:
    activity = sum((c.amount for c in st.cash_flows if (c.account, c.currency) == key), ZERO)
    opening = st.cash_opening.get(key)
    derived = activity if opening is None else opening + activity
    said = st.cash_stated.get(key)
    if said is None and "CashReport" in st.cash_sections:
        said = (ZERO, "CashReport")  # CashReport lists every currency held: absent is none
    stated, stated_by = (None, "") if said is None else said
    verdict, implied = judge(stated, derived, opening)
    return CashCheck(
        account=key[0],
        currency=key[1],
        derived=derived,
        statement=stated,
        verdict=verdict,
        opening=opening,
        statement_activity=activity,
        implied_opening=implied,
        stated_by=stated_by,
        file=file,
        from_date=st.from_date,
        to_date=st.to_date,
    )


def reconcile_cash(flex: FlexFile) -> list[CashCheck]:
    """One check per (account, currency) a conversion in the statement touched."""
    return [_check(st, key, flex.name) for st in flex.statements for key in sorted(_converted(st))]
