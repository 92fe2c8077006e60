"""Readers that run at once, and tables that outlive their store.

Two processes refreshing the projections at once must leave exactly the tables one would; and
tables built from a store that was since replaced or truncated must notice it (they record
which store and which log head they came from) and rebuild.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import write_deltalake

from ordertrail.projections.api import Audit
from tests.projections.helpers import Desk, at
from tests.projections.test_tables import busy_desk, contents

_REFRESH = """
import sys, time
from pathlib import Path
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.projections.api import Audit
audit = Audit(StoreConfig.resolve(Path(sys.argv[1])), refresh=False)
audit.projector.log_head()
Path(sys.argv[2]).touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.001)
getattr(audit, sys.argv[4])()
"""


def refresh_at_once(data: Path, processes: int, trial: int, rebuild: bool = False) -> None:
    """Start ``processes`` updaters (the first one rebuilding, with ``rebuild``), let each
    open the store and the tables, then release them together: each reads the same positions
    and folds the same events."""
    go = data.parent / f"go-{trial}"
    ready = [data.parent / f"ready-{trial}-{i}" for i in range(processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REFRESH, str(data), str(flag), str(go), command],
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag, command in zip(
            ready, ["rebuild" if rebuild else "refresh"] + ["refresh"] * processes, strict=False
        )
    ]
    while not all(flag.exists() for flag in ready):
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err


def test_updaters_running_at_once_write_every_row_once(tmp_path: Path) -> None:
    """Three ``orders`` at once, twice; and a ``rebuild`` beside two of them."""
    desk = busy_desk(tmp_path)
    Audit(desk.config).refresh()
    for trial in range(3):
        desk.fill("OT-2", f"t{trial}.01", 1, "11", at=at(10 + trial), commission="0.5")
        desk.fill("OT-1", f"u{trial}.01", 1, "9", at=at(0.5 + trial / 10))  # a late fill
        desk.place(f"OT-c{trial}", quantity=5, limit="12", parent="OT-1", oca="X", oca_type=1)
        refresh_at_once(desk.config.data_dir, 3, trial, rebuild=trial == 1)
    audit = Audit(desk.config, refresh=False)
    ids = audit.scan("events").collect()["notification_id"]
    assert ids.n_unique() == ids.len() == audit.projector.log_head()
    history = audit.scan("position_history").collect()
    assert history.height == history.unique().height
    rebuilt = Audit(desk.config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(audit) == contents(rebuilt)


def replace_store(desk: Desk) -> Path:
    """Close the desk's store and empty its file in place, as ``: > events.sqlite`` does."""
    desk.trail.close()
    path = desk.config.sqlite_path
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"")
    return desk.config.data_dir


def test_tables_of_a_replaced_store_are_rebuilt(tmp_path: Path) -> None:
    old = busy_desk(tmp_path)
    assert Audit(old.config).orders().height == 2
    data = replace_store(old)
    new = Desk(data)
    new.place("OT-new", quantity=3, limit="5")
    new.fill("OT-new", "n.01", 3, "5", at=at(1))
    audit = Audit(new.config)
    assert audit.orders()["client_order_id"].to_list() == ["OT-new"]
    rebuilt = Audit(new.config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(audit) == contents(rebuilt)


def test_tables_ahead_of_a_truncated_store_are_rebuilt(tmp_path: Path) -> None:
    old = busy_desk(tmp_path)
    Audit(old.config).refresh()
    data = replace_store(old)
    assert Audit(Desk(data).config).orders().height == 0


def test_a_store_that_differs_after_the_same_beginning_is_noticed(tmp_path: Path) -> None:
    """The same first events (the same orders replayed), then another history: longer than
    the tables' position, equal at its start, different at the position itself."""
    old = busy_desk(tmp_path)
    audit = Audit(old.config)
    head = audit.refresh().head
    audit.close()
    data = replace_store(old)
    new = Desk(data)
    new.place("OT-1", quantity=100, limit="10")  # the same first events, the same times
    new.status("OT-1", "Submitted", 0, 100)
    for i in range(head):
        new.fill("OT-1", f"other{i}.01", 1, "10", at=at(i))
    audit = Audit(new.config)
    fills = audit.fills()
    assert fills["exec_id"].str.starts_with("other").all()
    rebuilt = Audit(new.config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(audit) == contents(rebuilt)


class _Planted:
    """Creates a file when unpickled: a data directory must never run code when read."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (Path(self.path),))  # type: ignore[return-value]


def test_an_old_pickled_snapshot_is_removed_unread(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    marker = tmp_path / "code-ran"
    folder = desk.config.delta_dir / "_snapshot"
    blob = pickle.dumps(_Planted(str(marker)))
    write_deltalake(str(folder), pa.table({"notification_id": [1], "part": [0], "state": [blob]}))
    audit = Audit(desk.config)
    assert audit.positions().height == 1
    assert not folder.exists()
    assert not marker.exists()
    assert pl.read_delta(audit.tables.uri("orders")).height == 2


def test_a_table_an_older_version_wrote_is_rebuilt(tmp_path: Path) -> None:
    """Same store, same position, but without a column this code keeps (the positions'
    running state): the tables are rebuilt, not merged into."""
    desk = busy_desk(tmp_path)
    audit = Audit(desk.config)
    audit.refresh()
    uri = audit.tables.uri("positions")
    older = pl.read_delta(uri).drop("running_state").to_arrow()
    write_deltalake(uri, older, mode="overwrite", schema_mode="overwrite")
    desk.fill("OT-2", "late.01", 1, "11", at=at(9))
    audit.refresh()
    assert "running_state" in audit.positions().columns
    rebuilt = Audit(desk.config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(audit) == contents(rebuilt)
