"""The service on a SQLite store, and our order placed and submitted."""

from __future__ import annotations

from uuid import UUID

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from tests.conftest import Clock
from tests.foundation.quirks.support import AAPL, COID, LMT


@pytest.fixture
def trail(tmp_store: StoreConfig, clock: Clock) -> OrderTrail:
    return OrderTrail(tmp_store, clock=clock)


@pytest.fixture
def placed(trail: OrderTrail) -> UUID:
    """Our order, handed to IB as (clientId 1, orderId 17); IB has said nothing yet."""
    oid = trail.place(client_order_id=COID, contract=AAPL, spec=LMT)
    trail.submit(oid, client_id=1, order_id=17)
    return oid
