"""What the rebuild's positions pass folds: every fill event's operation on its position and
every fill row, each in the bucket of its position (docs/adr/0050-streaming-rebuild.md).

Operations come two ways: one at a time from the orders the update's own fold takes (``Op``
tuples), and many at once from the columnar route (Arrow tables of ``OP_SCHEMA``). A position's
operations must meet in one bucket whichever way they came, so both are bucketed by one function
of the position's key, written once for a key and once, vectorised, for a column of keys
(``bucket_of``, ``buckets_of``): the conId mixed with a stable hash of (account, origin) that
does not depend on the process (``hash()`` of a string does).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.op_spill import OP_SCHEMA, Op, OpSpill, ops_table
from ordertrail.projections.records import BROKER_BOOK, DRY_RUN_BOOK, PositionKey, Row
from ordertrail.projections.schema import FILLS
from ordertrail.projections.spill import SpillFolder, TableSpill, read_spill

# Operations per bucket the positions pass holds in memory at once (a bucket's operations are
# read and sorted together): the number of buckets grows with the log.
OPS_PER_BUCKET = 50_000
# Position operations held in memory (all buckets together) before they go to their files.
OPS_IN_MEMORY = 100_000
# Fill rows a bucket holds before it writes them: FILL_ROWS_HELD among all buckets, and at
# least BUCKET_CHUNK (Arrow's cost per converted chunk is paid per column: 40 columns of a few
# hundred rows cost three times as much a row as of a few thousand).
BUCKET_CHUNK = 256
FILL_ROWS_HELD = 65_536

_MASK = 2**64 - 1
# Fibonacci hashing's multiplier (2**64 / the golden ratio): consecutive conIds spread evenly.
_GOLDEN = 0x9E3779B97F4A7C15
_SHIFT = 32


def bucket_count(head: int) -> int:
    """Buckets for a log of ``head`` events (about one operation each): a power of two, so a
    bucket is the mixed key's bits, the same in Python and in Arrow."""
    wanted = max(16, head // OPS_PER_BUCKET)
    return 1 << (wanted - 1).bit_length()


@lru_cache(maxsize=4096)
def _book_hash(account: str, origin: str) -> int:
    data = f"{account}\x1f{origin}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def bucket_of(key: PositionKey, buckets: int) -> int:
    """The bucket of a position (``buckets`` a power of two)."""
    account, con_id, origin = key
    mixed = (((con_id ^ _book_hash(account, origin)) & _MASK) * _GOLDEN) & _MASK
    return (mixed >> _SHIFT) & (buckets - 1)


def buckets_of(account: pa.Array, con_id: pa.Array, origin: pa.Array, buckets: int) -> pa.Array:
    """``bucket_of`` for columns of keys (an int64 array)."""
    pairs = pc.binary_join_element_wise(account, origin, "\x1f").dictionary_encode()
    hashes = pa.array(
        [_book_hash(*pair.split("\x1f", 1)) for pair in pairs.dictionary.to_pylist()],
        pa.uint64(),
    )
    mixed = pc.bit_wise_xor(con_id.cast(pa.uint64(), safe=False), hashes.take(pairs.indices))
    mixed = pc.multiply(mixed, pa.scalar(_GOLDEN, pa.uint64()))  # wraps, as masked above
    bucket = pc.bit_wise_and(
        pc.shift_right(mixed, pa.scalar(_SHIFT, pa.uint64())), pa.scalar(buckets - 1, pa.uint64())
    )
    return bucket.cast(pa.int64())


def books(origin: pa.Array) -> pa.Array:
    """The position book of each fill row's origin (``records.book_of``)."""
    dry = pc.equal(origin, DRY_RUN_BOOK)
    return pc.if_else(dry, DRY_RUN_BOOK, BROKER_BOOK)


def split_by(table: pa.Table, parts: pa.Array) -> list[tuple[int, pa.Table]]:
    """``table``'s rows by part number (rows keep their order within a part)."""
    if not len(parts):
        return []
    low, high = pc.min_max(parts).values()
    if low == high:
        return [(low.as_py(), table)]
    order = pc.sort_indices(parts)
    table = table.take(order)
    runs = pc.run_end_encode(parts.take(order))
    out, start = [], 0
    for part, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        out.append((part, table.slice(start, end - start)))
        start = end
    return out


def fill_spills(spill: SpillFolder, buckets: int) -> list[TableSpill]:
    chunk = max(BUCKET_CHUNK, FILL_ROWS_HELD // buckets)
    return [TableSpill(spill.file(f"fills-{b}.arrow"), FILLS, chunk) for b in range(buckets)]


def fill_row_buckets(rows: pa.Table, buckets: int) -> pa.Array:
    """The bucket of each fill row's position."""
    account = rows.column("account").combine_chunks()
    con_id = rows.column("con_id").combine_chunks()
    origin = books(rows.column("origin").combine_chunks())
    return buckets_of(account, con_id, origin, buckets)


class BucketOps:
    """One bucket's operations: as Arrow (``OP_SCHEMA``), held in memory up to a limit, then
    appended to the bucket's IPC file; those the columns cannot hold exactly (``ops_table``)
    as tuples in an ``OpSpill``."""

    def __init__(self, spill: SpillFolder, bucket: int) -> None:
        self.path = spill.file(f"ops-{bucket}.arrow")
        self.pending: list[Op] = []  # tuples not yet converted
        self.tables: list[pa.Table] = []
        self.misfits = OpSpill(spill.file(f"ops-{bucket}.msgpack"))
        self._writer: Any = None

    def flush(self) -> None:
        if self.pending:
            table, misfits = ops_table(self.pending)
            self.pending = []
            self.tables.append(table)
            self.misfits.ops.extend(misfits)
        self.misfits.flush()
        for table in self.tables:
            if table.num_rows:
                if self._writer is None:
                    self._writer = pa.ipc.new_file(str(self.path), OP_SCHEMA)
                self._writer.write_table(table)
        self.tables = []

    def table(self) -> pa.Table:
        """Every Arrow operation of the bucket (after ``flush``), in no particular order."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return read_spill(self.path) if self.path.exists() else OP_SCHEMA.empty_table()


class PositionInputs:
    """Every bucket's operations and fill rows, bucketed by ``bucket_of``."""

    def __init__(self, spill: SpillFolder, head: int) -> None:
        self.buckets = bucket_count(head)
        self.ops = [BucketOps(spill, b) for b in range(self.buckets)]
        self.fills = fill_spills(spill, self.buckets)
        self.held = 0

    def add_op(self, op: Op) -> None:
        """One operation (the fold's route: orders the columns do not cover)."""
        self.ops[bucket_of((op[2], op[3], op[4]), self.buckets)].pending.append(op)
        self.held += 1
        if self.held >= OPS_IN_MEMORY:
            self.flush()

    def add_ops(self, ops: pa.Table) -> None:
        """Operations as Arrow (``OP_SCHEMA``: the columnar route)."""
        ops = ops.cast(OP_SCHEMA)
        account, con_id, origin = (ops.column(n).combine_chunks() for n in _KEY)
        parts = buckets_of(account, con_id, origin, self.buckets)
        for bucket, part in split_by(ops, parts):
            self.ops[bucket].tables.append(part)
            self.held += part.num_rows
        if self.held >= OPS_IN_MEMORY:
            self.flush()

    def add_fill_row(self, row: Row, key: PositionKey) -> None:
        """A fill row (effect columns pending) of the position ``key``."""
        self.fills[bucket_of(key, self.buckets)].add(row)

    def add_fill_rows(self, rows: pa.Table) -> None:
        """Fill rows as Arrow (``FILLS``, effect columns null)."""
        rows = rows.cast(FILLS.schema)
        for bucket, part in split_by(rows, fill_row_buckets(rows, self.buckets)):
            self.fills[bucket].write_table(part)

    def flush(self) -> None:
        """Every operation held in memory to its bucket's file."""
        for ops in self.ops:
            ops.flush()
        self.held = 0


_KEY = ("account", "con_id", "origin")
