"""The read-only EventLog and its followers, on SQLite and on a real PostgreSQL server.

A log opens a store without the write-side application, never writes to it, reads what the
trail wrote (decoded or raw, from any position, in pages), tells a replaced store from the one
it read, and a follower reads only what was appended since it last read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.store.config import StoreConfig, StoreUnavailable
from ordertrail.adapters.store.eventlog import EventLog, LogEntry
from ordertrail.adapters.store.follower import Follower
from ordertrail.adapters.store.rebuild import fold_events, fold_orders, stored_events
from ordertrail.adapters.store.typed_decode import struct_decoder
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import SessionError, StatusReport
from ordertrail.domain.identity import order_id_for, order_key
from ordertrail.domain.order import Order
from ordertrail.domain.values import ContractRef
from tests.conftest import Clock
from tests.foundation.compare import assert_identical
from tests.foundation.test_event_store_contract import OPTION, SPEC, every_event_type
from tests.strategies import contracts, feed_trail, ib_fact_sequences, order_specs


@pytest.fixture
def trail(store: StoreConfig, clock: Clock) -> Iterator[OrderTrail]:
    t = OrderTrail(store, clock=clock)
    yield t
    t.close()


@pytest.fixture
def log(store: StoreConfig, trail: OrderTrail) -> Iterator[EventLog]:
    # The trail first: it creates the store the log then opens read-only.
    with EventLog.open(store) as opened:
        yield opened


def place(
    trail: OrderTrail,
    n: int,
    raw_statuses: tuple[str, ...] = ("Submitted",),
    prefix: str = "OT-log",
) -> None:
    coid = f"{prefix}-{n}"
    oid = trail.place(client_order_id=coid, contract=OPTION, spec=SPEC)
    trail.submit(oid, client_id=1, order_id=n)
    for raw in raw_statuses:
        trail.record(
            FactKey(order_ref=coid),
            StatusReport(raw_status=raw, filled=Decimal(0), remaining=SPEC.quantity),
        )


def order_of(n: int) -> UUID:
    return order_id_for(order_key(client_order_id=f"OT-log-{n}"))


class Counter(Follower):
    """A follower that keeps the (order, version) of every event it applied."""

    def __init__(self, log: EventLog, *, payload: bool = True) -> None:
        super().__init__(log)
        self.payload = payload
        self.seen: list[tuple[Any, int]] = []

    def apply(self, entry: LogEntry) -> None:
        self.seen.append((entry.originator_id, entry.originator_version))

    def reset(self) -> None:
        self.seen.clear()


# ---- reading -----------------------------------------------------------------------------------


def test_log_reads_what_the_trail_wrote(trail: OrderTrail, log: EventLog) -> None:
    assert log.head() == 0
    assert list(log.after()) == []
    for n in range(1, 5):
        place(trail, n)
    notes = list(trail.recorder.select_notifications(1, 100))
    assert log.head() == notes[-1].id
    entries = list(log.after())
    assert [(e.id, e.originator_id, e.originator_version, e.topic) for e in entries] == [
        (n.id, n.originator_id, n.originator_version, n.topic) for n in notes
    ]
    for entry in entries:
        stored = trail.history(entry.originator_id)[entry.originator_version - 1]
        assert_identical(entry.event.__dict__, stored.__dict__, entry.topic)
    raw = list(log.after(payload=False))
    assert [e.event for e in raw] == [None] * len(notes)
    assert [e.state for e in raw] == [bytes(n.state) for n in notes]
    # From a position, at most a limit: exactly the next ones.
    middle = notes[3].id
    assert [e.id for e in log.after(middle, 2)] == [n.id for n in notes[4:6]]
    assert [e.id for e in log.after(notes[-1].id)] == []


def test_log_reads_in_pages_and_counts_the_rows(
    trail: OrderTrail, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 4):
        place(trail, n)
    head = log.head()
    monkeypatch.setattr("ordertrail.adapters.store.logsources.PAGE", 2)
    monkeypatch.setattr("ordertrail.adapters.store.logsources.STREAMED_PAGE", 2)
    assert [e.id for e in log.after()] == [e.id for e in log.after(0, head + 10)]
    assert log.rows_read == 2 * len(list(stored_events(trail.recorder)))


def test_opening_a_store_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    missing = StoreConfig.resolve(tmp_path / "nowhere")
    with pytest.raises(StoreUnavailable, match="no such file"):
        EventLog.open(missing).head()
    assert not (tmp_path / "nowhere").exists()


def test_the_log_never_writes_the_sqlite_file(tmp_path: Path, clock: Clock) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config, clock=clock)
    place(trail, 1)
    trail.close()
    files = sorted(p for p in config.data_dir.iterdir() if p.name.startswith("events.sqlite"))
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in files}
    with EventLog.open(config) as log:
        assert len(list(log.after())) == log.head() > 0
        assert log.identity() is not None
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists()}
    assert after["events.sqlite"] == before["events.sqlite"]


@pytest.mark.postgres
def test_the_postgres_log_is_a_read_only_session(tmp_path: Path, fresh_pg_url: str) -> None:
    config = StoreConfig.resolve(tmp_path / "data", fresh_pg_url)
    trail = OrderTrail(config)
    place(trail, 1)
    with EventLog.open(config) as log:
        recorder = log._source.recorder  # type: ignore[attr-defined]
        stored = StoredEvent(uuid4(), 1, "t", b"{}")
        with pytest.raises(Exception, match="read-only transaction"):
            recorder.insert_events([stored])
        assert log.head() == trail.recorder.max_notification_id()
    trail.close()


def test_a_reader_half_way_through_never_blocks_the_writer(
    trail: OrderTrail, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ordertrail.adapters.store.logsources.PAGE", 3)
    monkeypatch.setattr("ordertrail.adapters.store.logsources.STREAMED_PAGE", 3)
    for n in range(1, 4):
        place(trail, n)
    reading = log.after()
    first = next(reading)
    place(trail, 4)  # commits while the reader is suspended inside a page
    rest = list(reading)
    assert [first.id, *(e.id for e in rest)] == [e.id for e in log.after()]
    assert rest[-1].id == log.head()


# ---- identity, followers -----------------------------------------------------------------------


def test_identity_and_marks_tell_a_replaced_store(tmp_path: Path, clock: Clock) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config, clock=clock)
    log = EventLog.open(config)
    assert log.identity() is None
    place(trail, 1)
    first, head = log.identity(), log.head()
    assert first is not None
    assert log.mark(head) is not None
    assert log.mark(head + 1) is None
    follower = Counter(log)
    assert follower.catch_up() == head
    trail.close()
    # The store is deleted and another session recorded: same file name, another history.
    for p in config.data_dir.iterdir():
        p.unlink()
    other = OrderTrail(config, clock=Clock(step=clock.step * 7))
    place(other, 2, ("PreSubmitted",))
    assert log.identity() != first
    assert follower.catch_up() == log.head()
    assert follower.resets == 1
    assert follower.seen == [(e.originator_id, e.originator_version) for e in log.after()]
    other.close()


def test_a_follower_reads_only_what_is_new(store: StoreConfig, trail: OrderTrail) -> None:
    other = OrderTrail(store)  # another writer on the same store
    log = EventLog.open(store)
    follower = Counter(log, payload=False)
    place(trail, 1)
    assert follower.catch_up() == len(follower.seen) == log.rows_read
    for n, writer in ((2, other), (3, trail), (4, other)):
        read_before, head_before = log.rows_read, log.head()
        place(writer, n)
        appended = list(log.after(head_before))
        log.rows_read = read_before
        assert follower.catch_up() == len(appended)
        # The new rows, and one to check its last event is still where it left it.
        assert log.rows_read - read_before == len(appended) + 1
    assert follower.catch_up() == 0
    assert follower.seen == [(e.originator_id, e.originator_version) for e in log.after()]
    assert follower.position == log.head()
    assert follower.resets == 0
    other.close()
    log.close()


# ---- the rebuild -------------------------------------------------------------------------------


def test_typed_decoding_gives_the_codecs_values_for_every_event_type(
    trail: OrderTrail, log: EventLog
) -> None:
    orders = every_event_type(trail.clock)
    trail.save(*orders)
    for entry in log.after():
        decode = struct_decoder(entry.topic)
        assert decode is not None, entry.topic
        typed = msgspec.structs.asdict(decode(entry.state))
        general = {k: v for k, v in entry.event.__dict__.items() if k in typed}
        assert_identical(general, typed, entry.topic)
    states, _ = fold_orders(log)
    for order in orders:
        assert states[order.id] == trail.get(order.id).state


def test_rows_the_typed_decoder_refuses_are_folded_by_the_general_codec(
    trail: OrderTrail, log: EventLog
) -> None:
    created = Order.place(
        client_order_id="OT-old-1", contract=OPTION, spec=SPEC, ts_recorded=trail.clock()
    )
    event = created.collect_events()[0]
    stored = trail.mapper.to_stored_event(event)
    doc = json.loads(stored.state)
    # A rule tightened after this was stored (a multiplier must be > 0), an optional field the
    # class gained later, and a field in a shape its type no longer allows (an account stored
    # as null): history stays readable, the same way as by the aggregate.
    doc["contract"]["multiplier"] = "0"
    del doc["group_id"]
    doc["spec"]["account"] = None
    old = StoredEvent(stored.originator_id, 1, stored.topic, json.dumps(doc).encode())
    trail.recorder.insert_events([old])
    place(trail, 2)
    decode = struct_decoder(old.topic)
    assert decode is not None
    with pytest.raises(msgspec.ValidationError):
        decode(old.state)
    # Without the refused shape, the typed decoder reads the rest as the general codec does:
    # today's checks are not run on stored values.
    doc["spec"]["account"] = ""
    typed = decode(json.dumps(doc).encode())
    assert type(typed.contract) is ContractRef
    assert typed.contract.multiplier == Decimal(0)
    assert typed.group_id is None
    states, _ = fold_orders(log)
    general = fold_events(e for _, e in stored_events(log))
    assert states == general
    assert states[created.id].contract.multiplier == Decimal(0)
    assert states[created.id].spec.account is None
    assert states[created.id] == trail.get(created.id).state


def test_decoded_decimals_are_shared_by_their_text_and_keep_it(
    trail: OrderTrail, log: EventLog
) -> None:
    place(trail, 1)
    place(trail, 2)
    created = Order.place(
        client_order_id="OT-log-3", contract=OPTION, spec=SPEC, ts_recorded=trail.clock()
    )
    stored = trail.mapper.to_stored_event(created.collect_events()[0])
    doc = json.loads(stored.state)
    # The same price written with another exponent, and a quantity stored as a JSON number
    # (a shape the typed decoder refuses: the general codec reads that row).
    doc["spec"]["limit_price"] = "1.050"
    doc["spec"]["quantity"] = 3
    trail.recorder.insert_events(
        [StoredEvent(stored.originator_id, 1, stored.topic, json.dumps(doc).encode())]
    )
    decode = struct_decoder(stored.topic)
    assert decode is not None
    with pytest.raises(msgspec.ValidationError):
        decode(json.dumps(doc).encode())
    states, _ = fold_orders(log)
    one, two, three = (states[order_of(n)] for n in (1, 2, 3))
    assert one.spec.limit_price is two.spec.limit_price
    assert one.ib_remaining is two.ib_remaining
    assert str(one.spec.limit_price) == "1.05"
    assert str(three.spec.limit_price) == "1.050"
    assert three.spec.quantity == Decimal(3)
    general = fold_events(e for _, e in stored_events(log))
    for oid, state in states.items():
        assert_identical(state, general[oid], str(oid))


def record_random_orders(trail: OrderTrail, data: st.DataObject, first: int) -> None:
    for n in range(first, first + data.draw(st.integers(1, 4))):
        coid = f"OT-fold-{n}"
        spec = data.draw(order_specs())
        oid = trail.place(client_order_id=coid, contract=data.draw(contracts()), spec=spec)
        trail.submit(oid, client_id=1, order_id=n)
        key = FactKey(order_ref=coid, perm_id=20_000 + n)
        for fact in data.draw(ib_fact_sequences(spec, order_ref=coid, perm_id=20_000 + n)):
            feed_trail(trail, key, fact)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_open_only_rebuild_is_the_full_rebuild_less_what_is_done(
    store: StoreConfig, trail: OrderTrail, data: st.DataObject
) -> None:
    with EventLog.open(store) as log:
        record_random_orders(trail, data, log.head() + 1)
        full, head = fold_orders(log)
        assert head == log.head()
        for oid, state in full.items():
            assert trail.get(oid).state == state
        open_only, _ = fold_orders(log, open_only=True)
        assert open_only == {k: s for k, s in full.items() if not s.status.is_done}
        # From a split point, on top of the open orders up to it: an order done before the
        # cut and reopened by a later fact is folded again from its own events.
        cut = data.draw(st.integers(0, head))
        upto = fold_events(e.event for e in log.after(0, cut))
        opened = {k: s for k, s in upto.items() if not s.status.is_done}
        partial, at = fold_orders(log, start=cut, open_only=True, states=opened)
        assert partial == open_only
        assert at == head


def test_the_session_logs_messages_are_not_orders(trail: OrderTrail, log: EventLog) -> None:
    place(trail, 1, ("Submitted", "Cancelled"))
    for n in range(5):
        trail.record(None, SessionError(code=2104, message=f"farm ok {n}", req_id=-1, client_id=1))
    place(trail, 2)
    full, _ = fold_orders(log)
    open_only, _ = fold_orders(log, open_only=True)
    assert set(full) == {order_of(1), order_of(2)}
    assert set(open_only) == {order_of(2)}
    # No history was read back for the session log's messages (nor for anything else).
    assert log.order_rows_read == 0


def test_a_store_emptied_in_place_is_another_store_and_the_reader_lets_it_be_written(
    tmp_path: Path, clock: Clock
) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config, clock=clock)
    for n in (1, 2, 3):
        place(trail, n)
    trail.close()
    log = EventLog.open(config)
    follower = Counter(log)
    assert follower.catch_up() == log.head()
    # `: > events.sqlite`, then another session records into the emptied file while the
    # reader is still open: the writer can set the new store up, the follower starts again.
    (config.sqlite_path).write_bytes(b"")
    other = OrderTrail(config, clock=Clock(step=clock.step * 7))
    place(other, 9, ())
    assert follower.catch_up() == log.head()
    assert follower.resets == 1
    assert follower.seen == [(e.originator_id, e.originator_version) for e in log.after()]
    other.close()
