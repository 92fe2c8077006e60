"""The streaming rebuild: the log read order by order in pages, each order's rows spilled when
the next begins, positions folded bucket by bucket from operations that went to files, and
each table committed once. Run with small pages and limits so every path is taken, its tables
equal the log-order fold's."""

from __future__ import annotations

from datetime import timedelta
from operator import itemgetter
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from ordertrail.adapters.bench_projections import on_store, populate
from ordertrail.adapters.store import logsources
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.projections import (
    handoff,
    op_spill,
    position_inputs,
    position_ops,
    position_pass,
    projector,
    rebuild,
    spill,
    table_files,
)
from ordertrail.projections.api import Audit
from ordertrail.projections.schema import EVENTS
from ordertrail.projections.tables import DeltaTables, unfinished
from tests.projections.helpers import AAPL, ES, Desk, at
from tests.projections.test_tables import contents


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logsources, "PAGE", 97)
    monkeypatch.setattr(position_inputs, "OPS_IN_MEMORY", 50)
    monkeypatch.setattr(position_inputs, "OPS_PER_BUCKET", 40)
    monkeypatch.setattr(spill, "CHUNK_ROWS", 64)
    # Each bucket's fill rows written in several chunks.
    monkeypatch.setattr(position_inputs, "BUCKET_CHUNK", 8)
    monkeypatch.setattr(position_inputs, "FILL_ROWS_HELD", 64)
    # Every table in several chunks, each of a range of ids or keys; on an object store,
    # each its own commit.
    monkeypatch.setattr(spill, "WRITE_ROWS", 400)
    monkeypatch.setattr(projector, "COMMIT_BYTES", 1)
    # Several sorted runs of operations per position, merged a frame of each at a time; the
    # fill effects in several chunks, joined to the fill rows in several.
    monkeypatch.setattr(op_spill, "FRAME_OPS", 7)
    monkeypatch.setattr(position_pass, "EFFECT_CHUNK", 33)
    monkeypatch.setattr(position_pass, "JOIN_ROWS", 100)
    monkeypatch.setattr(position_pass, "HISTORY_BATCH", 5)
    # Each position's Arrow operations folded in several segments, its history rows split by
    # range a few segments at a time, a refolded position's operations converted in parts.
    monkeypatch.setattr(position_pass, "SEGMENT_OPS", 7)
    monkeypatch.setattr(position_pass, "HISTORY_ROWS", 50)
    monkeypatch.setattr(position_ops, "TUPLE_ROWS", 5)


def test_the_rebuild_equals_the_log_order_fold(tmp_path: Path, small_pages: None) -> None:
    # The benchmark's workload: partial fills, commissions, corrections, OCA groups of
    # parent and child, three accounts, a futures multiplier, long and short.
    written, orders = populate(tmp_path, 3000)
    config = StoreConfig.resolve(tmp_path)
    folded = Audit(config, root=tmp_path / "folded")
    assert folded.refresh().rebuilt is False  # no tables yet: the log-order fold
    rebuilt = Audit(config, root=tmp_path / "rebuilt")
    result = rebuilt.rebuild()
    assert (result.events, result.head, result.rebuilt) == (written, written, True)
    mine, theirs = contents(rebuilt), contents(folded)
    assert mine == theirs
    assert len(mine["orders"]) == orders
    assert len(mine["events"]) == written
    assert {r["group_kind"] for r in mine["brackets"]} == {"bracket", "oca"}
    # Each table was committed once, at the head the rebuild read.
    assert rebuilt.tables.committed_all() == dict.fromkeys(mine, written)
    # The spill files (beside the tables) are gone.
    assert not list((tmp_path / "rebuilt").glob(f"{spill.SPILL_PREFIX}*"))
    folded.close()
    rebuilt.close()


def test_the_log_order_by_order_holds_every_event_once(tmp_path: Path, small_pages: None) -> None:
    populate(tmp_path, 1000)
    with EventLog.open(StoreConfig.resolve(tmp_path)) as log:
        by_order = list(log.rows_by_order(log.head()))
        in_log_order = list(log.rows())
        upto = list(log.rows_by_order(500))
    assert sorted(by_order) == in_log_order
    keys = [(r[1], r[2]) for r in by_order]
    assert keys == sorted(keys)  # each order's events together, oldest first
    assert sorted(upto) == in_log_order[:500]


