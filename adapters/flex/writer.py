"""The one place where the Flex importer turns its decisions into facts on the trail.

The importer decides what a file adds (importer.py) against what the store holds; this module
hands each decision to the trail service's one entrance, ``OrderTrail.record``, inside the
trail's unit of work: ``recording(path)`` makes the whole file one batch — recorded completely
or not at all. The importer keeps no aggregates, identity map or commit of its own.

A conflicting execution (an execId IB used for other content) and an implausible value are
recorded as ``AnomalyFound`` facts on the order, beside the execution, so nothing the statement
said is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from ordertrail.adapters.flex.rows import Fill
from ordertrail.adapters.flex.xmltree import FlexFileError
from ordertrail.adapters.trail import BatchNotSaved, FactKey, OrderTrail
from ordertrail.domain.facts import (
    AnomalyFound,
    CommissionReported,
    ExecutionBust,
    ExecutionReport,
    OrderFact,
    OrderObserved,
    Origin,
)
from ordertrail.domain.state import OrderState
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

    @contextmanager
    def recording(self, path: object) -> Iterator[None]:
        """One file, one unit of work: every fact of it is saved in one transaction, or none."""
        try:
            with self.trail.batch():
                yield
        except BatchNotSaved as e:
            why = "another writer changed these orders during the import; run it again"
            raise FlexFileError(str(path), [why if e.conflict else str(e)]) from None

    def find(self, oid: UUID) -> UUID | None:
        return oid if self.trail.exists(oid) else None

    def state(self, oid: UUID) -> OrderState:
        return self.trail.get(oid).state

    def discover(
        self,
        *,
        contract: ContractRef,
        spec: OrderSpec,
        ts_event: datetime | None,
        perm_id: int,
        client_order_id: str | None,
        provenance: dict[str, str],
    ) -> UUID:
        fact = OrderObserved(
            contract=contract,
            spec=spec,
            origin=Origin.FLEX,
            ts_event=ts_event,
            perm_id=perm_id,
            client_order_id=client_order_id,
            provenance=provenance,
        )
        return self.trail.observe(fact)

    def _record(self, oid: UUID, fact: OrderFact) -> bool:
        return bool(self.trail.record(FactKey(order=oid), fact))

    def execution(self, oid: UUID, execution: Execution, provenance: dict[str, str]) -> bool:
        return self._record(oid, ExecutionReport(execution, provenance=provenance))

    def commission(self, oid: UUID, report: CommissionReport) -> bool:
        return self._record(oid, CommissionReported(report))

    def cancel(
        self, oid: UUID, exec_id: str, *, reason: str, ts_event: datetime, prov: dict[str, str]
    ) -> bool:
        bust = ExecutionBust(exec_id, reason=reason, ts_event=ts_event, provenance=prov)
        return self._record(oid, bust)

    def anomaly(
        self, oid: UUID, kind: str, *, expected: str, received: str, ts_event: datetime | None
    ) -> None:
        self._record(oid, AnomalyFound(kind, expected, received, ts_event))
