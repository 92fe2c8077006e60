"""The projections rebuild's decoder gives the general codec's events: the same class, every
field identical (Decimals with their exponent, datetimes with their offset), for every event
type and the session log's messages; a row msgspec refuses is read by the general codec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.projection_decode import decode_rows_for_projection
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.facts import SessionError
from ordertrail.domain.order import Order
from tests.conftest import Clock
from tests.foundation.compare import assert_identical
from tests.foundation.test_event_store_contract import OPTION, SPEC, every_event_type


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def trail(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[OrderTrail]:
    url = request.getfixturevalue("fresh_pg_url") if request.param == "postgres" else None
    t = OrderTrail(StoreConfig.resolve(tmp_path / "data", url), clock=clock)
    yield t
    t.close()


def assert_decoded_as_the_general_codec(log: EventLog) -> int:
    entries = list(log.after())
    rows = list(log.rows())
    decoded = list(decode_rows_for_projection(rows))
    assert len(decoded) == len(entries)
    for entry, row, (nid, event, payload) in zip(entries, rows, decoded, strict=True):
        assert (nid, payload) == (entry.id, row[4])
        assert type(event) is type(entry.event), entry.topic
        general = {k: v for k, v in entry.event.__dict__.items() if k != "class_version"}
        assert_identical(general, dict(event.__dict__), entry.topic)
    return len(decoded)


def test_every_event_type_decodes_as_the_general_codec_decodes_it(trail: OrderTrail) -> None:
    trail.save(*every_event_type(trail.clock))
    for n in range(3):
        trail.record(None, SessionError(code=2104, message=f"farm ok {n}", req_id=-1, client_id=1))
    with EventLog.open(trail.config) as log:
        topics = {e.topic.rsplit(":", 1)[1] for e in log.after()}
        assert {"OrderCreated", "ExecutionCorrected", "SessionMessageRecorded"} <= topics
        assert assert_decoded_as_the_general_codec(log) == log.head()


def test_a_row_msgspec_refuses_is_decoded_by_the_general_codec(trail: OrderTrail) -> None:
    created = Order.place(
        client_order_id="OT-old-1", contract=OPTION, spec=SPEC, ts_recorded=trail.clock()
    )
    stored = trail.mapper.to_stored_event(created.collect_events()[0])
    doc = json.loads(stored.state)
    # A field in a shape its type no longer allows (an account stored as null), and a permId
    # past 64 bits, stored tagged (docs/adr/0026-integers-of-any-size.md).
    doc["spec"]["account"] = None
    doc["perm_id"] = {"~int": str(2**70)}
    doc["~ints"] = True
    trail.recorder.insert_events(
        [StoredEvent(stored.originator_id, 1, stored.topic, json.dumps(doc).encode())]
    )
    with EventLog.open(trail.config) as log:
        assert assert_decoded_as_the_general_codec(log) == 1
        ((_, event, _),) = decode_rows_for_projection(log.rows())
    assert event.perm_id == 2**70
    assert event.spec.account is None
