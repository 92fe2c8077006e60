"""Where a rebuild keeps what it has made but cannot commit yet: local files in a temporary
folder, removed when the rebuild ends (whether it succeeds or not).

* ``TableSpill``: one table's rows, converted to Arrow a chunk at a time and appended to an
  Arrow IPC file, so the Python tuples of a million rows never exist at once (IPC, not
  Parquet: a Parquet writer keeps every row group's statistics in memory until it closes,
  and a spill file is written in many small chunks);
* ``RangeSpill``: an append-only table's rows in one such file per range of notification ids,
  so each range can be sorted and committed on its own, in log order;
* ``sorted_chunks``: a keyed table's spill file in key order, a range of keys at a time;
* the positions' operations have their own spill (``position_pass.OpSpill``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.dataset as ds  # type: ignore[import-untyped]

from ordertrail.projections.records import Row
from ordertrail.projections.schema import TableSpec, arrow_table

CHUNK_ROWS = 16_384
SPILL_PREFIX = "_rebuild-"
# Rows per commit of a rebuilt table: what deltalake holds in memory while it writes them
# (it gathers a commit's rows before writing files).
WRITE_ROWS = 20_000


class SpillFolder:
    """A temporary folder for one rebuild's spill files: under ``near`` (the tables' own local
    folder, on the disk meant for them: the system's temporary folder may be small, or kept
    in memory), else the system's."""

    def __init__(self, near: Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=near))

    def file(self, name: str) -> Path:
        return self.path / name

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class TableSpill:
    """One table's rows in an Arrow IPC file with the table's schema."""

    def __init__(self, path: Path, spec: TableSpec, chunk: int | None = None) -> None:
        self.path = path
        self.spec = spec
        self.chunk = chunk
        self.rows: list[Row] = []
        self.count = 0
        self._writer: Any = None

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) >= (self.chunk or CHUNK_ROWS):
            self.flush()

    def extend(self, rows: list[Row]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= (self.chunk or CHUNK_ROWS):
            self.flush()

    def write_table(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pa.ipc.new_file(str(self.path), self.spec.schema)
        self._writer.write_table(table)
        self.count += table.num_rows

    def flush(self) -> None:
        if self.rows:
            self.write_table(arrow_table(self.spec.schema, self.rows))
            self.rows = []

    def close(self) -> Path | None:
        """Flush and close; the file's path (None: no rows were written)."""
        self.flush()
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        return self.path


class RangeSpill:
    """An append-only table's rows, one file per ``WRITE_ROWS`` notification ids. Rows come in
    any order (a rebuild reads the log order by order, and folds positions one at a time);
    each range comes back sorted, ranges in log order, so a commit holds a few days' rows (one
    file per day partition).

    Rows wait in one buffer for every range together (``BUFFER_ROWS``): the log has a range
    per 20,000 events and rows reach all of them at once, so a buffer per range would hold
    hundreds of times as many. A full buffer becomes one Arrow table, sorted by notification
    id and cut into a slice per range, each appended to its range's file."""

    BUFFER_ROWS = 32_768

    def __init__(self, folder: SpillFolder, spec: TableSpec) -> None:
        self.folder = folder
        self.spec = spec
        self.nid = spec.schema.get_field_index("notification_id")
        self.rows: list[Row] = []
        self.writers: dict[int, Any] = {}
        self.paths: dict[int, Path] = {}

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.BUFFER_ROWS:
            self.flush()

    def extend(self, rows: list[Row]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= self.BUFFER_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        table = arrow_table(self.spec.schema, self.rows).sort_by("notification_id")
        self.rows = []
        ranges = pc.divide(table.column(self.nid), WRITE_ROWS)  # integers: floor division
        start = 0
        for counted in pc.value_counts(ranges):  # in order of first sight: ascending
            i, n = counted["values"].as_py(), counted["counts"].as_py()
            self._writer(i).write_table(table.slice(start, n))
            start += n

    def _writer(self, i: int) -> Any:
        writer = self.writers.get(i)
        if writer is None:
            path = self.paths[i] = self.folder.file(f"{self.spec.name}-{i}.arrow")
            writer = self.writers[i] = pa.ipc.new_file(str(path), self.spec.schema)
        return writer

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

    def chunks(self) -> Iterator[pa.Table]:
        """Each range's rows in notification order, ranges in log order."""
        self.close()
        for i in sorted(self.paths):
            yield read_spill(self.paths[i]).sort_by("notification_id")


def read_spill(path: Path, *columns: str) -> pa.Table:
    """A spill file's rows, or only ``columns``: then the file is read a record batch at a
    time and only those columns are copied out, so that a large file is never in memory at
    once. (Mapping the file instead counts every page the reads fault in, and the kernel
    reads ahead around each small batch: reading the key column of 3,000,000 fill rows that
    way made the process 1.1 GiB larger. A column read from a batch holds the whole batch it
    came from, hence the copy.)"""
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.open_file(f)
        if not columns:
            return reader.read_all()
        parts: list[list[pa.Array]] = [[] for _ in columns]
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            for part, name in zip(parts, columns, strict=True):
                part.append(pa.concat_arrays([batch.column(name)]))
    arrays = [pa.concat_arrays(part) if part else pa.array([], reader.schema.field(name).type)
              for part, name in zip(parts, columns, strict=True)]  # fmt: skip
    return pa.Table.from_arrays(arrays, names=list(columns))


def sorted_chunks(path: Path | None, spec: TableSpec) -> Iterator[pa.Table]:
    """A keyed table's spill file in key order, at most about ``WRITE_ROWS`` rows at a time:
    the key column alone gives the boundaries, then each range of keys is read, sorted and
    handed on (the keyed tables are kept sorted by key so that a merge rewrites only the files
    its keys fall in)."""
    if path is None:
        return
    key = spec.keys[0]
    column = read_spill(path, key).column(0)
    every = pa.array(range(WRITE_ROWS, len(column), WRITE_ROWS), pa.int64())
    at = pc.sort_indices(column).take(every)
    bounds = column.take(at).to_pylist()
    del column, at, every
    data = ds.dataset(path, format="ipc")
    field = pc.field(key)
    for lo, hi in zip([None, *bounds], [*bounds, None], strict=True):
        cut = None
        if lo is not None:
            cut = field >= lo
        if hi is not None:
            cut = field < hi if cut is None else cut & (field < hi)
        table = data.to_table(filter=cut).cast(spec.schema)
        yield table.sort_by([(k, "ascending") for k in spec.keys])
