"""The order-state rebuild's SQLite route (``tagged_pages``): each range of the log made into
one buffer of JSON lines and decoded in one call. Whatever a stored row holds, the states are
the aggregates' own: a range whose lines could not stand for its rows exactly goes row by row,
and both kinds of range hold each order under one key."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

from ordertrail.adapters.store import tagged_pages
from ordertrail.adapters.store.codec import UnreadableEvent
from ordertrail.adapters.store.columnar_read import order_pages
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.order_fold import decoded_items
from ordertrail.adapters.store.rebuild import fold_events, fold_orders, stored_events
from ordertrail.adapters.store.tagged_pages import read_ranges
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


@contextmanager
def ranges_of(rows: int) -> Iterator[None]:
    before = tagged_pages.RANGE_ROWS
    tagged_pages.RANGE_ROWS = rows
    try:
        yield
    finally:
        tagged_pages.RANGE_ROWS = before


def rewrite(config: StoreConfig, rowid: int, change: Any) -> None:
    """Store row ``rowid``'s JSON as ``change(its object)`` gives it (a writer other than this
    project's, or a store edited by hand)."""
    with closing(sqlite3.connect(config.sqlite_path)) as db, db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", (rowid,)
        ).fetchone()
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (change(state), rowid))


def pages(log: EventLog) -> list[tagged_pages.TaggedPage]:
    sqlite = log.sqlite_file()
    assert sqlite is not None
    return list(read_ranges(*sqlite, 0, log.head()))


def by_lines(log: EventLog) -> list[bool]:
    """For each range, whether it is folded from its lines (False: row by row)."""
    return [decoded_items(p) is not None for p in pages(log)]


def assert_the_aggregates(trail: OrderTrail, log: EventLog) -> dict[Any, Any]:
    states, position = fold_orders(log)
    general = fold_events(e for _, e in stored_events(log))
    assert position == log.head()
    assert set(states) == set(general)
    for oid, state in states.items():
        assert_identical(state, general[oid], str(oid))
        assert state == trail.get(oid).state
    return states


def test_a_rebuild_on_text_keys_is_the_aggregates_replay(trail: OrderTrail) -> None:
    place(trail, 1, ("Submitted",), prefix="OT-text")
    place(trail, 2, ("Submitted", "Cancelled"), prefix="OT-text")
    place(trail, 3, (), prefix="OT-text")
    with EventLog.open(trail.config) as log:
        before, cut = fold_orders(log, open_only=True)
        assert order_id_for(order_key(client_order_id="OT-text-2")) not in before
        # Order 2 done and dropped, then IB says more about it: the open-only fold takes its
        # state back by its id (SQLite's hex text made a UUID) and its event's topic.
        trail.record(
            FactKey(order_ref="OT-text-2"),
            StatusReport(raw_status="Filled", filled=SPEC.quantity, remaining=Decimal(0)),
        )
        assert log.head() > cut
        states = assert_the_aggregates(trail, log)
        opened, _ = fold_orders(log, open_only=True)
        read = log.order_rows_read
        resumed, _ = fold_orders(log, start=cut, open_only=True, states=before)
        assert log.order_rows_read > read  # order 2's history, read back by its id
    assert set(states) == {
        order_id_for(order_key(client_order_id=f"OT-text-{n}")) for n in (1, 2, 3)
    }
    assert opened == {k: s for k, s in states.items() if not s.status.is_done}
    assert resumed == opened


def test_whitespace_in_a_stored_json_is_read_from_its_line(trail: OrderTrail) -> None:
    for n in range(1, 5):
        place(trail, n, ("Submitted", "Cancelled"))
    with EventLog.open(trail.config) as log:
        # JSON allows whitespace, newlines included, between members: the same event.
        rewrite(trail.config, 6, lambda s: s.replace(b',"', b',\n"', 1))
        rewrite(trail.config, 11, lambda s: s.replace(b"{", b"{\r\n ", 1))
        with ranges_of(5):
            assert by_lines(log) == [True, True, True, True]
            assert_the_aggregates(trail, log)


def test_two_values_stored_as_one_row_send_its_range_row_by_row(trail: OrderTrail) -> None:
    for n in range(1, 5):
        place(trail, n, ("Submitted", "Cancelled"))
    with EventLog.open(trail.config) as log:
        # One more line than rows, had the range been read from its lines.
        rewrite(trail.config, 6, lambda s: s + b"\n" + s)
        with ranges_of(5):
            assert by_lines(log) == [True, False, True, True]
            # orjson, for the row: the general codec's refusal on either route.
            with pytest.raises(ValueError, match="unexpected content after document") as tagged:
                fold_orders(log)
        with pytest.raises(ValueError, match="unexpected content after document") as general:
            fold_events(e for _, e in stored_events(log))
    assert str(tagged.value) == str(general.value)


