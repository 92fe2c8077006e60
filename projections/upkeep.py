"""The tables' upkeep as updates add to them.

Every incremental update adds a small file to each table it writes (an append, or a merge that
puts new keys in a file of their own): a year of sessions leaves hundreds of files per table,
and every query opens them all (100 updates doubled the time of a scan of one order's events
and of an SQL aggregate on a store of 100,000 events). So an update that leaves a table with
``SMALL_FILES_LIMIT`` files smaller than ``SMALL_FILE_BYTES`` merges those files, and only
those: a file already that large is never read again, so the merge costs what the recent
updates wrote, not the table (docs/adr/0151-updates-merge-their-small-files.md).

``ordertrail compact`` remains the full upkeep: it also z-orders the files and snapshots the
positions for as-of queries.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from ordertrail.projections.tables import KEYED_FILE_BYTES, TableState, writer_properties

# A file this small came from an update (a rebuild cuts keyed tables into files of about this
# size before compression, and writes append-only tables in larger files).
SMALL_FILE_BYTES = KEYED_FILE_BYTES
SMALL_FILES_LIMIT = 32


def small_files(table: DeltaTable, small: int = SMALL_FILE_BYTES) -> int:
    """How many of the table's current files are smaller than ``small`` bytes."""
    sizes = pa.table(table.get_add_actions(flatten=False)).column("size_bytes")
    return int(pc.sum(pc.less(sizes, small)).as_py() or 0)


def merge_small_files(
    states: Iterable[TableState], limit: int = SMALL_FILES_LIMIT, small: int = SMALL_FILE_BYTES
) -> dict[str, int]:
    """Merge the files smaller than ``small`` bytes of each table (as read in ``states``) that
    has ``limit`` or more of them; the number of files each merge removed, by table. deltalake's
    compaction packs the files smaller than its target size into files of up to that size, and
    never reads a larger one."""
    merged: dict[str, int] = {}
    for state in states:
        table = state.table
        # Counting the files is a tenth of the cost of reading their sizes, and most updates
        # find fewer files than the limit.
        if table is None or len(table.file_uris()) < limit or small_files(table, small) < limit:
            continue
        try:
            metrics = table.optimize.compact(
                target_size=small,
                writer_properties=writer_properties(state.spec, "ZSTD"),
            )
        except CommitFailedError:
            # Another updater committed to this table meanwhile: the merge only rearranges
            # rows, so it is left to the next update rather than retried over the winner's.
            continue
        merged[state.spec.name] = int(metrics.get("numFilesRemoved") or 0)
    return merged
