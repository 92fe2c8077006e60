"""The same interleavings through the OrderTrail service on a real SQLite file: facts routed by
orderRef, permId or the session alias, commission reports held until their execution arrives,
and the state rebuilt from the store (fast fold and repository.get) equal to the live state."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import OrderObserved, Origin
from ordertrail.domain.order import Order
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    exec_base_id,
)
from tests.conftest import EPOCH
from tests.foundation.model import OrderModel, check_invariants
from tests.strategies import (
    CommissionReported,
    ExecutionReport,
    Fact,
    commission_reports,
    corrections,
    error_facts,
    exec_ids,
    executions,
    feed_order,
    feed_trail,
    prices,
    quantities,
    status_facts,
)

CONTRACT = ContractRef(756733, "SPY", exchange="ARCA")
COID = "OT-trail-1"
PERM = 987_654_321
CLIENT_ID, ORDER_ID = 7, 42


class TrailLifecycle(RuleBasedStateMachine):
    """One order through the service, mirrored by a live in-memory aggregate and the model."""

    executions = Bundle("executions")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="ordertrail-stateful-"))
        self.now = EPOCH
        self.trail = OrderTrail(StoreConfig.resolve(self.dir), clock=lambda: self.now)
        self.held: dict[str, CommissionReport] = {}
        self.last_fact: Fact | None = None
        self.key_choices: list[FactKey] = []

    def teardown(self) -> None:
        self.trail.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def step(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    @initialize(
        quantity=quantities(300),
        limit=prices(),
        action=st.sampled_from(list(OrderAction)),
        discovered=st.booleans(),
    )
    def create(
        self, quantity: Decimal, limit: Decimal, action: OrderAction, discovered: bool
    ) -> None:
        spec = OrderSpec(action, quantity, OrderType.LIMIT, limit_price=limit)
        ts = self.step()
        if discovered:
            self.oid = self.trail.observe(
                OrderObserved(contract=CONTRACT, spec=spec, perm_id=PERM, origin=Origin.DISCOVERED)
            )
            self.live = Order.observe(
                OrderObserved(contract=CONTRACT, spec=spec, perm_id=PERM, origin=Origin.DISCOVERED),
                ts_recorded=ts,
            )
            self.key_choices = [FactKey(perm_id=PERM), FactKey(order_ref="manual", perm_id=PERM)]
        else:
            self.oid = self.trail.place(client_order_id=COID, contract=CONTRACT, spec=spec)
            self.live = Order.place(
                client_order_id=COID, contract=CONTRACT, spec=spec, ts_recorded=ts
            )
            self.trail.submit(self.oid, client_id=CLIENT_ID, order_id=ORDER_ID)
            self.live.submit(client_id=CLIENT_ID, order_id=ORDER_ID, ts_recorded=ts)
            self.key_choices = [
                FactKey(order_ref=COID),
                FactKey(order_ref=COID, perm_id=PERM, client_id=CLIENT_ID, order_id=ORDER_ID),
                FactKey(client_id=CLIENT_ID, order_id=ORDER_ID),
            ]
        assert self.oid == self.live.id
        self.model = OrderModel(spec=spec, status=self.live.state.status, perm_known=discovered)
        self.live.collect_events()

    # ---- commands -----------------------------------------------------------------------------

    @rule()
    def request_cancel(self) -> None:
        ts = self.step()
        try:
            self.live.request_cancel(ts_recorded=ts)
        except CommandRefused:
            count = len(self.trail.history(self.oid))
            try:
                self.trail.request_cancel(self.oid)
            except CommandRefused:
                assert len(self.trail.history(self.oid)) == count
                return
            raise AssertionError("the service accepted what the aggregate refused") from None
        self.trail.request_cancel(self.oid)
        self.model.cancel_requested = True

    @rule(limit=prices())
    def request_modify(self, limit: Decimal) -> None:
        new = self.model.spec.with_changes(limit_price=limit)
        ts = self.step()
        try:
            self.live.request_modify(new, ts_recorded=ts)
        except CommandRefused:
            count = len(self.trail.history(self.oid))
            try:
                self.trail.request_modify(self.oid, new)
            except CommandRefused:
                assert len(self.trail.history(self.oid)) == count
                return
            raise AssertionError("the service accepted what the aggregate refused") from None
        self.trail.request_modify(self.oid, new)
        self.model.pending_modification = new

    # ---- facts --------------------------------------------------------------------------------

    def fact(self, fact: Fact, key_index: int) -> None:
        key = self.key_choices[key_index % len(self.key_choices)]
        ts = self.step()
        if isinstance(fact, CommissionReported):
            base = exec_base_id(fact.report.exec_id)
            if base not in self.live.state.executions:
                # Reports carry no clientId or order id: until the execution is known, the
                # service holds the report and records nothing.
                assert feed_trail(self.trail, key, fact) is None
                self.held[base] = fact.report
                self.last_fact = fact
                return
        expected = self.model.apply(fact, key.perm_id)
        assert feed_order(self.live, fact, ts, key) == expected
        assert feed_trail(self.trail, key, fact) == expected, fact
        if isinstance(fact, ExecutionReport):
            report = self.held.pop(exec_base_id(fact.execution.exec_id), None)
            if report is not None:
                self.model.apply(CommissionReported(report))
                feed_order(self.live, CommissionReported(report), ts)
        self.last_fact = fact

    @rule(data=st.data(), key=st.integers(0, 2))
    def status(self, data: st.DataObject, key: int) -> None:
        self.fact(data.draw(status_facts(quantity=self.model.spec.quantity)), key)

    @rule(target=executions, data=st.data(), key=st.integers(0, 2))
    def execution(self, data: st.DataObject, key: int) -> Execution:
        x = data.draw(executions(action=self.model.spec.action))
        self.fact(ExecutionReport(x), key)
        return x

    @rule(target=executions, original=executions, data=st.data(), key=st.integers(0, 2))
    def correction(self, original: Execution, data: st.DataObject, key: int) -> Execution:
        x = data.draw(corrections(original))
        self.fact(ExecutionReport(x), key)
        return x

    @rule(x=executions, key=st.integers(0, 2))
    def execution_again(self, x: Execution, key: int) -> None:
        self.fact(ExecutionReport(x), key)

    @rule(x=executions, data=st.data())
    def commission(self, x: Execution, data: st.DataObject) -> None:
        self.fact(CommissionReported(data.draw(commission_reports(x.exec_id))), 0)

    @rule(data=st.data())
    def commission_before_its_execution(self, data: st.DataObject) -> None:
        exec_id = data.draw(exec_ids())
        self.fact(CommissionReported(data.draw(commission_reports(exec_id))), 0)
        # ... and, sometimes, the execution right after it.
        if data.draw(st.booleans()):
            x = data.draw(executions(exec_id=exec_id, action=self.model.spec.action))
            self.fact(ExecutionReport(x), data.draw(st.integers(0, 2)))

    @rule(data=st.data(), key=st.integers(0, 2))
    def error(self, data: st.DataObject, key: int) -> None:
        self.fact(data.draw(error_facts()), key)

    @rule(key=st.integers(0, 2))
    def repeat_last_fact(self, key: int) -> None:
        if self.last_fact is None:
            return
        count = len(self.trail.history(self.oid))
        result = feed_trail(
            self.trail, self.key_choices[key % len(self.key_choices)], self.last_fact
        )
        assert result in (False, None)
        assert len(self.trail.history(self.oid)) == count

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def store_agrees_with_live_state(self) -> None:
        if not hasattr(self, "live"):
            return
        check_invariants(self.live.state, self.model)
        assert self.trail.states()[self.oid] == self.live.state
        assert self.trail.get(self.oid).state == self.live.state
        assert {exec_base_id(r.exec_id): r for r in self.trail.pending_commissions} == self.held


TestTrailLifecycle = TrailLifecycle.TestCase
TestTrailLifecycle.settings = settings(
    settings.default, max_examples=max(10, settings.default.max_examples // 2)
)
