"""The words facts carry into stored events: a request's kind and an order's origin are stored
as their spelling (the codec reads an enum back by its value), so a store written before must
read the same words the code writes today; and the origin of an order we place ourselves is
one of ``Origin``'s, which the projections label."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ordertrail.domain import events as ev
from ordertrail.domain.facts import OrderObserved, Origin, OutboundRequest, RequestKind
from ordertrail.domain.identity import DRY_RUN_PREFIX
from ordertrail.domain.order import Order
from tests.domain.orders import AAPL, LMT, T0, submitted


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        (RequestKind.PLACE, "place"),
        (RequestKind.MODIFY, "modify"),
        (RequestKind.CANCEL, "cancel"),
        (RequestKind.GLOBAL_CANCEL, "global_cancel"),
    ],
)
def test_a_request_is_stored_under_the_kind_stored_events_carry(
    kind: RequestKind, stored: str
) -> None:
    o = submitted("OT-facts-1")
    o.collect_events()
    newer = LMT.with_changes(limit_price=Decimal("149.5"))
    o.record(OutboundRequest(kind, 1, 7, newer), ts_recorded=T0 + timedelta(seconds=1))
    (sent,) = o.collect_events()
    assert isinstance(sent, ev.RequestSent)
    assert sent.kind == stored
    assert o.state.last_request is RequestKind(stored)


@pytest.mark.parametrize(
    ("origin", "stored"),
    [
        (Origin.API, "api"),
        (Origin.MANUAL, "manual"),
        (Origin.DISCOVERED, "discovered"),
        (Origin.FLEX, "flex"),
    ],
)
def test_an_observed_order_is_stored_with_the_origin_stored_events_carry(
    origin: Origin, stored: str
) -> None:
    o = Order.observe(OrderObserved(AAPL, LMT, origin, perm_id=4242), ts_recorded=T0)
    (created,) = o.collect_events()
    assert created.origin == stored
    assert Origin(o.state.origin) is origin


def test_an_order_we_place_has_an_origin_the_projections_know() -> None:
    placed = Order.place(client_order_id="OT-facts-2", contract=AAPL, spec=LMT, ts_recorded=T0)
    assert Origin(placed.state.origin) is Origin.PLACED
    assert not placed.state.is_dry_run
    dry = Order.place(
        client_order_id=f"{DRY_RUN_PREFIX}OT-facts-3", contract=AAPL, spec=LMT, ts_recorded=T0
    )
    assert Origin(dry.state.origin) is Origin.DRY_RUN
    assert dry.state.is_dry_run