def test_a_stored_member_named_as_a_lines_own_cannot_move_an_event(trail: OrderTrail) -> None:
    place(trail, 1, ("Submitted",))
    place(trail, 2, ("Submitted", "Filled"))
    other = order_id_for(order_key(client_order_id="OT-log-1")).hex

    def extra(members: dict[str, Any]) -> Any:
        return lambda s: json.dumps({**json.loads(s), **members}).encode()

    with EventLog.open(trail.config) as log:
        # The lines' own members come after the stored ones: a stored "~o" or "~v" loses.
        rewrite(trail.config, 5, extra({"~o": other, "~v": 1}))
        assert by_lines(log) == [True]
        assert_the_aggregates(trail, log)
        # A stored "~t" of another value: msgspec refuses the range, it goes row by row.
        rewrite(trail.config, 6, extra({"~t": 1}))
        assert by_lines(log) == [False]
        assert_the_aggregates(trail, log)


def test_an_id_in_another_form_sends_its_range_row_by_row(trail: OrderTrail) -> None:
    place(trail, 1, ("Submitted",))
    place(trail, 2, ("Submitted",))
    uid = order_id_for(order_key(client_order_id="OT-log-2"))
    with closing(sqlite3.connect(trail.config.sqlite_path)) as db, db:
        # Another writer's form of the id (the canonical text, with dashes) on all its rows.
        db.execute(
            "UPDATE stored_events SET originator_id = ? WHERE originator_id = ?",
            (str(uid), uid.hex),
        )
    with EventLog.open(trail.config) as log, ranges_of(3):
        assert by_lines(log) == [True, False]
        states, _ = fold_orders(log)
        general = fold_events(e for _, e in stored_events(log))
    assert states == general
    assert states[uid].order_key == "coid:OT-log-2"


def test_a_value_refused_after_the_parse_is_refused_as_the_general_codec_refuses_it(
    trail: OrderTrail,
) -> None:
    place(trail, 1, ("Submitted",))
    with EventLog.open(trail.config) as log:
        # Not a number where a Decimal is stored: msgspec parses the text, the shared Decimal
        # refuses it, and the row goes to the general codec, which refuses it as it would.
        rewrite(trail.config, 3, lambda s: s.replace(b'"filled":"0"', b'"filled":"zero"'))
        assert by_lines(log) == [True]
        with pytest.raises(UnreadableEvent, match="field filled holds 'zero'") as tagged:
            fold_orders(log)
        with pytest.raises(UnreadableEvent) as general:
            fold_events(e for _, e in stored_events(log))
    assert str(tagged.value) == str(general.value)
    assert isinstance(tagged.value.__cause__, InvalidOperation)


def test_reading_by_adbc_beside_the_writer_leaves_its_shared_memory_alone(
    trail: OrderTrail,
) -> None:
    """The ADBC driver links its own SQLite: opening the store read-write on the shared memory
    file, it took itself for the store's only user in this process and started that file
    again, under the writer's mapping of it (a SIGBUS for the writer or a reader beside it)."""
    for n in range(1, 4):
        place(trail, n, ("Submitted",))
    shm = Path(f"{trail.config.sqlite_path}-shm")
    with EventLog.open(trail.config) as log:
        head = log.head()
        before = (shm.stat().st_mtime_ns, shm.read_bytes())
        tagged = pages(log)
        read = list(order_pages(log, head, 4))
        after = (shm.stat().st_mtime_ns, shm.read_bytes())
        states = assert_the_aggregates(trail, log)
    assert after == before
    assert [p.count for p in tagged] == [9]
    assert sum(page.num_rows for page in read) == 9
    assert len(states) == 3


def test_a_store_no_connection_holds_is_read_from_its_lines(trail: OrderTrail) -> None:
    """Closed by its last writer, the store has no shared memory file, which the driver
    cannot create with it read-only: the readers hold the store open through ``sqlite3``
    while the driver reads, so the ranges are still read as columns, not row by row."""
    place(trail, 1, ("Submitted",))
    place(trail, 2, ("Submitted", "Cancelled"))
    expected = {o: trail.get(o).state for o in fold_orders(trail.recorder)[0]}
    trail.close()
    Path(f"{trail.config.sqlite_path}-shm").unlink(missing_ok=True)
    with EventLog.open(trail.config) as log:
        assert by_lines(log) == [True]
        assert [page.num_rows for page in order_pages(log, log.head(), 100)] == [7]
        states, _ = fold_orders(log)
    assert states == expected
