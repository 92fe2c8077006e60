"""The state of one order, as the fold of its events leaves it.

A plain mutable object with slots: the aggregate holds one, and the fast rebuild folds straight
into one without constructing aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ordertrail.domain.facts import RequestKind
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec

ZERO = Decimal(0)


@dataclass(slots=True, eq=True)
class OrderState:
    order_key: str
    client_order_id: str | None
    perm_id: int | None
    origin: str
    contract: ContractRef
    spec: OrderSpec
    status: OrderStatus
    parent_key: str | None
    group_id: str | None
    created_at: datetime
    updated_at: datetime
    filled: Decimal = ZERO
    # Sum of shares * price over current executions: the average fill price is notional / filled.
    notional: Decimal = ZERO
    executions: dict[str, Execution] = field(default_factory=dict)
    commissions: dict[str, CommissionReport] = field(default_factory=dict)
    aliases: list[tuple[int, int]] = field(default_factory=list)
    # The last orderStatus as IB sent it, to recognise IB's repeats.
    last_report: tuple[object, ...] | None = None
    ib_filled: Decimal | None = None
    ib_remaining: Decimal | None = None
    ib_avg_fill_price: Decimal | None = None
    why_held: str = ""
    cancel_requested: bool = False
    pending_modification: OrderSpec | None = None
    # Modifies IB refused (201, 110 …): the order kept working on its old terms each time.
    modifications_refused: int = 0
    last_error: tuple[int, str] | None = None
    # How many requests had been sent when the last error came: the same error answering a
    # later request (a second cancel) is a new fact, not a repeat.
    last_error_request: int = 0
    last_request: RequestKind | None = None
    requests: int = 0
    errors: int = 0
    anomalies: list[str] = field(default_factory=list)
    cancelled_executions: list[str] = field(default_factory=list)
    denial: str | None = None
    # The trading mode its submission was approved in: paper, live or dry_run.
    mode: str | None = None

    @property
    def avg_fill_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None

    @property
    def fills_not_seen(self) -> Decimal:
        """Shares IB reports filled beyond the executions on record (completed orders after a
        restart, before reqExecutions answers; executions older than IB keeps). Closes as the
        executions arrive."""
        reported = self.ib_filled or ZERO
        return reported - self.filled if reported > self.filled else ZERO

    @property
    def acknowledged(self) -> bool:
        """IB has said something that shows it holds the order: a permId, a status, a fill."""
        return self.perm_id is not None or self.last_report is not None or self.filled > ZERO

    @property
    def remaining(self) -> Decimal:
        return max(self.spec.quantity - self.filled, ZERO)

    @property
    def commission_total(self) -> Decimal:
        return sum(
            (c.commission for c in self.commissions.values() if c.commission is not None), ZERO
        )

    @property
    def is_dry_run(self) -> bool:
        return self.origin == "dry_run"
