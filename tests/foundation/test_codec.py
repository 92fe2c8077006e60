"""The stored form of events: whatever values hypothesis makes come back identical (types,
Decimal exponents, enums, nested value objects, None), through the mapper the store uses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ordertrail.adapters.store.codec import EventMapper
from ordertrail.domain.order import Order
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec
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
    order.record_status(
        raw_status="Submitted",
        filled=Decimal(0),
        remaining=spec.quantity,
        avg_fill_price=avg,
        ts_recorded=ts,
        ts_event=ts,
    )
    order.record_execution(x, ts_recorded=ts, provenance={"row": "1", "ü": "✓"})
    order.record_commission(report, ts_recorded=ts)
    for event in order.collect_events():
        loaded = round_trip(event)
        assert type(loaded) is type(event)
        assert_identical(event.__dict__, loaded.__dict__, type(event).__name__)
