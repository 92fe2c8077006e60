"""What a Flex file holds once read: rows as IB wrote them, and the values the importer needs.

Every kept row carries its raw attributes, because parsers change and IB's statements do not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from ordertrail.domain.values import ContractRef, Side

# IB's attribute names are camelCase without underscores: ours cannot collide.
PROVENANCE_KEYS = ("flex_file", "flex_row", "flex_line", "flex_identity")


class Identity(enum.StrEnum):
    """Which key names a fill. Users choose a query's attributes; many leave IB's ids out."""

    EXEC_ID = "ibExecID"  # IB's execution id (live fills carry it too)
    TRADE_ID = "tradeID"  # IB's Flex trade id: stable across statements, unknown live
    DERIVED = "derived"  # neither: derived from the row's content and its ordinal


@dataclass(frozen=True, slots=True)
class RawRow:
    """A row as IB wrote it, and where."""

    element: str
    attrs: dict[str, str]
    line: int

    @property
    def kind(self) -> str:
        level = self.attrs.get("levelOfDetail", "")
        return f"{self.element}/{level}" if level else self.element

    def provenance(self, file_name: str, identity: Identity | None = None) -> dict[str, str]:
        prov = {
            **self.attrs,
            "flex_file": file_name,
            "flex_row": self.kind,
            "flex_line": str(self.line),
        }
        if identity is not None:
            prov["flex_identity"] = identity.value
        return prov


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (Activity ``Trade`` EXECUTION row or ``TradeConfirm`` row)."""

    row: RawRow
    account: str
    contract: ContractRef
    exec_id: str
    identity: Identity
    trade_id: str
    ib_order_id: int  # 0 when IB booked it without an order (expiries, some assignments)
    order_ref: str
    order_type: str
    side: Side
    shares: Decimal
    price: Decimal
    time: datetime | None  # None: the row gives a trade date but no time of day
    day: date  # the trade date, in the statement's zone
    exchange: str
    commission: Decimal | None  # live sign: positive is a cost
    commission_currency: str
    realized_pnl: Decimal | None
    # What the row says that no real fill can (kind, what): recorded as said, and flagged.
    flags: tuple[tuple[str, str], ...] = ()

    @property
    def signed(self) -> Decimal:
        return self.shares * self.side.sign

    @property
    def is_fx(self) -> bool:
        """A currency conversion (USD.CHF): it moves cash balances, not a position."""
        return self.contract.sec_type == "CASH"

    @property
    def content(self) -> tuple[object, ...]:
        """What two rows naming the same execution must agree on."""
        return (self.account, self.contract.con_id, self.side, self.shares, self.price, self.time)


@dataclass(frozen=True, slots=True)
class Cancel:
    """A ``TradeCancel`` row: IB busted the fill whose tradeID is ``orig_trade_id``."""

    row: RawRow
    account: str
    con_id: int
    orig_trade_id: str
    time: datetime
    reported_on: date | None
    quantity: Decimal  # signed, opposite to the busted fill's


@dataclass(frozen=True, slots=True)
class QuantityMove:
    """A corporate action or transfer that changes a position without a trade."""

    row: RawRow
    account: str
    con_id: int
    symbol: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class StatedPosition:
    account: str
    con_id: int
    symbol: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class CashFlow:
    """Cash in one currency that a row moves (a trade's net cash, a conversion's two legs, a
    cash transaction)."""

    account: str
    currency: str
    amount: Decimal
    line: int


@dataclass(slots=True)
class Statement:
    account: str
    from_date: date
    to_date: date
    kind: str  # "activity" or "trade_confirmation"
    line: int
    fills: list[Fill] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    order_rows: dict[int, RawRow] = field(default_factory=dict)
    moves: list[QuantityMove] = field(default_factory=list)
    # None: the statement has no OpenPositions section (nothing to reconcile against).
    positions: list[StatedPosition] | None = None
    # Opening quantities the statement itself carries (MTM summary prevCloseQuantity).
    openings: dict[tuple[str, int], Decimal] = field(default_factory=dict)
    skipped_rollups: int = 0
    # Cash: what rows move per currency, and what FxPositions/CashReport state at the ends.
    cash_flows: list[CashFlow] = field(default_factory=list)
    cash_opening: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    # (account, currency) -> (balance, the section that states it): FxPositions over CashReport.
    cash_stated: dict[tuple[str, str], tuple[Decimal, str]] = field(default_factory=dict)
    cash_sections: set[str] = field(default_factory=set)
    # OptionEAE rows (exercise, assignment, expiry) per (account, conid): signed quantity.
    eae: dict[tuple[str, int], Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class FlexFile:
    path: Path
    statements: list[Statement]
    warnings: list[str]

    @property
    def name(self) -> str:
        return self.path.name
