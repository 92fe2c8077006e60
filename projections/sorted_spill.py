"""The rebuild's spill files put in the order their tables are committed in, with Arrow doing
the work on many rows at once (docs/adr/0070-rebuild-in-columns.md):

* ``RangeFiles``: an append-only table's rows, converted to Arrow ``spill.CHUNK_ROWS`` at a
  time and split by range of notification ids (``spill.WRITE_ROWS`` ids a range) into one
  IPC file per range; each range comes back sorted, ranges in log order. An order's stored
  JSON goes in as the bytes the store holds, made text by one checked cast per chunk.
* ``KeyRanges``: a keyed table's rows whose keys are all known before the rows come (the
  rebuild's fill rows: their effects come from the positions pass, their keys from the orders
  pass): each row goes to the file of its range of keys as it comes, so the table is never
  spilled whole and read back to be split (``key_sorted``) at the end of the rebuild, when
  the writing threads are what the rebuild waits for.
* ``key_sorted``: a keyed table's spill file in key order, at most ``spill.WRITE_ROWS`` rows
  at a time: the key column alone gives each row's range, the file is read once and each
  batch's rows go to the file of their range, then each range is read and sorted. (Reading
  the whole file once per range, filtered, cost the square of the rows.)

Both give their ranges as ``SortedParts``, which several threads may take at once: the rebuild
writes a table's files on background threads while its passes go on
(docs/adr/0117-rebuild-writes-files-beside-its-passes.md). Each spill file is deleted once
read: unlinking a large file costs time in proportion to it, which then falls on the thread
that read it, not on the end of the rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections import spill
from ordertrail.projections.records import Row
from ordertrail.projections.schema import TableSpec, arrow_table
from ordertrail.projections.spill import SpillFolder, gathered, read_spill


class _Files:
    """One IPC file per range number, each opened when its first rows come. ``background``:
    each table is split on a thread of its own while the caller goes on (one at a time, the
    next waits for the last): the rows of a pass's chunk are split by range while the pass
    makes the next chunk's. Arrow's sort, take and IPC writes release the GIL; on the main
    thread the splits were a sixth of the orders pass (0.9 s of 5.7 s at 1,000,000 events)."""

    def __init__(
        self, folder: SpillFolder, name: str, schema: pa.Schema, background: bool = False
    ) -> None:
        self.folder = folder
        self.name = name
        self.schema = schema
        self.paths: dict[int, Path] = {}
        self.writers: dict[int, Any] = {}
        self.background = background
        self._splitting: threading.Thread | None = None
        self._error: BaseException | None = None
        if background:
            folder.writing(self._settle)

    def write(self, part: int, table: pa.Table) -> None:
        writer = self.writers.get(part)
        if writer is None:
            path = self.paths[part] = self.folder.file(f"{self.name}-{part}.arrow")
            writer = self.writers[part] = pa.ipc.new_file(str(path), self.schema)
        writer.write_table(table)

    def split(self, table: pa.Table, parts: pa.Array) -> None:
        """Each row of ``table`` to the file of its part number (``background``: on a thread,
        after the split before it; an error it meets is raised by the next call)."""
        if not self.background:
            self._split(table, parts)
            return
        self._wait()
        thread = threading.Thread(
            target=self._split_caught, args=(table, parts), name="ordertrail-spill-split"
        )
        thread.start()
        self._splitting = thread

    def _split_caught(self, table: pa.Table, parts: pa.Array) -> None:
        try:
            self._split(table, parts)
        except BaseException as error:  # raised on the caller's thread by ``_wait``
            self._error = error

    def _settle(self) -> None:
        """The last split ended (its error, if any, left: the rebuild is being abandoned)."""
        if self._splitting is not None:
            self._splitting.join()

    def _wait(self) -> None:
        if self._splitting is not None:
            self._splitting.join()
            self._splitting = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _split(self, table: pa.Table, parts: pa.Array) -> None:
        if not len(parts):
            return
        low, high = pc.min_max(parts).values()
        if low == high:
            self.write(low.as_py(), table)
            return
        order = pc.sort_indices(parts)  # stable: rows keep their order within a part
        table = table.take(order)
        runs = pc.run_end_encode(parts.take(order))
        start = 0
        for part, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            self.write(part, table.slice(start, end - start))
            start = end

    def close(self) -> None:
        self._wait()
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

    def sorted_parts(self, keys: list[tuple[str, str]]) -> SortedParts:
        """Each part's rows sorted by ``keys``, parts in number order (the files are closed
        when the first part is taken)."""
        return SortedParts(self._closed, keys)

    def _closed(self) -> list[Path]:
        self.close()
        return [self.paths[part] for part in sorted(self.paths)]


class SortedParts:
    """Parts of a table, each a spill file read and sorted by ``keys`` when taken, in part
    order. Iterated by one thread, or taken by several at once (``take``): a part's number is
    handed out under a lock, its file read and sorted outside it. ``parts`` makes the files
    (the first ``take`` calls it, under the lock: the others wait for it)."""

    def __init__(self, parts: Callable[[], list[Path]], keys: list[tuple[str, str]]) -> None:
        self._make = parts
        self._paths: list[Path] | None = None
        self._next = 0
        self._lock = threading.Lock()
        self.keys = keys

    def take(self) -> tuple[int, pa.Table] | None:
        """(the part's number, its rows sorted), or None once every part was taken."""
        with self._lock:
            if self._paths is None:
                self._paths = self._make()
            i = self._next
            if i >= len(self._paths):
                return None
            self._next += 1
        path = self._paths[i]
        table = sorted_file(path, self.keys)
        path.unlink(missing_ok=True)
        return i, table

    def __iter__(self) -> Iterator[pa.Table]:
        while (taken := self.take()) is not None:
            yield taken[1]


def sorted_file(path: Path, keys: list[tuple[str, str]]) -> pa.Table:
    """A spill file's rows sorted by ``keys``, taken straight from the file mapped in memory:
    the sort's ``take`` is the one copy of the rows (reading the file, then joining its
    batches into one, copied every byte twice more before it)."""
    with pa.memory_map(str(path)) as source:
        mapped = pa.ipc.open_file(source).read_all()
        return mapped.take(pc.sort_indices(mapped, sort_keys=keys))


class RangeFiles:
    """An append-only table's rows by range of notification ids (see the module docstring).
    Rows come in any order (a rebuild reads the log order by order)."""

    def __init__(self, folder: SpillFolder, spec: TableSpec) -> None:
        self.spec = spec
        self.nid = spec.schema.get_field_index("notification_id")
        self.payload = spec.schema.get_field_index("payload")
        self.files = _Files(folder, spec.name, spec.schema, background=True)
        self.rows: list[Row] = []
        self.count = 0
        # Rows as they come: the stored JSON as bytes (cast to text once per chunk).
        schema = spec.schema
        if self.payload >= 0:
            schema = schema.set(self.payload, pa.field("payload", pa.binary()))
        self.raw_schema = schema

    def extend(self, rows: list[Row]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= spill.CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        table = arrow_table(self.raw_schema, self.rows)
        self.rows = []
        if self.payload >= 0:
            text = table.column(self.payload).cast(pa.string())  # checks the UTF-8
            table = table.set_column(self.payload, self.spec.schema.field(self.payload), text)
        self._split(table)

    def write_table(self, table: pa.Table) -> None:
        """Rows already in Arrow (the table's schema), after the rows given before them."""
        self.flush()
        self._split(table)

    def _split(self, table: pa.Table) -> None:
        self.count += table.num_rows
        nids = table.column(self.nid).combine_chunks()
        self.files.split(table, pc.divide(nids, spill.WRITE_ROWS))

    def chunks(self) -> SortedParts:
        """Each range's rows in notification order, ranges in log order."""
        self.flush()
        return self.files.sorted_parts([("notification_id", "ascending")])


def key_sorted(path: Path | None, spec: TableSpec, folder: SpillFolder) -> SortedParts:
    """A keyed table's spill file in key order, at most ``spill.WRITE_ROWS`` rows at a time
    (see the module docstring): the keyed tables are kept sorted by key so that a merge
    rewrites only the files its keys fall in. The file is split when the first part is taken,
    and deleted then."""
    keys = [(k, "ascending") for k in spec.keys]
    if path is None:
        return SortedParts(list, keys)
    return SortedParts(lambda: _split_by_key(path, spec, folder), keys)


def _split_by_key(path: Path, spec: TableSpec, folder: SpillFolder) -> list[Path]:
    """The spill file's rows into a file per range of ``spill.WRITE_ROWS`` keys; the files in
    key order."""
    keys = read_spill(path, spec.keys[0]).column(0)
    # Each row's rank in key order (keys are unique: the inverse of the sorting permutation),
    # then its range of WRITE_ROWS ranks.
    ranks = pc.sort_indices(pc.sort_indices(keys))
    del keys
    parts = pc.divide(ranks, spill.WRITE_ROWS)
    del ranks
    files = _Files(folder, f"{spec.name}-sorted", spec.schema)
    start = 0
    for table in gathered(path, spill.CHUNK_ROWS):
        n = table.num_rows
        files.split(table.cast(spec.schema), parts[start : start + n])
        start += n
    del parts
    path.unlink(missing_ok=True)
    return files._closed()


class KeyRanges:
    """A keyed table's rows by range of ``spill.WRITE_ROWS`` keys, ``keys`` being every row's
    key in the order the rows will come (see the module docstring): each table written goes
    to its ranges' files, split on a background thread while the caller goes on; ``chunks``
    gives the ranges as ``key_sorted`` does, once every row has come."""

    def __init__(self, folder: SpillFolder, spec: TableSpec, keys: pa.ChunkedArray) -> None:
        self.spec = spec
        # Each row's rank in key order (keys are unique), then its range of WRITE_ROWS ranks.
        ranks = pc.sort_indices(pc.sort_indices(keys))
        self.parts = pc.divide(ranks, spill.WRITE_ROWS)
        self.files = _Files(folder, f"{spec.name}-sorted", spec.schema, background=True)
        self.count = 0

    def write_table(self, table: pa.Table) -> None:
        """The next rows (their keys the next of ``keys``)."""
        n = table.num_rows
        if self.count + n > len(self.parts):
            raise ValueError(f"{self.spec.name}: more rows than keys")
        self.files.split(table, self.parts[self.count : self.count + n])
        self.count += n

    def chunks(self) -> SortedParts:
        if self.count != len(self.parts):
            raise ValueError(f"{self.spec.name}: {self.count} rows of {len(self.parts)} keys")
        return self.files.sorted_parts([(k, "ascending") for k in self.spec.keys])
