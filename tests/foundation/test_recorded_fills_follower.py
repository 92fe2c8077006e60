"""The Flex importer's index of recorded fills is a follower of the event log: a read after an
import costs the events that import (or any other writer) recorded, not the whole log, and it
knows exactly what a read of the whole log would."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date
from pathlib import Path

import pytest

from ordertrail.adapters.flex.importer import FlexImporter
from ordertrail.adapters.flex.recorded import RecordedFills, RecordedFillsFollower, follower_of
from ordertrail.adapters.flex.statement import read_flex_file
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.trail import OrderTrail
from tests.conftest import Clock

DATA = Path(__file__).parents[1] / "flex" / "data"
WEEK1 = DATA / "activity_2025-08-04_08.xml"
WEEK2 = DATA / "activity_2025-08-11_15.xml"
CONFIRM = DATA / "confirm_2025-08-18.xml"


def whole_log(config: StoreConfig) -> RecordedFills:
    with EventLog.open(config) as log:
        fresh = RecordedFillsFollower(log)
        fresh.catch_up()
        return fresh.known


def test_each_import_reads_only_what_was_recorded_since(tmp_path: Path, clock: Clock) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config, clock=clock)
    other = OrderTrail(config, clock=clock)  # another process importing into the same store
    follower = follower_of(trail.recorder)
    for path, importer in ((WEEK1, trail), (WEEK2, other), (CONFIRM, trail)):
        head = trail.recorder.max_notification_id() or 0
        read, position = follower.log.rows_read, follower.position
        result = FlexImporter(importer).import_file(read_flex_file(path))
        assert result.counts.executions_recorded > 0
        # An import by this trail reads, before deciding, what was recorded since its last
        # read (the other writer's file included) and one row to check the log is the same;
        # the other writer's import reads through its own follower.
        expected = head - position + (1 if position else 0) if importer is trail else 0
        assert follower.log.rows_read - read == expected
    head = trail.recorder.max_notification_id() or 0
    before, position = follower.log.rows_read, follower.position
    known = RecordedFills.read(trail.recorder)
    assert follower.log.rows_read - before == head - position + 1
    assert known == whole_log(config)
    trail.close()
    other.close()


def test_what_a_caller_changes_in_its_copy_stays_there(tmp_path: Path, clock: Clock) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config, clock=clock)
    FlexImporter(trail).import_file(read_flex_file(WEEK1))
    first = RecordedFills.read(trail.recorder)
    base, fill = next(iter(first.fills.items()))
    # What an import does while it decides a file that is then not saved. A fill is shared
    # by every copy, so it is never changed in place: a cancel replaces it in the copy.
    with pytest.raises(FrozenInstanceError):
        fill.cancelled_on = date(2025, 8, 8)  # type: ignore[misc]
    first.cancelled(base, date(2025, 8, 8))
    assert first.fills[base].cancelled_on == date(2025, 8, 8)
    first.commissioned.discard(base)
    first.orders.clear()
    again = RecordedFills.read(trail.recorder)
    assert again == whole_log(config)
    assert again.fills[base].cancelled_on is None
    assert again.orders
    trail.close()
