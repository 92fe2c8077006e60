"""What the examples of real IB behaviour share: one order of ours, AAPL 100 at 187.50 limit,
handed to IB as (clientId 1, orderId 17), and the messages IB sends about it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import (
    OpenOrderReport,
    StatusReport,
)
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
from tests.strategies import with_identifiers

S = OrderStatus
AAPL = ContractRef(265598, "AAPL")
COID = "OT-quirk-1"
PERM = 1_811_123_456
KEY = FactKey(order_ref=COID, perm_id=PERM, client_id=1, order_id=17)
Q = Decimal(100)
LMT = OrderSpec(OrderAction.BUY, Q, OrderType.LIMIT, limit_price=Decimal("187.50"))
T0 = datetime(2024, 3, 15, 14, 0, tzinfo=UTC)


def kinds(trail: OrderTrail, oid: UUID) -> list[str]:
    return [type(e).__name__ for e in trail.history(oid)]


def after_submission(trail: OrderTrail, oid: UUID) -> list[str]:
    names = kinds(trail, oid)
    assert names[:2] == ["OrderCreated", "SubmissionRequested"]
    return names[2:]


def state(trail: OrderTrail, oid: UUID) -> OrderState:
    s = trail.get(oid).state
    assert trail.states()[oid] == s, "the fast rebuild disagrees with the repository"
    return s


def fill(exec_id: str, shares: str, price: str = "187.49", **kw: object) -> Execution:
    return Execution(
        exec_id=exec_id,
        time=T0,
        account="DU1234567",
        exchange="ISLAND",
        side=Side.BOUGHT,
        shares=Decimal(shares),
        price=Decimal(price),
        perm_id=PERM,
        client_id=1,
        order_id=17,
        order_ref=COID,
        **kw,  # type: ignore[arg-type]
    )


def open_order(trail: OrderTrail, spec: OrderSpec) -> bool | None:
    """IB's openOrder for our order, with the identifiers it carries."""
    return trail.record(KEY, with_identifiers(OpenOrderReport(spec=spec), KEY))


def status(trail: OrderTrail, raw: str, filled: str = "0", why_held: str = "") -> bool:
    f = Decimal(filled)
    return trail.record(
        KEY,
        StatusReport(
            raw_status=raw,
            filled=f,
            remaining=Q - f,
            avg_fill_price=Decimal("187.49") if f else None,
            why_held=why_held,
            perm_id=KEY.perm_id,
        ),
    )


def commission(exec_id: str, amount: str = "1.00") -> CommissionReport:
    return CommissionReport(exec_id, Decimal(amount), "USD")


def anomaly_kinds(trail: OrderTrail, oid: UUID) -> list[str]:
    return [e.kind for e in trail.history(oid) if type(e).__name__ == "AnomalyRecorded"]
