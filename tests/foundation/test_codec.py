"""The stored form of events: whatever values hypothesis makes come back identical (types,
Decimal exponents, enums, nested value objects, None), through the mapper the store uses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ordertrail.adapters.store.codec import EventMapper
from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionReport,
    OpenOrderReport,
    StatusReport,
)
from ordertrail.domain.order import Order
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
)
from tests.foundation.compare import assert_identical
from tests.strategies import (
    client_order_ids,
    commission_reports,
    contracts,
    executions,
    order_specs,
    prices,
    utc_times,
)

MAPPER = EventMapper()


def round_trip(event: object) -> object:
    return MAPPER.to_domain_event(MAPPER.to_stored_event(event))  # type: ignore[arg-type]


@given(
    coid=client_order_ids(),
    contract=contracts(),
    spec=st.one_of(order_specs(), order_specs(allow_negative_prices=True)),
    ts=utc_times(),
    x=executions(),
    report=commission_reports(),
    avg=st.one_of(st.none(), prices("-10", "10", places=8)),
)
def test_events_round_trip_exactly(
    coid: str,
    contract: ContractRef,
    spec: OrderSpec,
    ts: datetime,
    x: Execution,
    report: CommissionReport,
    avg: Decimal | None,
) -> None:
    order = Order.place(client_order_id=coid, contract=contract, spec=spec, ts_recorded=ts)
    order.record(
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=spec.quantity,
            avg_fill_price=avg,
            ts_event=ts,
        ),
        ts_recorded=ts,
    )
    order.record(ExecutionReport(x, provenance={"row": "1", "ü": "✓"}), ts_recorded=ts)
    order.record(CommissionReported(report), ts_recorded=ts)
    for event in order.collect_events():
        loaded = round_trip(event)
        assert type(loaded) is type(event)
        assert_identical(event.__dict__, loaded.__dict__, type(event).__name__)


def test_an_optional_field_added_later_reads_as_none_from_older_events() -> None:
    """ADR 0003: a new event field is optional, and events stored before it existed decode with
    None there (IdentifiersBound gained ``account``)."""
    import orjson
    from eventsourcing.persistence import StoredEvent

    from ordertrail.domain.events import IdentifiersBound

    order = Order.place(
        client_order_id="OT-old-1",
        contract=ContractRef(265598, "AAPL"),
        spec=OrderSpec(OrderAction.BUY, Decimal(1), limit_price=Decimal(1)),
        ts_recorded=datetime(2026, 1, 2, 3, 4, 5).astimezone(),
    )
    order.record(
        OpenOrderReport(spec=order.state.spec, perm_id=42, client_id=1, order_id=7),
        ts_recorded=order.state.created_at,
    )
    bound = next(e for e in order.collect_events() if isinstance(e, IdentifiersBound))
    stored = MAPPER.to_stored_event(bound)
    older = orjson.loads(stored.state)
    del older["account"]
    event = MAPPER.to_domain_event(
        StoredEvent(
            stored.originator_id, stored.originator_version, stored.topic, orjson.dumps(older)
        )
    )
    assert event.account is None  # type: ignore[attr-defined]
    assert event.perm_id == 42  # type: ignore[attr-defined]


# IB documents no width for permIds, conIds or Flex order ids: any size comes back exactly,
# including the sizes orjson cannot write as JSON numbers (outside -2**63 .. 2**64-1).
any_size = st.one_of(
    st.integers(min_value=2**64, max_value=2**400),
    st.integers(min_value=-(2**400), max_value=-(2**63) - 1),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
)


@given(con_id=st.integers(min_value=0, max_value=2**400), perm_id=any_size, x=executions())
def test_integers_of_any_size_round_trip(con_id: int, perm_id: int, x: Execution) -> None:
    from dataclasses import replace

    from ordertrail.domain.facts import ExecutionReport, OpenOrderReport

    order = Order.place(
        client_order_id="OT-big-1",
        contract=ContractRef(con_id, "AAPL"),
        spec=OrderSpec(OrderAction.BUY, Decimal(1), limit_price=Decimal(1)),
        ts_recorded=datetime(2026, 1, 2, 3, 4, 5).astimezone(),
    )
    at = order.state.created_at
    order.record(OpenOrderReport(order.state.spec, perm_id, 1, 7), ts_recorded=at)
    order.record(ExecutionReport(replace(x, perm_id=perm_id)), ts_recorded=at)
    for event in order.collect_events():
        stored = MAPPER.to_stored_event(event)
        loaded = MAPPER.to_domain_event(stored)
        assert_identical(event.__dict__, loaded.__dict__, type(event).__name__)
        assert b'"~chain":"' in stored.state
        assert "~chain" not in loaded.__dict__
        assert "~ints" not in loaded.__dict__
