"""Orders ordertrail did not place (TWS by hand, another API client, an earlier session, a Flex
statement) and the identifiers IB hands out later: what the record keeps of each, in the domain
alone (no store), so that every field is checked where it is decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ordertrail.domain.events import OrderCreated
from ordertrail.domain.facts import (
    ErrorReport,
    OpenOrderReport,
    OrderObserved,
    Origin,
    OutboundRequest,
    RequestKind,
    StatusReport,
)
from ordertrail.domain.identity import order_id_for, order_key
from ordertrail.domain.order import Order
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

S = OrderStatus
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=3)
ES = ContractRef(495512557, "ES", "FUT", "CME", multiplier=Decimal(50), expiry="20260320")
LMT = OrderSpec(OrderAction.SELL, Decimal(2), OrderType.LIMIT, limit_price=Decimal("5000.25"))
PERM = 1_811_000_042


def observed(**fields: object) -> OrderObserved:
    base: dict[str, object] = {
        "contract": ES,
        "spec": LMT,
        "origin": Origin.MANUAL,
        "perm_id": PERM,
        "parent_key": "perm:1811000041",
        "group_id": "oca-7",
        "ts_event": T0,
        "provenance": {"source": "openOrder", "clientId": "0"},
    }
    base.update(fields)
    return OrderObserved(**base)  # type: ignore[arg-type]


def test_an_order_typed_into_tws_is_recorded_with_everything_ib_said() -> None:
    o = Order.observe(observed(), ts_recorded=T1)
    (created,) = o.collect_events()
    assert isinstance(created, OrderCreated)
    assert (created.ts_event, created.timestamp) == (T0, T1)
    assert created.provenance == {"source": "openOrder", "clientId": "0"}
    s = o.state
    assert o.id == order_id_for(s.order_key) == Order.id_for(perm_id=PERM)
    assert (s.order_key, s.perm_id, s.client_order_id) == (f"perm:{PERM}", PERM, None)
    assert (s.origin, s.contract, s.spec, s.status) == ("manual", ES, LMT, S.DISCOVERED)
    assert (s.parent_key, s.group_id) == ("perm:1811000041", "oca-7")
    assert (s.created_at, s.updated_at) == (T1, T1)


def test_an_order_with_our_client_order_id_is_keyed_by_it_not_by_its_perm_id() -> None:
    o = Order.observe(observed(client_order_id="OT-abc", origin=Origin.API), ts_recorded=T1)
    s = o.state
    assert o.id == Order.id_for(client_order_id="OT-abc") != Order.id_for(perm_id=PERM)
    assert (s.client_order_id, s.perm_id, s.origin) == ("OT-abc", PERM, "api")
    assert Order.id_for(client_order_id="OT-abc", perm_id=PERM) == o.id


def test_an_order_seen_only_leaving_the_client_starts_new() -> None:
    sent_as = "3:41@2026-03-02T15:00:00"
    o = Order.observe(observed(perm_id=None, sent_as=sent_as), ts_recorded=T1)
    assert o.state.status is S.NEW
    assert o.state.order_key == order_key(sent_as=sent_as)


def _working() -> Order:
    o = Order.observe(observed(perm_id=None, sent_as="1:17@x"), ts_recorded=T0)
    o.record(OutboundRequest(RequestKind.PLACE, 1, 17, LMT), ts_recorded=T0)
    o.collect_events()
    return o


def test_open_order_binds_a_perm_id_without_inventing_an_account() -> None:
    o = _working()
    assert o.record(OpenOrderReport(LMT, perm_id=PERM, client_id=1, order_id=17), ts_recorded=T1)
    s = o.state
    assert (s.perm_id, s.spec.account, s.updated_at) == (PERM, "", T1)
    assert s.aliases == [(1, 17)]


def test_open_order_fills_in_the_account_ib_chose_and_only_once() -> None:
    o = _working()
    with_account = OrderSpec(**{**_spec_fields(LMT), "account": "DU1234"})
    o.record(OpenOrderReport(with_account, perm_id=PERM, client_id=1, order_id=17), ts_recorded=T1)
    assert o.state.spec.account == "DU1234"
    other = OrderSpec(**{**_spec_fields(LMT), "account": "DU9999"})
    o.record(OpenOrderReport(other, perm_id=PERM, client_id=1, order_id=17), ts_recorded=T1)
    assert o.state.spec.account == "DU1234"


def test_each_alias_is_kept_once_and_a_half_alias_is_none() -> None:
    o = _working()
    o.record(OpenOrderReport(LMT, perm_id=PERM, client_id=1, order_id=17), ts_recorded=T0)
    o.record(OpenOrderReport(LMT, perm_id=PERM, client_id=1, order_id=17), ts_recorded=T0)
    # After a reconnect as another client id, TWS reports the same order under a new alias.
    o.record(OpenOrderReport(LMT, perm_id=PERM, client_id=5, order_id=3), ts_recorded=T0)
    o.record(OpenOrderReport(LMT, perm_id=PERM, client_id=6, order_id=None), ts_recorded=T0)
    o.record(OpenOrderReport(LMT, perm_id=PERM, client_id=0, order_id=0), ts_recorded=T0)
    assert o.state.aliases == [(1, 17), (5, 3)]


def _spec_fields(spec: OrderSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def test_every_refused_modify_is_counted_and_each_request_dated() -> None:
    o = _working()
    o.record(StatusReport("Submitted", Decimal(0), Decimal(2), perm_id=PERM), ts_recorded=T0)
    for n, price in enumerate(("5000.50", "5000.75"), start=1):
        at = T0 + timedelta(minutes=n)
        o.record(
            OutboundRequest(
                RequestKind.MODIFY, 1, 17, LMT.with_changes(limit_price=Decimal(price))
            ),
            ts_recorded=at,
        )
        assert o.state.updated_at == at
        refused_at = at + timedelta(seconds=1)
        o.record(ErrorReport(201, "Order rejected - reason: price"), ts_recorded=refused_at)
        assert (o.state.modifications_refused, o.state.updated_at) == (n, refused_at)
    assert o.state.spec == LMT
