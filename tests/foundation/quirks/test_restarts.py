"""After a restart IB reports orders and commissions of other sessions and other clients. Each
example goes through the OrderTrail service on a SQLite store and asserts the stored events and
the final state."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionReport,
    OpenOrderReport,
    OrderObserved,
    Origin,
    StatusReport,
)
from tests.conftest import Clock
from tests.foundation.quirks.support import (
    AAPL,
    COID,
    KEY,
    LMT,
    PERM,
    Q,
    S,
    after_submission,
    commission,
    fill,
    state,
)

# ---- restarts and other clients ------------------------------------------------------------------


def test_order_comes_back_cancelled_with_order_id_zero_after_restart(
    tmp_store: StoreConfig, clock: Clock
) -> None:
    first = OrderTrail(tmp_store, clock=clock)
    oid = first.place(client_order_id=COID, contract=AAPL, spec=LMT)
    first.submit(oid, client_id=1, order_id=17)
    first.record(
        KEY,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=KEY.perm_id,
        ),
    )
    first.close()
    # A new process: aliases are gone; IB re-sends the order with orderId 0 and no history.
    again = OrderTrail(tmp_store, clock=clock)
    key = FactKey(order_ref=COID, perm_id=PERM, client_id=1, order_id=0)
    assert key.alias is None  # orderId 0 is never an alias: manual orders all share it
    assert again.resolve(key) == oid
    assert again.resolve(FactKey(perm_id=PERM)) == oid  # by permId alone, from the log
    again.record(
        key,
        StatusReport(
            raw_status="Cancelled",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=key.perm_id,
        ),
    )
    assert (
        again.record(
            key,
            OpenOrderReport(
                spec=LMT, perm_id=key.perm_id, client_id=key.client_id, order_id=key.order_id
            ),
        )
        is False
    )  # orderId 0 binds no alias
    s = state(again, oid)
    assert s.status is S.CANCELLED
    assert s.aliases == [(1, 17)]


def test_discover_by_perm_id_after_restart_finds_the_placed_order(
    tmp_store: StoreConfig, clock: Clock
) -> None:
    first = OrderTrail(tmp_store, clock=clock)
    oid = first.place(client_order_id=COID, contract=AAPL, spec=LMT)
    first.submit(oid, client_id=1, order_id=17)
    first.record(
        KEY,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Q,
            avg_fill_price=None,
            perm_id=KEY.perm_id,
        ),
    )
    first.close()
    again = OrderTrail(tmp_store, clock=clock)
    # The completed-orders list after a reconnect names the order by permId only.
    assert (
        again.observe(
            OrderObserved(contract=AAPL, spec=LMT, perm_id=PERM, origin=Origin.DISCOVERED)
        )
        == oid
    )
    assert len(again.states()) == 1


def test_commission_report_for_unknown_execution_is_held(trail: OrderTrail, placed: UUID) -> None:
    # Commission reports carry no clientId: reports for other clients' or manual executions
    # arrive too, sometimes before the execution they belong to.
    report = commission("0001f4e8.65f1a2b3.01.01", "0.42")
    assert trail.record(None, CommissionReported(report)) is None
    assert trail.pending_commissions == [report]
    assert after_submission(trail, placed) == []
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    assert trail.pending_commissions == []
    s = state(trail, placed)
    assert s.commission_total == Decimal("0.42")
    assert after_submission(trail, placed) == ["ExecutionRecorded", "CommissionReported"]


def test_commission_report_of_another_clients_execution_records_nothing(
    trail: OrderTrail, placed: UUID
) -> None:
    assert trail.record(None, CommissionReported(commission("00099999.65f1a2b3.01.01"))) is None
    assert after_submission(trail, placed) == []
    assert state(trail, placed).commissions == {}


def test_repeated_commission_report_changes_nothing(trail: OrderTrail, placed: UUID) -> None:
    trail.record(KEY, ExecutionReport(fill("0001f4e8.65f1a2b3.01.01", "100")))
    report = commission("0001f4e8.65f1a2b3.01.01")
    assert trail.record(None, CommissionReported(report)) is True
    assert trail.record(None, CommissionReported(report)) is False
    assert after_submission(trail, placed).count("CommissionReported") == 1
