"""The audit queries' layout at scale: name lookups, timelines bounded by the days an order
lived, positions as of a time from snapshots — each against its definition over the whole
history, on a real SQLite store and real Delta tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ordertrail.projections import snapshots
from ordertrail.projections.api import Audit
from tests.conftest import EPOCH
from tests.projections.helpers import ES, SAP, Desk, at

KEYS = ["account", "con_id"]


def _recorded_as_of(audit: Audit, t: datetime) -> pl.DataFrame:
    """The definition: every history row recorded by ``t``, the last of each position."""
    return (
        audit.scan("position_history")
        .filter(pl.col("ts_recorded") <= t)
        .sort("notification_id")
        .group_by(KEYS)
        .agg(pl.all().last())
        .drop("cause", "exec_id", "ts_event", "day")
        .rename({"ts_recorded": "updated_recorded"})
        .sort(KEYS)
        .collect()
    )


def _trade_days(desk: Desk, days: range, tag: str) -> None:
    for day in days:
        desk.clock.now = EPOCH + timedelta(days=day, hours=14)
        for n, contract in enumerate((ES, SAP)):
            coid = f"OT-{tag}{day}-{n}"
            desk.place(coid, quantity=3, contract=contract, account=f"U{1 + day % 2}")
            desk.status(coid, "Submitted", 0, 3)
            desk.fill(coid, f"{tag}{day}{n}a.01", 1, "10", at=at(day * 86_400), commission="1")
            desk.fill(coid, f"{tag}{day}{n}b.01", 2, "11", at=at(day * 86_400 + 9))


def _times(days: int) -> list[datetime]:
    return [EPOCH + timedelta(hours=h) for h in range(0, days * 24 + 24, 7)]


def test_positions_as_of_from_snapshots_are_the_whole_historys(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    _trade_days(desk, range(6), "a")
    audit = desk.audit()
    audit.refresh()
    audit.compact()
    assert snapshots.build(audit.tables, rows_between=4)["files_added"] >= 4
    for t in _times(6):
        assert audit.positions(as_of=t).equals(_recorded_as_of(audit, t)), t
    assert snapshots.history_as_of(audit.tables, EPOCH + timedelta(days=5)) is not None

    # After the snapshots: more days, and a replayed session recorded with old times (its
    # notification ids come after the snapshots, its recorded times before their cutoffs).
    _trade_days(desk, range(6, 8), "b")
    _trade_days(desk, range(1, 3), "late")
    audit.refresh()
    assert snapshots.history_as_of(audit.tables, EPOCH + timedelta(days=5)) is not None
    for t in _times(8):
        assert audit.positions(as_of=t).equals(_recorded_as_of(audit, t)), t

    # A rebuild replaces the history: its snapshots are no longer used.
    audit.rebuild()
    assert snapshots.history_as_of(audit.tables, EPOCH + timedelta(days=5)) is None
    for t in _times(8)[::3]:
        assert audit.positions(as_of=t).equals(_recorded_as_of(audit, t)), t


def test_positions_as_of_ib_clock_is_the_last_fill_of_each_position(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    _trade_days(desk, range(3), "a")
    audit = desk.audit()
    t = at(86_400 + 5)  # between the two fills of day 1
    got = audit.positions(as_of=t, clock="ib")
    fills = audit.fills().filter(pl.col("ts_ib") <= t).sort("ts_ib", "exec_base_id")
    assert got["fills"].sum() == fills.height == 6  # four on day 0, two by then on day 1
    last = fills.group_by(KEYS).agg(pl.col("position_quantity").last()).sort(KEYS)
    assert got.select(*KEYS, pl.col("quantity").alias("position_quantity")).equals(last)
    assert got.columns[-3:] == ["commission", "fills", "last_fill_ib"]


def test_a_timeline_holds_every_event_when_the_clock_stepped_back(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.clock.now = EPOCH + timedelta(days=3)
    desk.place("OT-1", quantity=3)
    desk.clock.now = EPOCH + timedelta(days=5)  # an order that lives over several days
    desk.status("OT-1", "Submitted", 0, 3)
    desk.clock.now = EPOCH  # the machine's clock stepped back days
    desk.fill("OT-1", "x1.01", 1, "10", commission="1")
    audit = desk.audit()
    events = audit.timeline("OT-1")
    assert events["event_type"].to_list() == [
        "OrderCreated",
        "SubmissionRequested",
        "StatusReported",
        "ExecutionRecorded",
        "CommissionReported",
    ]
    assert events["notification_id"].is_sorted()


def test_an_order_is_found_by_every_name_it_has(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    oid = desk.place("OT-7")
    desk.status("OT-7", "Submitted", 0, 100)
    audit = desk.audit()
    perm = str(desk.keys["OT-7"].perm_id)
    for name in ("OT-7", "coid:OT-7", str(oid), perm):
        assert audit.find_orders(name)["order_key"].to_list() == ["coid:OT-7"], name
    assert audit.timeline(str(oid)).height == audit.timeline(perm).height == 3
    with pytest.raises(LookupError):
        audit.timeline(str(oid).upper())
