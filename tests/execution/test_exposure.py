"""The RiskGate's exposure is a follower of the event log: each check reads only the events
recorded since the last one, keeps only open orders in memory, and gives the same figures as
folding every order in the store would (the way it was computed before), also when another
writer appends to the same store and when IB says more about an order that was done."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.execution.exposure import TrailExposure, contract_key
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import CommissionReported, ExecutionReport, StatusReport
from ordertrail.domain.identity import new_client_order_id
from ordertrail.domain.risk import RiskContext
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)
from tests.execution.conftest import AAPL, MSFT
from tests.strategies import feed_trail, ib_fact_sequences, order_specs

ZERO = Decimal(0)


@pytest.fixture
def writers(store: StoreConfig) -> Iterator[tuple[OrderTrail, OrderTrail]]:
    a, b = OrderTrail(store), OrderTrail(store)
    yield a, b
    a.close()
    b.close()


def folded_context(
    states: list[OrderState], contract: ContractRef, action: OrderAction, *, dry_run: bool
) -> RiskContext:
    """The figures as the gate used to compute them: every order in the store, folded."""
    mine = [s for s in states if s.is_dry_run == dry_run]
    key = contract_key(contract)
    working = [s for s in mine if s.status.is_working and s.status is not OrderStatus.NEW]
    return RiskContext(
        position=sum(
            (
                x.shares * x.side.sign
                for s in mine
                if contract_key(s.contract) == key
                for x in s.executions.values()
            ),
            ZERO,
        ),
        working_same_side=sum(
            (
                s.remaining
                for s in working
                if contract_key(s.contract) == key and s.spec.action is action
            ),
            ZERO,
        ),
        open_orders=len(working),
    )


def sent_order(
    trail: OrderTrail, name: str, action: OrderAction, *, perm_id: int
) -> tuple[str, UUID, FactKey]:
    """An order of 10 AAPL at 150 placed and sent as clientId 1, orderId 1: (its client order
    id, its id, the key IB's facts about it carry)."""
    coid = new_client_order_id(name)
    spec = OrderSpec(action, Decimal(10), OrderType.LIMIT, limit_price=Decimal(150))
    oid = trail.place(client_order_id=coid, contract=AAPL, spec=spec)
    trail.submit(oid, client_id=1, order_id=1)
    return coid, oid, FactKey(order_ref=coid, perm_id=perm_id)


def fill_of(exec_id: str, side: Side, shares: Decimal, *, perm_id: int) -> Execution:
    """A fill of the order sent as clientId 1, orderId 1, at 150."""
    return Execution(
        exec_id=exec_id,
        time=None,
        account="DU1",
        exchange="NASDAQ",
        side=side,
        shares=shares,
        price=Decimal(150),
        perm_id=perm_id,
        client_id=1,
        order_id=1,
    )


def assert_same_figures(exposure: TrailExposure, trail: OrderTrail) -> None:
    states = list(trail.states().values())
    snap = exposure.snapshot()
    for contract in (AAPL, MSFT):
        for action in OrderAction:
            expected = folded_context(states, contract, action, dry_run=exposure.dry_run)
            assert snap.context(contract, action) == expected


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_exposure_reads_only_new_events_and_agrees_with_the_full_fold(
    writers: tuple[OrderTrail, OrderTrail], data: st.DataObject
) -> None:
    a, b = writers
    live = TrailExposure(a, dry_run=False)
    dry = TrailExposure(a, dry_run=True)
    first = a.recorder.max_notification_id() or 0
    for n in range(data.draw(st.integers(1, 5))):
        writer = data.draw(st.sampled_from([a, b]))
        is_dry = data.draw(st.booleans())
        coid = new_client_order_id(f"x{first}n{n}", dry_run=is_dry)
        spec = data.draw(order_specs())
        contract = data.draw(st.sampled_from([AAPL, MSFT]))
        oid = writer.place(client_order_id=coid, contract=contract, spec=spec)
        writer.submit(oid, client_id=1, order_id=first + n + 1)
        perm = 30_000 + first + n
        key = FactKey(order_ref=coid, perm_id=perm)
        for fact in data.draw(ib_fact_sequences(spec, order_ref=coid, perm_id=perm)):
            feed_trail(writer, key, fact)
        before, head = live.follower.log.rows_read, live.follower.position
        appended = (a.recorder.max_notification_id() or 0) - head
        assert_same_figures(live, a)
        # What was appended since the last check, and one row to check that the log still
        # holds the last event it read there.
        assert live.follower.log.rows_read - before == appended + (1 if head else 0)
    assert_same_figures(dry, b)
    # Memory holds what is open: no done order stays.
    assert all(not s.status.is_done for s in live.follower.open.values())


def test_a_late_fill_after_a_cancel_moves_the_position(tmp_path: Path) -> None:
    trail = OrderTrail(StoreConfig.resolve(tmp_path / "data"))
    exposure = TrailExposure(trail, dry_run=False)
    coid, oid, key = sent_order(trail, "late1", OrderAction.BUY, perm_id=555)
    for raw in ("Submitted", "Cancelled"):
        trail.record(key, StatusReport(raw_status=raw, filled=ZERO))
    assert exposure.snapshot().context(AAPL, OrderAction.BUY).open_orders == 0
    assert oid not in exposure.follower.open
    late = fill_of("0000e0d5.65f1a2b3.01.01", Side.BOUGHT, Decimal(7), perm_id=555)
    done_at = len(trail.history(oid))
    trail.record(key, ExecutionReport(late))
    log = exposure.follower.log
    read, reread = log.rows_read, log.order_rows_read
    assert exposure.snapshot().position(AAPL) == Decimal(7)
    # The new events and the check of the last one read; the order, done, folded again from
    # its own events to apply the late fill.
    assert log.rows_read - read == len(trail.history(oid)) - done_at + 1
    assert log.order_rows_read - reread >= done_at
    assert not any(s.client_order_id == coid for s in exposure.follower.open.values())
    trail.close()


def test_what_a_done_order_hears_after_its_fills_is_read_without_folding_it_again(
    tmp_path: Path,
) -> None:
    # IB sends the last fill's commission report after the order is Filled (and repeats the
    # final status): nothing the gate reads, so the done order is not folded again for it —
    # at start-up that was one read of its events per order in the store.
    trail = OrderTrail(StoreConfig.resolve(tmp_path / "data"))
    exposure = TrailExposure(trail, dry_run=False)
    _, oid, key = sent_order(trail, "done1", OrderAction.SELL, perm_id=556)
    fill = fill_of("0000e0d5.65f1a2b4.01.01", Side.SOLD, Decimal(10), perm_id=556)
    trail.record(key, StatusReport(raw_status="Submitted", filled=ZERO))
    trail.record(key, ExecutionReport(fill))
    trail.record(key, StatusReport(raw_status="Filled", filled=Decimal(10), remaining=ZERO))
    assert trail.get(oid).state.status is OrderStatus.FILLED
    assert exposure.snapshot().position(AAPL) == Decimal(-10)
    log = exposure.follower.log
    reread, events = log.order_rows_read, len(trail.history(oid))
    trail.record(None, CommissionReported(CommissionReport(fill.exec_id, Decimal(1), "USD")))
    trail.record(key, StatusReport(raw_status="Filled", filled=Decimal(10), remaining=ZERO))
    assert len(trail.history(oid)) > events  # the commission is on record
    snap = exposure.snapshot()
    assert log.order_rows_read == reread
    assert snap.position(AAPL) == Decimal(-10)
    assert snap.context(AAPL, OrderAction.SELL).open_orders == 0
    assert_same_figures(exposure, trail)
    trail.close()
