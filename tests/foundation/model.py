"""An independent model of one order, for the stateful tests: what the aggregate *should* hold
after any interleaving of commands and IB facts, written from the order's invariants (filled is
the sum of the current executions after corrections; an overfill is never silent; one commission
per execId; the average price is the executions' weighted mean) and the state table (not from
the aggregate's code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ordertrail.domain.ib_errors import CANCEL_CONFIRMATION, REJECTION_CODES
from ordertrail.domain.machine import WORKING, Trigger, outcome
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import IB_STATUSES, OrderStatus
from ordertrail.domain.values import CommissionReport, Execution, OrderSpec, exec_base_id
from tests.strategies import (
    CommissionReported,
    ErrorReport,
    ExecutionReport,
    Fact,
    OpenOrderReport,
    StatusReport,
)

# Codes that say nothing about a modify: farm status, order warnings, answers to a cancel,
# session messages.
WARNINGS = frozenset(
    {161, 326, 399, 404, 502, 504, 1100, 1101, 1102, 1300, 10147, 10148, 10167, 10349}
    | set(range(2100, 2200))
)


def revision_rank(exec_id: str) -> int:
    _head, dot, tail = exec_id.rpartition(".")
    return int(tail) if dot and tail.isdigit() else -1


@dataclass
class OrderModel:
    spec: OrderSpec
    status: OrderStatus
    executions: dict[str, Execution] = field(default_factory=dict)
    commissions: dict[str, CommissionReport] = field(default_factory=dict)
    last_report: tuple[object, ...] | None = None
    last_error: tuple[int, str] | None = None
    pending_modification: OrderSpec | None = None
    cancel_requested: bool = False
    # IB gave the order a permId (openOrder, orderStatus): it holds the order.
    perm_known: bool = False
    anomalies: int = 0
    overfills: int = 0

    @property
    def filled(self) -> Decimal:
        return sum((x.shares for x in self.executions.values()), Decimal(0))

    @property
    def avg_fill_price(self) -> Decimal | None:
        filled = self.filled
        if not filled:
            return None
        return sum((x.shares * x.price for x in self.executions.values()), Decimal(0)) / filled

    def move(self, trigger: Trigger, completes: bool = False) -> None:
        out = outcome(self.status, trigger, completes)
        assert out is not None, "facts have an edge from every state"
        self.status = out.dest
        self.anomalies += out.anomaly is not None

    @property
    def acknowledged(self) -> bool:
        return self.perm_known or self.last_report is not None or self.filled > 0

    def apply(self, fact: Fact, key_perm: int | None = None) -> bool:
        """Update the model; True when the aggregate should record something. ``key_perm``: the
        permId IB sent along with the fact, if any."""
        if key_perm and isinstance(fact, StatusReport | OpenOrderReport):
            self.perm_known = True
        match fact:
            case StatusReport():
                key = (
                    fact.raw_status,
                    fact.filled,
                    fact.remaining,
                    fact.avg_fill_price,
                    fact.why_held,
                )
                if key == self.last_report:
                    return False
                self.last_report = key
                if fact.raw_status in IB_STATUSES:
                    before = self.status
                    self.move(Trigger.for_status(OrderStatus(fact.raw_status)))
                    if before is OrderStatus.PENDING_CANCEL and self.status in (
                        OrderStatus.SUBMITTED,
                        OrderStatus.PRE_SUBMITTED,
                    ):
                        # IB put the order back to work: our cancel did not happen.
                        self.cancel_requested = False
                else:
                    self.anomalies += 1
                return True
            case ExecutionReport():
                x = fact.execution
                base = exec_base_id(x.exec_id)
                current = self.executions.get(base)
                if current is not None and revision_rank(x.exec_id) <= revision_rank(
                    current.exec_id
                ):
                    return False
                was_filled = self.status is OrderStatus.FILLED
                self.executions[base] = x
                self.move(Trigger.FILL, self.filled >= self.spec.quantity)
                if self.filled > self.spec.quantity:
                    self.anomalies += 1
                    self.overfills += 1
                if current is not None and was_filled and self.filled < self.spec.quantity:
                    # A correction took shares off a filled order: told, not hidden.
                    self.anomalies += 1
                return True
            case CommissionReported():
                base = exec_base_id(fact.report.exec_id)
                held = self.commissions.get(base)
                if held == fact.report or (
                    held is not None
                    and revision_rank(fact.report.exec_id) < revision_rank(held.exec_id)
                ):
                    return False
                self.commissions[base] = fact.report
                return True
            case ErrorReport():
                if self.last_error == (fact.code, fact.message):
                    return False
                self.last_error = (fact.code, fact.message)
                if fact.code == CANCEL_CONFIRMATION:
                    self.move(Trigger.CONFIRM_CANCEL)
                elif self.pending_modification is not None and fact.code not in WARNINGS:
                    # An error answering our modify refuses the modification, not the order.
                    self.pending_modification = None
                elif fact.code in REJECTION_CODES and not self.acknowledged:
                    # A rejection ends an order IB never showed it held; otherwise IB's own
                    # status decides.
                    self.move(Trigger.REJECT)
                elif fact.code in REJECTION_CODES and self.status in WORKING:
                    # Working by IB's word, rejected by its error: told, not resolved.
                    self.anomalies += 1
                if self.cancel_requested and fact.code in (161, 10147, 10148):
                    # IB refused our cancel: a later cancel must be possible.
                    self.cancel_requested = False
                return True
            case OpenOrderReport():
                terms = (fact.spec.quantity, fact.spec.limit_price, fact.spec.stop_price)
                if terms == (self.spec.quantity, self.spec.limit_price, self.spec.stop_price):
                    return False
                self.spec = self.spec.with_changes(
                    quantity=fact.spec.quantity,
                    limit_price=fact.spec.limit_price,
                    stop_price=fact.spec.stop_price,
                )
                self.pending_modification = None
                if self.filled > self.spec.quantity:
                    self.anomalies += 1
                    self.overfills += 1
                return True
        raise TypeError(fact)


def check_invariants(state: OrderState, model: OrderModel) -> None:
    """The order's invariants, against the live state and the model."""
    current = list(state.executions.values())
    # filled == sum of current executions (after corrections), in the state and the model
    assert state.filled == sum((x.shares for x in current), Decimal(0))
    assert state.filled == model.filled
    # a corrected execution replaces the one it corrects; a repeated execId changes nothing
    assert state.executions == model.executions
    # overfill is never silent
    if state.filled > state.spec.quantity:
        assert "overfill" in state.anomalies
    assert state.anomalies.count("overfill") == model.overfills
    # at most one commission per execId, the later replacing the earlier
    assert state.commissions == model.commissions
    assert all(exec_base_id(r.exec_id) == base for base, r in state.commissions.items())
    # avg fill price == quantity-weighted mean of current executions
    assert state.avg_fill_price == model.avg_fill_price
    # the status is what the table says
    assert state.status is model.status
    assert len(state.anomalies) == model.anomalies
    assert state.spec == model.spec
    assert state.remaining == max(state.spec.quantity - state.filled, Decimal(0))
