"""Updates merge the small files they leave behind, once a table holds enough of them: the rows
and each table's position stay exactly what they were, and files large enough already are not
rewritten."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.api import Audit
from ordertrail.projections.schema import BY_NAME, TABLES
from ordertrail.projections.upkeep import SMALL_FILES_LIMIT, merge_small_files
from tests.projections.helpers import Desk, at
from tests.projections.test_tables import busy_desk, contents


def _files(audit: Audit, name: str) -> dict[str, int]:
    """The table's current files and their sizes."""
    dt = audit.tables.table(name)
    assert dt is not None
    actions = pa.table(dt.get_add_actions(flatten=True))
    paths, sizes = actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()
    return dict(zip(paths, sizes, strict=True))


def _counts(audit: Audit) -> dict[str, int]:
    return {spec.name: len(_files(audit, spec.name)) for spec in TABLES if spec.name != "brackets"}


def _fill_and_update(desk: Desk, audit: Audit, n: int) -> None:
    desk.fill("OT-2", f"x{n}.01", 1, "11", at=at(10 + n))
    assert not audit.refresh().rebuilt


def _updated(tmp_path: Path, updates: int) -> tuple[Desk, Audit]:
    desk = busy_desk(tmp_path)
    audit = desk.audit()
    audit.refresh()  # the tables built: one file each
    for n in range(updates):
        _fill_and_update(desk, audit, n)
    return desk, audit


def test_an_update_merges_a_table_small_files_once_it_holds_the_limit(tmp_path: Path) -> None:
    desk, audit = _updated(tmp_path, 2)
    audit.projector.small_files_limit = 4
    # Below the limit: each update left a file of its own in the tables it appended to; the
    # keyed orders and the positions were rewritten in one file each.
    assert _counts(audit) == {
        "events": 3,
        "fills": 3,
        "position_history": 3,
        "orders": 1,
        "positions": 1,
    }
    _fill_and_update(desk, audit, 2)
    # The fourth small file made that update merge them.
    assert set(_counts(audit).values()) == {1}
    rebuilt = Audit(desk.config, root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(audit) == contents(rebuilt)
    assert audit.tables.committed_all() == rebuilt.tables.committed_all()
    # The merged tables go on taking updates as before.
    _fill_and_update(desk, audit, 3)
    assert _counts(audit)["fills"] == 2


def test_the_merge_keeps_rows_and_positions_and_leaves_large_files_alone(tmp_path: Path) -> None:
    desk = busy_desk(tmp_path)
    for n in range(150):  # a history: the rebuild's file is far larger than an update's
        desk.fill("OT-1", f"h{n}.01", 1, "10", at=at(5 + n / 1000))
    audit = desk.audit()
    audit.refresh()
    for n in range(3):
        _fill_and_update(desk, audit, n)
    before, positions = contents(audit), audit.tables.committed_all()
    # Four files in events, far from the project's limit: nothing is merged.
    assert merge_small_files(audit.tables.states().values()) == {}
    files = _files(audit, "events")
    assert len(files) == 4 < SMALL_FILES_LIMIT
    # A threshold above what the three updates wrote together, below the rebuild's file.
    largest = max(files, key=lambda path: files[path])
    small = sum(size for path, size in files.items() if path != largest) + 1
    assert small < files[largest]
    merged = merge_small_files([audit.tables.state(BY_NAME["events"])], limit=2, small=small)
    assert merged == {"events": 3}
    after = _files(audit, "events")
    assert len(after) == 2
    assert after[largest] == files[largest]  # the large file was not rewritten
    assert contents(audit) == before
    assert audit.tables.committed_all() == positions