def test_a_rebuild_stopped_midway_leaves_the_tables_it_had(tmp_path: Path) -> None:
    """A rebuild that dies before its last commit leaves every table either as it was or
    rebuilt; the next update ends in a rebuild's tables."""
    populate(tmp_path, 1500)
    config = StoreConfig.resolve(tmp_path)
    audit = Audit(config, root=tmp_path / "delta")
    audit.refresh()
    real = DeltaTables.commit_files
    calls = [0]

    def dies_on_the_third(self: DeltaTables, *args: object, **kw: object) -> object:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DeltaTables, "commit_files", dies_on_the_third)
        with pytest.raises(KeyboardInterrupt):
            audit.rebuild()
    audit.refresh()
    clean = Audit(config, root=tmp_path / "clean")
    clean.rebuild()
    assert contents(audit) == contents(clean)


def test_a_rebuild_stopped_while_writing_a_table_leaves_it_as_it_was(
    tmp_path: Path, small_pages: None
) -> None:
    """A table's new files are written before the one commit that names them: a rebuild
    stopped in between leaves the table at its version, and deletes the files it wrote."""
    written, _ = populate(tmp_path, 1500)
    config = StoreConfig.resolve(tmp_path)
    audit = Audit(config, root=tmp_path / "delta")
    audit.refresh()
    before = audit.tables.state(EVENTS)
    assert before.table is not None
    files = set((tmp_path / "delta" / "events").rglob("*.parquet"))
    real = table_files.TableFiles.write
    calls = [0]

    def dies_on_the_third(self: table_files.TableFiles, chunk: object) -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        real(self, chunk)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(table_files.TableFiles, "write", dies_on_the_third)
        with pytest.raises(KeyboardInterrupt):
            audit.rebuild()
    after = audit.tables.state(EVENTS)
    assert after.table is not None
    assert (after.table.version(), after.source) == (before.table.version(), before.source)
    assert set((tmp_path / "delta" / "events").rglob("*.parquet")) == files
    assert audit.scan("events").collect().height == written


def test_on_an_object_store_a_rebuild_stopped_between_two_commits_of_a_table_is_redone(
    tmp_path: Path, small_pages: None
) -> None:
    """Tables under a URI are written by deltalake, in commits of ``COMMIT_BYTES``: until its
    last commit a table says it is unfinished, and the next update rebuilds."""
    populate(tmp_path, 1500)
    config = StoreConfig.resolve(tmp_path)
    audit = Audit(config, root=(tmp_path / "delta").as_uri())
    real = DeltaTables.append

    def dies(self: DeltaTables, *args: object, **kw: object) -> object:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DeltaTables, "append", dies)
        with pytest.raises(KeyboardInterrupt):
            audit.rebuild()
    # The events table holds its first part only, and says so.
    state = audit.tables.state(EVENTS)
    assert state.source == unfinished(1500)
    assert 0 < audit.scan("events").collect().height < 1500
    assert DeltaTables.append is real
    assert audit.refresh().rebuilt
    clean = Audit(config, root=tmp_path / "clean")
    clean.rebuild()
    assert contents(audit) == contents(clean)
    assert audit.scan("events").collect().height == 1500


def test_the_bench_measures_a_populated_store(tmp_path: Path) -> None:
    """``bench_projections … store DIR``: rates on a store written once, by both routes of the
    orders pass, with its same-run baselines (tiny: this checks the command, never a
    timing)."""
    written, _ = populate(tmp_path, 600)
    out = on_store(tmp_path, 1)
    assert out["events"] == written
    names = ("rebuild", "rebuild_columnar", "orders_pass", "orders_pass_columnar",
             "decode_only", "baseline_sqlite_orjson")  # fmt: skip
    for name in names:
        assert out[name]["cpu_events_per_s"] > 0
    assert set(out["columnar_vs_fold_cpu"]) == {"rebuild", "orders_pass"}


