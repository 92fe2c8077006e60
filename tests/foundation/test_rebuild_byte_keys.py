"""The order-state rebuild reads SQLite's originator ids and topics as bytes
(docs/adr/0136-rebuild-reads-ids-and-topics-as-bytes.md): the states stay the aggregates'
own, keyed by UUIDs, on every route that takes an id or a topic back to its text."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.logsources import SqliteSource
from ordertrail.adapters.store.rebuild import fold_events, fold_orders, stored_events
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import StatusReport
from ordertrail.domain.identity import order_id_for, order_key
from tests.conftest import Clock
from tests.foundation.compare import assert_identical
from tests.foundation.test_event_store_contract import SPEC
from tests.foundation.test_eventlog import place


@pytest.fixture
def trail(tmp_path: Path, clock: Clock) -> Iterator[OrderTrail]:
    t = OrderTrail(StoreConfig.resolve(tmp_path / "data"), clock=clock)
    yield t
    t.close()


def _place(trail: OrderTrail, n: int, *raw_statuses: str) -> None:
    place(trail, n, raw_statuses, prefix="OT-bytes")


def test_the_page_cursor_gives_ids_and_topics_as_their_bytes(trail: OrderTrail) -> None:
    _place(trail, 1, "Submitted")
    source = SqliteSource(trail.config.sqlite_path)
    with source.cursor(0, 10, text_as_bytes=True) as page:
        rows = list(page)
    with source.cursor(0, 10) as page:
        texts = list(page)
    assert rows
    assert [(r[0], r[1].decode(), r[2], r[3].decode(), r[4]) for r in rows] == texts
    assert all(type(r[1]) is bytes and type(r[3]) is bytes for r in rows)


def test_a_rebuild_on_byte_keys_is_the_aggregates_replay(trail: OrderTrail) -> None:
    _place(trail, 1, "Submitted")
    _place(trail, 2, "Submitted", "Cancelled")
    _place(trail, 3)
    with EventLog.open(trail.config) as log:
        before, cut = fold_orders(log, open_only=True)
        assert order_id_for(order_key(client_order_id="OT-bytes-2")) not in before
        # Order 2 done and dropped, then IB says more about it: the open-only fold takes its
        # state back by its id (bytes made a UUID) and its topic (bytes made text).
        trail.record(
            FactKey(order_ref="OT-bytes-2"),
            StatusReport(raw_status="Filled", filled=SPEC.quantity, remaining=Decimal(0)),
        )
        assert log.head() > cut
        states, _ = fold_orders(log)
        opened, _ = fold_orders(log, open_only=True)
        read = log.order_rows_read
        resumed, _ = fold_orders(log, start=cut, open_only=True, states=before)
        assert log.order_rows_read > read  # order 2's history, read back by its id
        general = fold_events(e for _, e in stored_events(log))
    assert (
        set(states)
        == set(general)
        == {order_id_for(order_key(client_order_id=f"OT-bytes-{n}")) for n in (1, 2, 3)}
    )
    for oid, state in states.items():
        assert_identical(state, general[oid], str(oid))
        assert state == trail.get(oid).state
    assert opened == {k: s for k, s in states.items() if not s.status.is_done}
    assert resumed == opened
