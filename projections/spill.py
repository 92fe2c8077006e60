"""Where a rebuild keeps what it has made but cannot commit yet: local files in a temporary
folder, removed when the rebuild ends (whether it succeeds or not).

* ``TableSpill``: one table's rows, converted to Arrow a chunk at a time and appended to a
  Parquet file, so the Python tuples of a million rows never exist at once;
* ``OpSpill``: the positions' operations of one bucket of positions, msgpack frames typed by
  msgspec (exact Decimals and UTC datetimes, decoded in C; nothing that runs code on load).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from ordertrail.projections.records import Row
from ordertrail.projections.schema import TableSpec, arrow_table

CHUNK_ROWS = 16_384

# What a position needs of one fill event (``rebuild.py`` builds and applies them):
# (notification id, kind, account, conId, origin, symbol, sec type, currency, multiplier,
#  execId base, IB time, signed quantity, price, has commission, commission, commission currency,
#  cause, execId, ts_event, ts_recorded)
Op = tuple[
    int, int, str, int, str, str, str, str, Decimal, str, datetime, Decimal, Decimal, bool,
    Decimal | None, str, str, str, datetime | None, datetime,
]  # fmt: skip
_OPS = msgspec.msgpack.Decoder(list[Op])
_ENCODE = msgspec.msgpack.Encoder().encode


class SpillFolder:
    """A temporary folder for one rebuild's spill files."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="ordertrail-rebuild-"))

    def file(self, name: str) -> Path:
        return self.path / name

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class TableSpill:
    """One table's rows in a Parquet file with the table's schema."""

    def __init__(self, path: Path, spec: TableSpec) -> None:
        self.path = path
        self.spec = spec
        self.rows: list[Row] = []
        self.count = 0
        self._writer: Any = None

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def extend(self, rows: list[Row]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def write_table(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.spec.schema)
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


class OpSpill:
    """One bucket's position operations: kept in memory up to a limit, then appended to a
    file as one msgpack frame per flush."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ops: list[Op] = []
        self.frames: list[int] = []  # byte length of each frame written

    def flush(self) -> None:
        if not self.ops:
            return
        data = _ENCODE(self.ops)
        with self.path.open("ab") as f:
            f.write(data)
        self.frames.append(len(data))
        self.ops = []

    def read(self) -> Iterator[Op]:
        """Every operation, in the order added."""
        if self.frames:
            with self.path.open("rb") as f:
                for size in self.frames:
                    yield from _OPS.decode(f.read(size))
        yield from self.ops
