"""Damaged projection tables: found before they are read, named in one line, set aside for
``rebuild``.

The Delta tables are read models: the event log is the source of truth, so a damaged table is
never repaired in place, it is recomputed. What damage looks like, and why it is looked for
before a read rather than caught after one:

* a corrupt ``_delta_log`` entry (a crash half way through someone's editor, a disk error)
  makes every open of the table fail with deltalake's parser error;
* a truncated or missing data file is only found when polars reads it, and then as a Rust
  panic whose text is printed on stderr before Python sees an exception — so every file a
  table's log lists is checked against the size the log recorded for it, first;
* a read-only folder fails at the first write, also as a panic: writing is tried first.

``rebuild`` moves a damaged table's folder aside (``<name>.damaged-<time>``, beside it) and
recomputes it from the event log; nothing is deleted.
"""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable

from ordertrail.domain.errors import OrdertrailError
from ordertrail.projections import snapshots, snapshots_ib
from ordertrail.projections.projector import Projector
from ordertrail.projections.schema import TABLES
from ordertrail.projections.tables import APP_ID, DeltaTables

# The position snapshots (both clocks) are derived from tables, not from the log, but a
# damaged one would fail a read just the same: checked and set aside with the tables
# (compact writes it again).
NAMES = (*(t.name for t in TABLES), snapshots.NAME, snapshots_ib.NAME)
REBUILD = "`ordertrail rebuild` recreates it from the event log (the damaged copy is kept aside)"


class DamagedTables(OrdertrailError):
    """One or more projection tables cannot be read."""

    def __init__(self, damage: dict[str, str]) -> None:
        self.damage = damage
        tables = ", ".join(f"{name} ({why})" for name, why in damage.items())
        noun = "table is" if len(damage) == 1 else "tables are"
        super().__init__(f"projection {noun} damaged: {tables}; {REBUILD}")


class ReadFailed(OrdertrailError):
    """The engine gave up on a read (a panic) and no table was found damaged afterwards."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"reading the projection tables failed ({why}); if it happens again, {REBUILD}"
        )


class TablesNotWritable(OrdertrailError):
    """The projection's folder cannot be written (read-only, or not ours)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(
            f"cannot write the projection tables in {where} ({why}): updating or rebuilding "
            "them needs write access there"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def _local(tables: DeltaTables) -> Path | None:
    return None if "://" in tables.root else Path(tables.root)


def _files_problem(dt: DeltaTable, folder: Path) -> str | None:
    """A data file the log lists that is missing or not the size the log recorded."""
    actions = pa.table(dt.get_add_actions(flatten=False)).select(["path", "size_bytes"])
    for path, size in zip(
        actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True
    ):
        file = folder / unquote(path)
        try:
            actual = file.stat().st_size
        except FileNotFoundError:
            return f"data file {path} is missing"
        if size is not None and actual != size:
            return f"data file {path} has {actual:,} bytes, its log says {size:,}"
    return None


def table_problem(tables: DeltaTables, name: str) -> str | None:
    """Why the table ``name`` cannot be read, or None (also when it does not exist yet)."""
    uri = tables.uri(name)
    try:
        if not DeltaTable.is_deltatable(uri, storage_options=tables.storage_options):
            return None
        dt = DeltaTable(uri, storage_options=tables.storage_options)
        dt.transaction_version(APP_ID.format(name))
        local = _local(tables)
        return None if local is None else _files_problem(dt, local / name)
    except Exception as e:  # deltalake's errors, OSError, Arrow's: all mean "cannot read it"
        return f"its log cannot be read: {_first_line(e)}"


def damaged(tables: DeltaTables) -> dict[str, str]:
    found = {name: table_problem(tables, name) for name in NAMES}
    return {name: why for name, why in found.items() if why is not None}


def ensure_sound(tables: DeltaTables) -> None:
    """Raise :class:`DamagedTables` naming every table that cannot be read."""
    damage = damaged(tables)
    if damage:
        raise DamagedTables(damage)


def _writable_problem(folder: Path) -> str | None:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return e.strerror or "not writable"
        raise


def ensure_writable(tables: DeltaTables) -> None:
    """Raise :class:`TablesNotWritable` when a write would fail: the root, every table's folder
    and its log folder are tried (by creating a file, which is the only answer a superuser or
    a read-only mount gives truthfully)."""
    local = _local(tables)
    if local is None:
        return
    folders = [local]
    for name in NAMES:
        if (local / name / "_delta_log").is_dir():
            folders += [local / name, local / name / "_delta_log"]
    for folder in folders:
        why = _writable_problem(folder)
        if why is not None:
            raise TablesNotWritable(str(folder), why)


def behind(projector: Projector) -> bool:
    """Whether an update would write: some table is missing or behind the log's head."""
    head = projector.log_head()
    return any(v is None or v < head for v in projector.tables.committed_all().values())


def set_aside(tables: DeltaTables, names: list[str], stamp: str) -> dict[str, Path]:
    """Move each damaged table's folder to ``<name>.damaged-<stamp>`` beside it."""
    local = _local(tables)
    if local is None and names:
        raise DamagedTables(
            {n: "on an object store: move or delete it by hand, then rebuild" for n in names}
        )
    moved: dict[str, Path] = {}
    for name in names:
        assert local is not None
        target = local / f"{name}.damaged-{stamp}"
        (local / name).rename(target)
        moved[name] = target
    return moved


@contextmanager
def reading(tables: DeltaTables) -> Iterator[None]:
    """Around any read of the tables: damage found beforehand is named in one line, and an
    error from deltalake or polars during the read is named the same way, with the tables
    it left damaged (a file can break between the check and the read)."""
    ensure_sound(tables)
    try:
        yield
    except OrdertrailError:
        raise
    except BaseException as e:
        if not _engine_error(e):
            raise
        damage = damaged(tables)
        if damage:
            raise DamagedTables(damage) from None
        if type(e).__name__ != "PanicException":
            raise  # a wrong query, not a damaged table: the caller reports it
        raise ReadFailed(_first_line(e)) from None


def _engine_error(error: BaseException) -> bool:
    """deltalake's and polars' errors, and the panics their Rust code turns into
    ``pyo3_runtime.PanicException`` (a BaseException, of a class each extension makes)."""
    kind = type(error)
    module = kind.__module__.split(".")[0]
    return kind.__name__ == "PanicException" or module in ("deltalake", "polars", "pyarrow")
