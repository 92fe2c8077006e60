"""A rebuild writes its tables' files on background threads beside its passes and commits each
table once all its files exist: a keyed table's ranges written by both threads keep their
files in key order, and an interrupt or an error while a background write runs leaves every
table as it was, with no file of its own, no spill folder and no thread behind it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from ordertrail.adapters.bench_workload import populate
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.projections import rebuild, spill, table_files
from ordertrail.projections.api import Audit
from ordertrail.projections.schema import EVENTS, FILLS, ORDERS, TABLES
from ordertrail.projections.spill import SPILL_PREFIX
from tests.projections.test_tables import contents


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of 30 rows: every table in several chunks, the keyed ones in several files."""
    monkeypatch.setattr(spill, "WRITE_ROWS", 30)
    monkeypatch.setattr(spill, "CHUNK_ROWS", 64)


def states(audit: Audit) -> dict[str, Any]:
    out = {}
    for spec in TABLES:
        state = audit.tables.state(spec)
        assert state.table is not None
        out[spec.name] = (state.table.version(), state.source)
    return out


def left_behind(root: Path) -> tuple[set[Path], list[Path], list[str]]:
    """The tables' Parquet files, the spill folders and the writing threads still there."""
    threads = [t.name for t in threading.enumerate() if t.name.startswith("ordertrail-files")]
    return set(root.rglob("*.parquet")), list(root.glob(f"{SPILL_PREFIX}*")), threads


def test_a_keyed_tables_ranges_written_by_both_threads_keep_their_files_in_key_order(
    tmp_path: Path, small_ranges: None
) -> None:
    populate(tmp_path, 1500)
    audit = Audit(StoreConfig.resolve(tmp_path), root=tmp_path / "delta")
    audit.rebuild()
    for spec in (ORDERS, FILLS):
        table = audit.tables.table(spec.name)
        assert table is not None
        paths = table.file_uris()
        assert len(paths) > 3
        keys = [pq.read_table(p, columns=[spec.keys[0]]).column(0).to_pylist() for p in paths]
        in_order = [k for file in sorted(keys, key=lambda ks: ks[0]) for k in file]
        assert in_order == sorted(in_order)  # the files' ranges do not overlap
        assert all(file == sorted(file) for file in keys)
    clean = Audit(StoreConfig.resolve(tmp_path), root=tmp_path / "clean")
    clean.refresh()  # the update's fold
    assert contents(audit) == contents(clean)


def test_an_interrupt_while_a_background_write_runs_leaves_every_table_as_it_was(
    tmp_path: Path, small_ranges: None
) -> None:
    """Ctrl-C reaches the main thread in the positions pass while the ``events`` files are
    being written beside it: the write stops, its files are deleted, no table moves; the next
    update ends in a clean rebuild's tables."""
    populate(tmp_path, 1500)
    config = StoreConfig.resolve(tmp_path)
    root = tmp_path / "delta"
    audit = Audit(config, root=root)
    audit.refresh()
    before, files = states(audit), left_behind(root)
    writing = threading.Event()
    real_write = table_files.TableFiles.write

    def write(self: table_files.TableFiles, chunk: Any) -> None:
        real_write(self, chunk)
        if self.spec is EVENTS:
            writing.set()

    def interrupted(*args: Any, **kw: Any) -> Any:
        assert writing.wait(120)  # the events' first chunk is on disk
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(table_files.TableFiles, "write", write)
        mp.setattr(rebuild, "positions_pass", interrupted)
        with pytest.raises(KeyboardInterrupt):
            audit.rebuild()
    assert states(audit) == before
    assert left_behind(root) == files
    assert audit.refresh().rebuilt is False  # nothing to do: the tables are as they were
    clean = Audit(config, root=tmp_path / "clean")
    clean.rebuild()
    assert contents(audit) == contents(clean)


def test_a_background_write_that_fails_stops_the_rebuild_before_any_commit(
    tmp_path: Path, small_ranges: None
) -> None:
    """A write on a background thread fails (the disk is full) while the main thread folds
    positions: the rebuild raises that error once it needs the table, commits nothing, and
    deletes every file it wrote, the other threads' included."""
    populate(tmp_path, 1500)
    root = tmp_path / "delta"
    audit = Audit(StoreConfig.resolve(tmp_path), root=root)
    audit.refresh()
    before, files = states(audit), left_behind(root)
    real_write = table_files.TableFiles.write

    def full_disk(self: table_files.TableFiles, chunk: Any) -> None:
        if self.spec is FILLS and self.added:
            raise OSError(28, "No space left on device")
        real_write(self, chunk)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(table_files.TableFiles, "write", full_disk)
        with pytest.raises(OSError, match="No space left"):
            audit.rebuild()
    assert states(audit) == before
    assert left_behind(root) == files
