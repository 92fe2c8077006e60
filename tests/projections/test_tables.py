"""The Delta tables: log position committed with the rows, crash recovery, rebuild,
maintenance, timelines and orders as of a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ordertrail.projections.api import Audit
from ordertrail.projections.schema import BY_NAME, TABLES
from ordertrail.projections.tables import APP_ID, DeltaTables
from tests.projections.helpers import Desk, at, dec


def busy_desk(tmp_path: Path) -> Desk:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=100, limit="10")
    desk.status("OT-1", "Submitted", 0, 100)
    desk.fill("OT-1", "a.01", 60, "10", at=at(1), commission="1")
    desk.fill("OT-1", "b.01", 40, "10", at=at(2), commission="1")
    desk.place("OT-2", quantity=10, limit="11")
    desk.fill("OT-2", "c.01", 10, "11", at=at(3))
    return desk


def contents(audit: Audit) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for spec in TABLES:
        frame = audit.scan(spec.name).collect()
        out[spec.name] = sorted(frame.to_dicts(), key=repr)
    return out


def test_every_table_records_the_last_notification_it_holds(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    audit = desk.audit()
    head = audit.refresh().head
    assert audit.tables.committed_all() == {t.name: head for t in TABLES}
    assert audit.refresh().events == 0  # nothing new: nothing written
    assert audit.scan("events").collect().height == head


def test_a_crash_between_tables_neither_loses_nor_doubles_rows(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    audit = desk.audit()
    audit.refresh()
    desk.fill("OT-2", "d.01", 5, "11", at=at(4))
    desk.place("OT-3", quantity=1, limit="1")

    real_write = DeltaTables.write
    written: list[str] = []

    def crash_after_events(self: DeltaTables, state: Any, *args: Any, **kw: Any) -> Any:
        if written:
            raise RuntimeError("power cut")
        written.append(state.spec.name)
        return real_write(self, state, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DeltaTables, "write", crash_after_events)
        with pytest.raises(RuntimeError, match="power cut"):
            audit.refresh()
    versions = audit.tables.committed_all()
    assert versions["events"] > versions["orders"]  # events committed, the rest did not

    audit.refresh()  # the re-run skips what events has
    rebuilt = Audit(desk.config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(audit) == contents(rebuilt)
    ids = audit.scan("events").collect()["notification_id"]
    assert ids.n_unique() == ids.len()


def test_a_missing_table_is_rebuilt_on_the_next_update(tmp_path: Path) -> None:
    import shutil

    desk = busy_desk(tmp_path)
    audit = desk.audit()
    audit.refresh()
    before = contents(audit)
    shutil.rmtree(audit.tables.uri("fills"))
    audit.refresh()
    assert contents(audit) == before


def test_an_empty_table_folder_is_a_missing_table(tmp_path: Path) -> None:
    import shutil

    desk = busy_desk(tmp_path)
    audit = desk.audit()
    audit.refresh()
    before = contents(audit)
    # Tables are opened without listing their log first: a folder with no log is no table.
    shutil.rmtree(audit.tables.uri("fills"))
    Path(audit.tables.uri("fills"), "_delta_log").mkdir(parents=True)
    assert audit.tables.table("fills") is None
    assert audit.tables.state(BY_NAME["fills"]).source is None
    audit.refresh()
    assert contents(audit) == before


def test_compact_and_vacuum_keep_rows_and_positions(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    audit = desk.audit()
    for i in range(3):  # several small commits
        desk.fill("OT-2", f"x{i}.01", 1, "11", at=at(10 + i))
        audit.refresh()
    before, versions = contents(audit), audit.tables.committed_all()
    audit.compact()
    audit.vacuum(retention_hours=0)
    assert contents(audit) == before
    assert audit.tables.committed_all() == versions
    dt = audit.tables.table("events")
    assert dt is not None
    assert dt.transaction_version(APP_ID.format("events")) == versions["events"]


def test_timeline_and_order_as_of(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    audit = desk.audit()
    line = audit.timeline("OT-1")
    assert line["event_type"].to_list()[:3] == [
        "OrderCreated",
        "SubmissionRequested",
        "StatusReported",
    ]
    assert line["notification_id"].is_sorted()
    assert {"ts_event", "ts_recorded", "summary"} <= set(line.columns)
    perm = desk.keys["OT-1"].perm_id
    assert audit.timeline(str(perm)).equals(line)
    # what did we know after the first fill was recorded?
    first_fill = line.filter(pl.col("event_type") == "ExecutionRecorded")["ts_recorded"][0]
    state = audit.order_as_of("OT-1", first_fill)
    assert state is not None
    assert state.filled == 60
    assert state.status.value == "Submitted"
    # on IB's clock the second fill (at 2 s) had happened by 2 s, whenever it was recorded
    state = audit.order_as_of("OT-1", at(2), clock="ib")
    assert state is not None
    assert dec(state.filled) == 100
    assert audit.order_as_of("OT-1", at(-3600)) is None
    with pytest.raises(LookupError):
        audit.timeline("OT-nope")


def test_tables_on_a_uri(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    audit = Audit(desk.config, root=f"file://{tmp_path}/elsewhere")
    assert audit.positions().height == 1
    assert (tmp_path / "elsewhere" / "positions" / "_delta_log").is_dir()
