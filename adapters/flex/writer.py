"""The one place where the Flex importer turns its decisions into calls on the trail.

The importer decides in memory what a file adds (importer.py); this module is all it knows of
``OrderTrail`` and ``Order``: load or discover an order, record an execution, a commission, a
cancel or an anomaly, and save the file's orders in one call (all or nothing).

A conflicting execution (an execId IB used for other content) and an implausible value have
no domain event of their own yet: each is recorded as an ``AnomalyRecorded`` on the order,
beside the execution, so nothing the statement said is lost.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ordertrail.adapters.flex.rows import Fill
from ordertrail.adapters.flex.xmltree import FlexFileError
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain import events as ev
from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionBust,
    ExecutionReport,
    OrderObserved,
    Origin,
)
from ordertrail.domain.order import Order
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec


def execution_of(fill: Fill) -> Execution:
    return Execution(
        exec_id=fill.exec_id,
        time=fill.time,
        account=fill.account,
        exchange=fill.exchange,
        side=fill.side,
        shares=fill.shares,
        price=fill.price,
        perm_id=fill.ib_order_id,
        order_ref=fill.order_ref,
    )


class TrailWriter:
    def __init__(self, trail: OrderTrail) -> None:
        self.trail = trail
        self.touched: dict[UUID, Order] = {}

    def load(self, oid: UUID) -> Order:
        if oid not in self.touched:
            self.touched[oid] = self.trail.get(oid)
        return self.touched[oid]

    def discover(
        self,
        *,
        contract: ContractRef,
        spec: OrderSpec,
        ts_event: datetime | None,
        perm_id: int,
        client_order_id: str | None,
        provenance: dict[str, str],
    ) -> Order:
        fact = OrderObserved(
            contract=contract,
            spec=spec,
            origin=Origin.FLEX,
            ts_event=ts_event,
            perm_id=perm_id,
            client_order_id=client_order_id,
            provenance=provenance,
        )
        order = Order.observe(fact, ts_recorded=self.trail.clock())
        self.touched[order.id] = order
        return order

    def execution(self, order: Order, execution: Execution, provenance: dict[str, str]) -> bool:
        fact = ExecutionReport(execution, provenance=provenance)
        return order.record(fact, ts_recorded=self.trail.clock())

    def commission(self, order: Order, report: CommissionReport) -> bool:
        return order.record(CommissionReported(report), ts_recorded=self.trail.clock())

    def cancel(
        self, order: Order, exec_id: str, *, reason: str, ts_event: datetime, prov: dict[str, str]
    ) -> bool:
        bust = ExecutionBust(exec_id, reason=reason, ts_event=ts_event, provenance=prov)
        return order.record(bust, ts_recorded=self.trail.clock())

    def anomaly(
        self, order: Order, kind: str, *, expected: str, received: str, ts_event: datetime | None
    ) -> None:
        order.trigger_event(
            ev.AnomalyRecorded,
            timestamp=self.trail.clock(),
            ts_event=ts_event,
            kind=kind,
            expected=expected,
            received=received,
        )

    def save(self, path: object) -> None:
        """Every order the file touched, in one transaction."""
        pending = [o for o in self.touched.values() if o.pending_events]
        try:
            self.trail.save(*pending)
        except IntegrityError:
            raise FlexFileError(
                str(path), ["another writer changed these orders during the import; run it again"]
            ) from None
