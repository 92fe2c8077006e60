"""The writer's one loop per batch (``sealing.py``) gives every event the bytes and the link the
step-by-step path gives it: ``codec.encode`` of the event's attributes, then the chain's
``body_of``, ``link_hash`` and ``seal`` with the order's previous link, on random histories of
every event type. Value objects handed to orjson as dicts are written as orjson writes them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import orjson
import pytest
from eventsourcing.utils import get_topic
from hypothesis import given, settings

from ordertrail.adapters.store import chain
from ordertrail.adapters.store.codec import EventMapper, encode
from ordertrail.adapters.store.sealing import as_map, plain_state
from ordertrail.domain import values
from ordertrail.domain.order import Order
from tests.foundation.test_rebuild_equals_replay import histories

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def step_by_step(links: chain.Links, event: Any) -> tuple[bytes, bytes | None]:
    """The stored state and link as the mapper made them one call at a time."""
    oid: UUID = event.originator_id
    version: int = event.originator_version
    topic = get_topic(type(event))
    body = chain.body_of(encode(plain_state(event, getattr(type(event), "class_version", 1))))
    prev = links.previous(oid, version)
    link = None if prev is None else chain.link_hash(prev, oid, version, topic, body)
    links.saw(oid, version, link)
    return chain.seal(body, version, link), link


@settings(max_examples=60, deadline=None)
@given(orders=histories())
def test_a_batch_is_sealed_as_each_event_alone(orders: list[Order]) -> None:
    mapper, links = EventMapper(), chain.Links()
    events = [e for order in orders for e in order.collect_events()]
    for stored, event in zip(mapper.to_stored_events(events), events, strict=True):
        state, link = step_by_step(links, event)
        assert stored.state == state
        assert stored.digest == link
        assert stored.topic == get_topic(type(event))
        assert (stored.originator_id, stored.originator_version) == (
            event.originator_id,
            event.originator_version,
        )


def _placed(client_order_id: str) -> Order:
    return Order.place(
        client_order_id=client_order_id,
        contract=values.ContractRef(1, "X"),
        spec=values.OrderSpec(values.OrderAction.BUY, Decimal(1), limit_price=Decimal("1.5")),
        ts_recorded=NOW,
    )


def test_an_order_forgotten_between_batches_gets_a_placeholder() -> None:
    order = _placed("OT-1")
    first = order.collect_events()
    mapper = EventMapper()
    mapper.to_stored_events(first)
    mapper.links = chain.Links()
    order.deny(rule="test", reason="forgotten order", ts_recorded=NOW)
    (stored,) = mapper.to_stored_events(order.collect_events())
    sealed = chain.unseal(stored.state)
    assert stored.digest is None
    assert sealed is not None
    assert sealed.digest is None


@dataclasses.dataclass(frozen=True, slots=True)
class _Slotted:
    kept: Decimal
    _private: int = 0
    shared: ClassVar[int] = 3
    inner: values.CommissionReport | None = None


@dataclasses.dataclass(frozen=True)
class _WithDict:
    a: int


def test_a_value_object_as_a_dict_is_written_as_orjson_writes_it() -> None:
    obj = _Slotted(Decimal("1.50"), 7, values.CommissionReport("e1", Decimal("0.1"), "USD"))
    convert = as_map(_Slotted)
    assert convert is not None
    assert orjson.dumps(convert(obj), default=str) == orjson.dumps(obj, default=str)
    for cls in (values.ContractRef, values.OrderSpec, values.Execution, values.CommissionReport):
        assert as_map(cls) is not None
    # orjson writes these from the instance's __dict__, which may hold more than the fields.
    assert as_map(_WithDict) is None
    assert as_map(dict) is None


def test_what_cannot_be_stored_is_refused_by_type() -> None:
    order = _placed("OT-2")
    (event,) = order.collect_events()
    object.__setattr__(event, "provenance", {"odd": object()})
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        EventMapper().to_stored_events([event])
