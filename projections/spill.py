"""Where a rebuild keeps what it has made but cannot commit yet: local files in a temporary
folder, removed when the rebuild ends (whether it succeeds or not).

* ``TableSpill``: one table's rows, converted to Arrow a chunk at a time and appended to an
  Arrow IPC file, so the Python tuples of a million rows never exist at once (IPC, not
  Parquet: a Parquet writer keeps every row group's statistics in memory until it closes,
  and a spill file is written in many small chunks);
* ``read_spill``: a spill file's rows, or some of its columns, and ``gathered``: its rows a
  few record batches at a time;
* by range of notification ids, or in key order: ``sorted_spill.py``; the positions'
  operations have their own spill (``position_pass.OpSpill``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

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
        self._writing: list[Callable[[], None]] = []

    def file(self, name: str) -> Path:
        return self.path / name

    def writing(self, settle: Callable[[], None]) -> None:
        """``settle`` waits for a thread writing into the folder: ``remove`` calls it first,
        so that no file is made in a folder being removed."""
        self._writing.append(settle)

    def remove(self) -> None:
        for settle in self._writing:
            settle()
        shutil.rmtree(self.path, ignore_errors=True)


class TableSpill:
    """One table's rows in an Arrow IPC file with the table's schema. Rows come as tuples or
    as Arrow tables; both are held until they make a chunk, then written as one record batch
    (writing a batch costs as much per column for a few hundred rows as for thousands: a
    bucket's fill rows come a few hundred a decoded chunk, and were 700 writes at 1,000,000
    events)."""

    def __init__(self, path: Path, spec: TableSpec, chunk: int | None = None) -> None:
        self.path = path
        self.spec = spec
        self.chunk = chunk or CHUNK_ROWS
        self.rows: list[Row] = []
        self.held: list[pa.Table] = []
        self.held_rows = 0
        self.count = 0
        self._writer: Any = None

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) + self.held_rows >= self.chunk:
            self.flush()

    def extend(self, rows: list[Row]) -> None:
        self.rows.extend(rows)
        if len(self.rows) + self.held_rows >= self.chunk:
            self.flush()

    def write_table(self, table: pa.Table) -> None:
        """Rows already in Arrow (the table's schema), after the rows given before them."""
        self._hold_rows()
        self.held.append(table)
        self.held_rows += table.num_rows
        if self.held_rows >= self.chunk:
            self.flush()

    def _hold_rows(self) -> None:
        if self.rows:
            table = arrow_table(self.spec.schema, self.rows)
            self.rows = []
            self.held.append(table)
            self.held_rows += table.num_rows

    def flush(self) -> None:
        self._hold_rows()
        if not self.held:
            return
        table = self.held[0] if len(self.held) == 1 else pa.concat_tables(self.held)
        self.held, self.held_rows = [], 0
        if self._writer is None:
            self._writer = pa.ipc.new_file(str(self.path), self.spec.schema)
        self._writer.write_table(table.combine_chunks())
        self.count += table.num_rows

    def close(self) -> Path | None:
        """Flush and close; the file's path (None: no rows were written)."""
        self.flush()
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        return self.path


def read_spill(path: Path, *columns: str) -> pa.Table:
    """A spill file's rows, or only ``columns``.

    The whole file is read mapped: its rows are the file's pages, not a copy of them (the
    memory is the same, the copy and its ``read`` calls are saved; the rows stay valid once
    the file is deleted). Only ``columns``: the file is read a record batch at a time and only
    those columns are copied out, so that a large file is never in memory at once. (Mapping
    the file for them counts every page the reads fault in, and the kernel reads ahead around
    each small batch: reading the key column of 3,000,000 fill rows that way made the process
    1.1 GiB larger. A column read from a batch holds the whole batch it came from, hence the
    copy.)"""
    if not columns:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all()
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.open_file(f)
        parts: list[list[pa.Array]] = [[] for _ in columns]
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            for part, name in zip(parts, columns, strict=True):
                part.append(pa.concat_arrays([batch.column(name)]))
    arrays = [pa.concat_arrays(part) if part else pa.array([], reader.schema.field(name).type)
              for part, name in zip(parts, columns, strict=True)]  # fmt: skip
    return pa.Table.from_arrays(arrays, names=list(columns))


def gathered(path: Path, rows: int) -> Iterator[pa.Table]:
    """A spill file's rows in tables of about ``rows`` rows, read a record batch at a time: its
    batches may be small (a bucket's fill rows are written a few hundred at a time), and each
    table is then handled in one go."""
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.open_file(f)
        batches: list[pa.RecordBatch] = []
        held = 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            batches.append(batch)
            held += batch.num_rows
            if held >= rows:
                yield pa.Table.from_batches(batches)
                batches, held = [], 0
        if batches:
            yield pa.Table.from_batches(batches)