def _orders_over_days(root: Path, orders: int) -> None:
    """Orders placed six hours apart on the recorded clock, each submitted, filled in two
    parts and then left: their events fall on many days."""
    desk = Desk(root)
    desk.clock.step = timedelta(hours=6)
    for i in range(orders):
        coid = f"OT-{i}"
        desk.place(coid, quantity=100, contract=AAPL if i % 3 else ES)
        desk.status(coid, "Submitted", 0, 100)
        desk.fill(coid, f"E{i}.1", 40, "10.5", at=at(i))
        desk.fill(coid, f"E{i}.2", 60, "10.25", at=at(i + 0.5))
    desk.trail.close()


def _file_order(root: Path) -> list[list[tuple[str, int, int]]]:
    """Each ``events`` file's rows as (order id, version, notification id), in file order."""
    files = sorted((root / "events").rglob("*.parquet"))
    read = [pq.read_table(f, columns=["order_id", "version", "notification_id"]) for f in files]
    return [list(zip(*(t.column(i).to_pylist() for i in range(3)), strict=True)) for t in read]


@pytest.mark.parametrize("open_files", [2, 5, 64])
def test_events_handed_to_their_files_or_spilled_give_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_files: int
) -> None:
    """A history over more days than the writer keeps files open for has the rows of those
    days spilled and read back after the pass; over fewer, every row is handed to its day's
    file as the pass makes it (rows of each day in the order the pass made them: order by
    order); in between, some of each. Either way the tables are the update's, and every day
    of events is in its own partition."""
    monkeypatch.setattr(table_files, "OPEN_FILES", open_files)
    monkeypatch.setattr(spill, "CHUNK_ROWS", 16)  # the fold's rows flushed several times
    monkeypatch.setattr(rebuild, "CHUNK_ROWS", 30)  # several decoded chunks
    monkeypatch.setattr(rebuild, "FIRST_CHUNK_ROWS", 30)
    _orders_over_days(tmp_path, 40)
    config = StoreConfig.resolve(tmp_path)
    folded = Audit(config, root=tmp_path / "folded")
    folded.refresh()
    rebuilt = Audit(config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    mine = contents(rebuilt)
    assert mine == contents(folded)
    days = {row["day"] for row in mine["events"]}
    assert len(days) > 10
    folders = {p.name for p in (tmp_path / "rebuilt" / "events").glob("day=*")}
    assert folders == {f"day={d.isoformat()}" for d in days}
    assert not list((tmp_path / "rebuilt").glob(f"{spill.SPILL_PREFIX}*"))
    files = _file_order(tmp_path / "rebuilt")
    by_order = all(rows == sorted(rows) for rows in files)
    by_id = all(rows == sorted(rows, key=itemgetter(2)) for rows in files)
    if open_files == 64:  # every row handed: each file order by order, not in log order
        assert by_order
        assert not by_id
    if open_files == 2:  # the first chunk brings more days: every row spilled, in log order
        assert by_id
        assert not by_order
    folded.close()
    rebuilt.close()


def test_a_rebuild_whose_events_writer_fails_stops_the_pass_and_keeps_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread writing the handed rows fails while the orders pass still runs: the pass
    stops waiting for it, the rebuild fails with the writer's error, and every table is as
    it was, with no file of the failed rebuild left behind."""
    monkeypatch.setattr(rebuild, "CHUNK_ROWS", 30)
    monkeypatch.setattr(rebuild, "FIRST_CHUNK_ROWS", 30)
    monkeypatch.setattr(handoff, "AHEAD", 1)  # the pass waits for the writer at once
    monkeypatch.setattr(table_files, "OPEN_FILES", 1000)  # every row handed
    _orders_over_days(tmp_path, 60)
    config = StoreConfig.resolve(tmp_path)
    audit = Audit(config, root=tmp_path / "delta")
    audit.refresh()
    before = contents(audit)
    files = set((tmp_path / "delta").rglob("*.parquet"))
    real = table_files.TableFiles.write

    def fails_on_events(self: table_files.TableFiles, chunk: object) -> None:
        if self.spec.name == "events":
            raise OSError("disk full")
        real(self, chunk)  # type: ignore[arg-type]

    monkeypatch.setattr(table_files.TableFiles, "write", fails_on_events)
    with pytest.raises(OSError, match="disk full"):
        audit.rebuild()
    monkeypatch.undo()
    assert set((tmp_path / "delta").rglob("*.parquet")) == files
    assert contents(audit) == before
    audit.close()
