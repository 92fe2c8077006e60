"""The tables' upkeep as updates add to them.

Every incremental update adds a small file to each table it writes (an append, or a merge that
puts new keys in a file of their own): a year of sessions leaves hundreds of files per table,
and every query opens them all (100 updates doubled the time of a scan of one order's events
and of an SQL aggregate on a store of 100,000 events). So an update that leaves a table with
``SMALL_FILES_LIMIT`` small files merges them, and only them: the files a rebuild wrote are
never read again, so a merge costs what the recent updates wrote, not the table
(docs/adr/0151-updates-merge-their-small-files.md).

What "small" means depends on the table: a rebuild writes an append-only table in files of
100 MiB before compression, far above ``APPEND_SMALL_BYTES``; it cuts a keyed table, sorted by
its key, into files of 8 MiB before compression, 1.5-3 MiB on disk, above
``KEYED_TARGET_BYTES`` — so their key order, which keeps an update's merge to the few files its
keys fall in, is left alone.

``ordertrail compact`` remains the full upkeep (``compact`` here, then the positions' as-of
snapshots): it merges every table's files, z-ordered where lookups benefit, and checkpoints the
Delta logs; ``vacuum`` deletes the files no current version references.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from ordertrail.projections.schema import TABLES, TableSpec
from ordertrail.projections.tables import (
    KEYED_FILE_BYTES,
    TABLE_PROPERTIES,
    DeltaTables,
    TableState,
    writer_properties,
)

SMALL_FILES_LIMIT = 32
# On disk. An append-only table's merged files grow to this size.
APPEND_SMALL_BYTES = 8 << 20
# A keyed table's update writes files of kilobytes; merged, they make files of up to a MiB,
# still below a rebuild's.
KEYED_SMALL_BYTES = 256 << 10
KEYED_TARGET_BYTES = 1 << 20

log = logging.getLogger(__name__)


def sizes_for(spec: TableSpec) -> tuple[int, int]:
    """(a file smaller than this is small, the size merged files are packed to) for a table.
    deltalake's compaction packs every file smaller than its target, so the target is also the
    size above which a file is never read by a merge."""
    if spec.append_only:
        return APPEND_SMALL_BYTES, APPEND_SMALL_BYTES
    return KEYED_SMALL_BYTES, KEYED_TARGET_BYTES


def small_files(table: DeltaTable, small: int) -> int:
    """How many of the table's current files are smaller than ``small`` bytes."""
    sizes = pa.table(table.get_add_actions(flatten=False)).column("size_bytes")
    return int(pc.sum(pc.less(sizes, small)).as_py() or 0)


def merge_small_files(
    states: Iterable[TableState], limit: int = SMALL_FILES_LIMIT, small: int | None = None
) -> dict[str, int]:
    """Merge the small files of each table (as read in ``states``) that has ``limit`` or more
    of them (``small``: one size for every table, instead of ``sizes_for``'s); the number of
    files each merge removed, by table. Best effort: the update's rows are committed already,
    so a merge that fails is logged and left to the next update."""
    merged: dict[str, int] = {}
    for state in states:
        table = state.table
        # Counting the files is a tenth of the cost of reading their sizes, and most updates
        # find fewer files than the limit.
        if table is None or len(table.file_uris()) < limit:
            continue
        below, target = (small, small) if small is not None else sizes_for(state.spec)
        if small_files(table, below) < limit:
            continue
        try:
            metrics = table.optimize.compact(
                target_size=target, writer_properties=writer_properties(state.spec, "ZSTD")
            )
        except DeltaError as e:
            # Another updater, a ``compact`` or a ``vacuum`` changed the table meanwhile: the
            # merge only rearranges rows, so it is never retried over the other's work.
            log.warning("the small files of %s were not merged: %s", state.spec.name, e)
            continue
        merged[state.spec.name] = int(metrics.get("numFilesRemoved") or 0)
    return merged


# ---- ``ordertrail compact`` and ``vacuum`` -------------------------------------------------


def compact(tables: DeltaTables) -> dict[str, Any]:
    """Merge small files (z-ordered where lookups benefit) and checkpoint the logs."""
    out: dict[str, Any] = {}
    for spec in TABLES:
        dt = tables.table(spec.name)
        if dt is None:
            continue
        if dt.metadata().configuration.get("delta.checkpointInterval") is None:
            # A table an earlier version created: its log checkpoints every 100 commits.
            dt.alter.set_table_properties(TABLE_PROPERTIES)
        props = writer_properties(spec, "ZSTD")
        if not spec.append_only:
            metrics = dt.optimize.z_order(
                list(spec.keys), target_size=KEYED_FILE_BYTES, writer_properties=props
            )
        elif spec.z_order:
            metrics = dt.optimize.z_order(list(spec.z_order), writer_properties=props)
        else:
            metrics = dt.optimize.compact()
        dt.create_checkpoint()
        out[spec.name] = {
            "files_added": metrics.get("numFilesAdded"),
            "files_removed": metrics.get("numFilesRemoved"),
        }
    return out


def vacuum(
    tables: DeltaTables, retention_hours: int = 168, *, dry_run: bool = False
) -> dict[str, int]:
    """Delete files no current version references, older than the retention."""
    out: dict[str, int] = {}
    for spec in TABLES:
        dt = tables.table(spec.name)
        if dt is None:
            continue
        removed = dt.vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            enforce_retention_duration=False,
        )
        out[spec.name] = len(removed)
    return out
