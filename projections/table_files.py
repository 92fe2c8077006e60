"""A rebuilt table's rows written as Parquet files into the table's folder, to be committed
together in one Delta commit (docs/adr/0109-rebuild-commits-its-own-files.md).

deltalake's writer held every ``day`` partition's file in memory until its commit ended (one
streamed commit of 1,000,000 ``events`` rows over 250 days peaked at 1.1 GiB), and spent about
twice the CPU of Arrow's own Parquet writer on the same rows. Here each file is written by
Arrow as its rows come (a row group is on disk once written), a partition's file is closed
when it reaches its size, and each closed file becomes an ``AddAction`` carrying the
statistics deltalake itself would record for it (``delta_stats``), so readers skip files as
they did.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from deltalake.transaction import AddAction

from ordertrail.projections.schema import TableSpec

# The columns Delta records statistics for by default (``delta.dataSkippingNumIndexedCols``).
INDEXED_COLUMNS = 32
# Text bounds longer than this are cut (a stored event's JSON is hundreds of bytes, and every
# file's bounds are in the table's log, which every reader loads).
TEXT_BOUND_BYTES = 64
# An append-only table's files: deltalake's own target size for a write.
APPEND_FILE_BYTES = 100 << 20
# Files open at once (one per ``day`` partition receiving rows): rows come a day at a time, so
# the file written least recently is closed when another day begins (a late row opens a new
# small file for its day) instead of holding a descriptor per day of the history. A rebuild
# hands the ``events`` rows of a history of up to this many days to their files as its orders
# pass makes them (``columns.EventColumns``): a decoded chunk's rows of one day are then a row
# group of 3,000 rows or more.
OPEN_FILES = 16
# Columns whose values are (nearly) all different: ids, execIds, recorded times, the stored
# event's text. A dictionary saves nothing on them, and building it (then falling back to plain
# encoding once the dictionary page is full) cost the writer threads ~0.2 s CPU of ~1.7 s at
# 1,000,000 events; the files come out a few per cent smaller
# (docs/adr/0125-rebuild-parquet-settings.md).
PLAIN_COLUMNS: dict[str, frozenset[str]] = {
    "events": frozenset(["notification_id", "ts_recorded", "summary", "payload"]),
    "fills": frozenset(
        [
            "exec_base_id",
            "exec_id",
            "replaces_exec_id",
            "order_id",
            "order_key",
            "client_order_id",
            "order_ref",
            "perm_id",
            "ib_order_id",
            "ts_event",
            "ts_ib",
            "ts_recorded",
            "first_recorded",
            "notification_id",
        ]
    ),
    "orders": frozenset(
        [
            "order_key",
            "order_id",
            "client_order_id",
            "order_ref",
            "perm_id",
            "aliases",
            "created_ib",
            "created_recorded",
            "updated_recorded",
            "first_fill_ib",
            "first_fill_recorded",
            "notification_id",
        ]
    ),
    "position_history": frozenset(
        ["notification_id", "exec_id", "ts_event", "last_fill_ib", "ts_recorded"]
    ),
}


@dataclass
class _File:
    path: str  # relative to the table's folder
    sink: Any
    writer: pq.ParquetWriter
    metadata: list[Any]
    partition: dict[str, str | None]


class TableFiles:
    """One table's new files under ``folder``: rows are written as they come, each partition
    (``day``) to its own file, a file closed when it reaches ``file_bytes`` on disk (0: a file
    for each chunk written)."""

    def __init__(
        self, folder: Path, spec: TableSpec, file_bytes: int, row_group: int | None
    ) -> None:
        self.folder = folder
        self.spec = spec
        self.file_bytes = file_bytes
        self.row_group = row_group
        self.partition = spec.partition_by[0] if spec.partition_by else None
        names = [n for n in spec.schema.names if n not in spec.partition_by]
        self.file_schema = pa.schema([spec.schema.field(n) for n in names])
        self.indexed = names[:INDEXED_COLUMNS]
        plain = PLAIN_COLUMNS.get(spec.name, frozenset())
        self.dictionary = [n for n in names if n not in plain]
        self.open: dict[object, _File] = {}
        self.added: list[AddAction] = []
        self.count = 0

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self.partition is None:
            self._write(None, table)
            return
        days = table.column(self.partition)
        values = pc.unique(days)
        if len(values) == 1:
            self._write(values[0].as_py(), table)
            return
        # An update's rows arrive in notification order, a day at a time but for a replayed
        # tape's old recorded times; a rebuild hands over a chunk of whole orders, which may
        # span a few days (columns.EventColumns): split by day, each day's rows in their order.
        for value in values.to_pylist():
            self._write(value, table.filter(pc.equal(days, pa.scalar(value, days.type))))

    def _write(self, value: object, table: pa.Table) -> None:
        file = self.open.pop(value, None)
        if file is None:
            if len(self.open) >= OPEN_FILES:
                self._close(next(iter(self.open)))
            file = self._new(value)
        self.open[value] = file  # the most recently written last
        file.writer.write_table(table.select(self.file_schema.names), self.row_group)
        if file.sink.tell() >= self.file_bytes:
            self._close(value)

    def _new(self, value: object) -> _File:
        partition: dict[str, str | None] = {}
        folder = ""
        if self.partition is not None:
            text = None if value is None else str(value)
            partition[self.partition] = text
            folder = f"{self.partition}={'__HIVE_DEFAULT_PARTITION__' if text is None else text}/"
        path = f"{folder}part-{self.count:05d}-{uuid.uuid4()}-c000.snappy.parquet"
        self.count += 1
        (self.folder / path).parent.mkdir(parents=True, exist_ok=True)
        sink = pa.OSFile(str(self.folder / path), "wb")
        metadata: list[Any] = []
        writer = pq.ParquetWriter(
            sink,
            self.file_schema,
            compression="snappy",
            use_dictionary=self.dictionary,
            metadata_collector=metadata,
        )
        return _File(path, sink, writer, metadata, partition)

    def _close(self, value: object) -> None:
        file = self.open.pop(value)
        file.writer.close()
        file.sink.close()
        stat = os.stat(self.folder / file.path)
        stats = delta_stats(file.metadata[0], self.indexed)
        self.added.append(
            AddAction(
                file.path,
                stat.st_size,
                file.partition,
                int(stat.st_mtime * 1000),
                True,
                json.dumps(stats, separators=(",", ":")),
            )
        )

    def close(self) -> list[AddAction]:
        """Close every open file; the actions that add every file written."""
        for value in list(self.open):
            self._close(value)
        return self.added

    def abandon(self) -> None:
        """Close and delete the files written (no commit will name them)."""
        for file in self.open.values():
            file.writer.close()
            file.sink.close()
        for path in [f.path for f in self.open.values()] + [a.path for a in self.added]:
            (self.folder / path).unlink(missing_ok=True)
        self.open.clear()
        self.added.clear()


def delta_stats(metadata: Any, columns: list[str]) -> dict[str, Any]:
    """A file's Delta statistics from its Parquet footer, as deltalake writes them: rows, and
    per column (of the first ``INDEXED_COLUMNS``) its nulls and, when every row group has
    them, its smallest and largest values."""
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    index = {metadata.schema.column(i).name: i for i in range(metadata.num_columns)}
    for name in columns:
        found = _column_stats(metadata, index[name])
        if found is None:
            continue
        nulls[name], bounds = found
        if bounds is None:
            continue
        low[name] = _json_value(_shorter(bounds[0], up=False))
        top = _shorter(bounds[1], up=True)
        if top is not None:
            high[name] = _json_value(top)
    return {"numRecords": metadata.num_rows, "minValues": low, "maxValues": high,
            "nullCount": nulls}  # fmt: skip


def _column_stats(metadata: Any, i: int) -> tuple[int, tuple[Any, Any] | None] | None:
    """(nulls, (smallest, largest) or None) of column ``i`` over every row group; None when a
    row group has no statistics for it."""
    nulls = 0
    low: Any = None
    high: Any = None
    complete = True
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        st = group.column(i).statistics
        if st is None:
            return None
        nulls += st.null_count
        if st.has_min_max:
            low = st.min if low is None else min(low, st.min)
            high = st.max if high is None else max(high, st.max)
        elif st.null_count < group.num_rows:
            complete = False  # values whose bounds were not recorded (too long)
    return nulls, ((low, high) if complete and low is not None else None)


def _shorter(value: Any, *, up: bool) -> Any:
    """A text bound of at most ``TEXT_BOUND_BYTES``, as deltalake cuts them: a lower bound its
    prefix, an upper bound its prefix with the last character raised (None: no such text)."""
    if not isinstance(value, str):
        return value
    data = value.encode()
    if len(data) <= TEXT_BOUND_BYTES:
        return value
    prefix = data[:TEXT_BOUND_BYTES].decode(errors="ignore")
    if not up:
        return prefix
    while prefix:
        last = ord(prefix[-1]) + 1
        if last < 0x110000 and not 0xD800 <= last < 0xE000:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def _json_value(value: Any) -> Any:
    """A bound as deltalake writes it: a timestamp in UTC to the millisecond below, a
    decimal as a JSON number."""
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond // 1000:03d}"
        return text + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def by_key(spec: TableSpec, data: pa.Table) -> pa.Table:
    """A keyed table's rows sorted by its key (the order its files keep)."""
    if spec.append_only or not data.num_rows:
        return data
    return data.sort_by([(k, "ascending") for k in spec.keys])


def in_key_order(spec: TableSpec, chunks: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """A keyed table given whole (one chunk) sorted by key; given in several chunks, they
    come in key order already (a rebuild's ranges of keys)."""
    rest = iter(chunks)
    first = next(rest, None)
    second = next(rest, None)
    if second is None:
        if first is not None:
            yield by_key(spec, first)
        return
    yield first
    yield second
    yield from rest


def write_files(files: TableFiles, chunks: Iterable[pa.Table]) -> list[AddAction]:
    """Every chunk's rows written into new files; the actions that add them. If the writing
    stops (an error, an interrupt), the files written so far are deleted."""
    try:
        for chunk in chunks:
            files.write(chunk)
        return files.close()
    except BaseException:
        files.abandon()
        raise


def delete_files(folder: Path, added: list[AddAction]) -> None:
    """Files no commit will name (the commit that would have lost its race)."""
    for action in added:
        (folder / action.path).unlink(missing_ok=True)
