"""What the projection keeps per order and per fill beyond the domain's ``OrderState``, and the
notes of what changed since the last write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ordertrail.domain.facts import Origin
from ordertrail.domain.values import CommissionReport, ContractRef, Execution

if TYPE_CHECKING:
    from ordertrail.projections.positions import Position

# A row: its table's columns in schema order. Decimals may carry more than the tables' scale;
# ``arrow_table`` rounds them the way ``schema.dec`` does.
Row = tuple[Any, ...]
GroupKey = tuple[str, str]  # (kind, group key)
PositionKey = tuple[str, int, str]  # (account, conId, origin)
# Gives the stored state of a position the fold has not seen (None for a new one).
PositionLoader = Callable[[PositionKey], "Position | None"]


@dataclass(slots=True)
class OrderExtra:
    """What the projection knows of an order beyond its ``OrderState``."""

    order_id: UUID
    created_ib: datetime | None
    # str(order_id), once: every event row carries it and UUID.__str__ is not free.
    order_id_text: str = ""
    first_fill: tuple[datetime, int] | None = None
    first_fill_ib: datetime | None = None
    first_fill_recorded: datetime | None = None
    order_ref: str = ""
    events: int = 0
    notification_id: int = 0
    # The OCA group the order joined when it was created. Fixed then: IB fills in the account of
    # an order sent without one later (openOrder), and a group must not change its key.
    oca_key: str = ""


# The origin column of orders and fills, from the order's recorded origin: what a trader
# filters on (a dry run's fills are nobody's trades).
ORIGINS = {
    Origin.PLACED.value: "live",
    Origin.DRY_RUN.value: "dry-run",
    Origin.API.value: "api",
    Origin.MANUAL.value: "manual",
    Origin.DISCOVERED.value: "observed",
    Origin.FLEX.value: "flex",
}


def origin_of(recorded: str) -> str:
    return ORIGINS.get(recorded, recorded)


# A position's origin is its book. The dry run's simulated fills are a book of their own; every
# real fill of an account (placed by ordertrail, by another API client, by hand in TWS, or
# known from a Flex statement) moves the one position the broker holds, so those never split.
DRY_RUN_BOOK = "dry-run"
BROKER_BOOK = "live"


def book_of(origin: str) -> str:
    """The position book a fill of this origin (the orders' and fills' column) belongs to."""
    return DRY_RUN_BOOK if origin == DRY_RUN_BOOK else BROKER_BOOK


@dataclass(slots=True)
class FillRecord:
    """A current execution and what the journal says about it."""

    execution: Execution
    order_id: UUID
    order_key: str
    account: str
    contract: ContractRef
    # The order's terms when the fill was recorded: slippage is measured against them.
    limit_price: Decimal | None
    reference_price: Decimal | None
    ts_recorded: datetime
    first_recorded: datetime
    replaces_exec_id: str | None
    notification_id: int
    commission: CommissionReport | None = None
    origin: str = "live"

    @property
    def ts_ib(self) -> datetime:
        return self.execution.time or self.first_recorded

    @property
    def position_key(self) -> tuple[str, int, str]:
        return (self.account, self.contract.con_id, book_of(self.origin))


@dataclass(slots=True)
class Changes:
    """Rows touched since the last flush, each with the last notification id that touched it.
    The append-only tables' rows are kept as they are made, in notification order."""

    events: list[Row] = field(default_factory=list)  # EVENTS' columns
    history: list[Row] = field(default_factory=list)  # POSITION_HISTORY's columns
    orders: dict[str, int] = field(default_factory=dict)
    fills: dict[str, int] = field(default_factory=dict)
    positions: dict[PositionKey, int] = field(default_factory=dict)
    groups: dict[GroupKey, int] = field(default_factory=dict)

    def clear_appends(self) -> None:
        self.events = []
        self.history = []

    @property
    def size(self) -> int:
        return len(self.events) + len(self.history)
