"""The event log read order by order as Arrow tables of whole orders: SQLite through ADBC
(the rows come out of SQLite as Arrow, no Python object per row), PostgreSQL from
``EventLog.rows_by_order``'s pages.

Each table: nid int64, order_id (canonical UUID text), version int64, topic string, payload
binary, sorted by (order, version), every row of each of its orders up to the head.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.adapters.store.config import StoreUnavailable
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.logsources import Row, held_open

RAW_SCHEMA = pa.schema(
    [
        pa.field("nid", pa.int64()),
        pa.field("order_id", pa.string()),
        pa.field("version", pa.int64()),
        pa.field("topic", pa.string()),
        pa.field("payload", pa.binary()),
    ]
)
# An order's rows follow the primary key's index (originator id, version); a page starts after
# the last whole order of the one before, so an order is never split between two chunks.
_SQLITE_PAGE = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    "WHERE originator_id > ? AND rowid <= ? ORDER BY originator_id, originator_version LIMIT ?"
)
_HEX_ID = "^[0-9a-f]{32}$"
_BATCH_ROWS = "adbc.sqlite.query.batch_rows"
S = TypeVar("S")
T = TypeVar("T")


def one_array(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``values`` as one array: its chunk itself when it has one. ``combine_chunks`` copies
    every buffer even then, and a page's payloads are most of the bytes a rebuild reads."""
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def order_pages(
    log: EventLog, head: int, rows: int, first: int | None = None
) -> Iterator[pa.Table]:
    """The log up to ``head`` in tables of whole orders, about ``rows`` rows each (more when
    one order has more); the first about ``first`` rows when given."""
    if head <= 0:
        return
    sqlite = log.sqlite_file()
    if sqlite is not None:
        with held_open(sqlite[0]):
            yield from _sqlite_pages(*sqlite, head, rows, first or rows)
    else:
        yield from _row_pages(log.rows_by_order(head), rows, first or rows)


def read_ahead(items: Iterator[S], work: Callable[[S], T], threads: int = 1) -> Iterator[T]:
    """``work(item)`` for each of ``items``, in their order, made ahead on ``threads`` threads
    while the caller uses the one before. The log's reader and Arrow's JSON reader release the
    GIL, so a rebuild's Python work on one chunk and the decode of the next ones share the
    machine's cores: with two, two chunks are decoded at once (the decode alone takes longer
    than the passes' work on a chunk). ``items`` is advanced by one thread at a time and in
    turn (the n-th ``work`` gets the n-th item: a page's read starts where the one before
    ended); ``work`` runs on any thread, at once. ``threads`` items more in memory."""
    feed = _Turns(items)
    with ThreadPoolExecutor(threads, thread_name_prefix="ordertrail-log-read") as pool:
        turns = itertools.count()
        coming = deque(pool.submit(feed.take, next(turns), work) for _ in range(threads))
        try:
            while (item := coming.popleft().result()) is not _END:
                coming.append(pool.submit(feed.take, next(turns), work))
                yield item
        finally:
            feed.stop()  # the turns not begun return at once: nothing more is read


_END: Any = object()


class _Turns(Generic[S]):
    """An iterator advanced by several threads one at a time, each in its turn."""

    def __init__(self, items: Iterator[S]) -> None:
        self._items = items
        self._turn = 0  # the turn whose item is next
        self._stopped = False
        self._ready = threading.Condition()

    def take(self, turn: int, work: Callable[[S], T]) -> T:
        """The ``turn``-th item's ``work``, once every turn before has taken its item."""
        with self._ready:
            self._ready.wait_for(lambda: self._turn == turn or self._stopped)
            try:
                item = _END if self._stopped else next(self._items, _END)
            finally:
                self._turn += 1
                self._ready.notify_all()
        if item is _END:
            return cast(T, _END)
        return work(cast(S, item))

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify_all()


def _sqlite_pages(path: Path, table: str, head: int, rows: int, first: int) -> Iterator[pa.Table]:
    after, asked = "", first
    limit = asked
    while True:
        page = _sqlite_page(path, table, (after, head, limit))
        last = page.num_rows < limit
        whole = page.num_rows if last else pc.index(page.column(1), page.column(1)[-1]).as_py()
        if whole == 0 and not last:
            limit *= 2  # one order alone fills the page: read it whole
            continue
        if whole:
            # Cut by the size asked, not the page's: a page grown for one long order holds
            # the orders after it too.
            yield from _whole_orders(_raw(page.slice(0, whole)), asked)
        if last:
            return
        after, asked = page.column(1)[whole - 1].as_py(), rows
        limit = asked


def _whole_orders(page: pa.Table, rows: int) -> Iterator[pa.Table]:
    """``page`` (whole orders) cut into tables of whole orders of at most ``rows`` rows each,
    or one order alone when it has more."""
    if page.num_rows <= rows:
        yield page
        return
    ids = one_array(page.column(1))
    changes = np.asarray(pc.not_equal(ids[1:], ids[:-1]), dtype=bool)
    starts = [*(np.flatnonzero(changes) + 1).tolist(), page.num_rows]
    begin = 0
    for end, after in itertools.pairwise(starts):
        if after - begin > rows:
            yield page.slice(begin, end - begin)
            begin = end
    yield page.slice(begin)


def _sqlite_page(path: Path, table: str, params: tuple[Any, ...]) -> pa.Table:
    page = read_arrow(path, _SQLITE_PAGE.format(table=table), params, params[-1])
    if page is None:
        return pa.table([pa.array([], f.type) for f in RAW_SCHEMA], schema=RAW_SCHEMA)
    return page


def read_arrow(path: Path, sql: str, params: tuple[Any, ...], rows: int) -> pa.Table | None:
    """``sql``'s answer from the SQLite store at ``path``, read by the ADBC driver as Arrow in
    one batch of up to ``rows`` rows (None: the store has no table yet). Read-only, as every
    reader of the log (``logsources.SqliteSource``), and on a connection of its own, so that
    no read snapshot or lock outlives the read."""
    import adbc_driver_sqlite.dbapi as adbc

    if not path.is_file():
        raise StoreUnavailable(f"cannot open the event store {path}: no such file")
    conn = adbc.connect(adbc_uri(path))
    try:
        with conn.cursor() as cur:
            # One batch: a column of many chunks makes every take on it slower than the read
            # (the driver's default is 1,024 rows a batch).
            cur.adbc_statement.set_options(**{_BATCH_ROWS: str(rows)})
            cur.execute(sql, params)
            return cur.fetch_arrow_table()
    except adbc.Error as e:
        if "no such table" in str(e):
            return None
        raise
    finally:
        conn.close()


def adbc_uri(path: Path) -> str:
    """The read-only URI the ADBC driver opens ``path`` by, its shared memory file read-only.

    The driver links its own copy of SQLite. SQLite's POSIX locks cannot tell two copies in one
    process apart: a copy that opens a WAL store when it holds no connection to it sees no lock
    on the shared memory file (``-shm``), takes itself for its only user, and truncates it to
    start it again, under the mapping of the other copy's connections in this process (the
    write side's, ``EventLog``'s): they die of SIGBUS (seen here when the order-state rebuild
    read a range beside a reload on ``sqlite3``). With ``readonly_shm`` the driver never
    writes that file; finding no other user, it reads the WAL file itself instead."""
    return f"{path.absolute().as_uri()}?mode=ro&readonly_shm=1"


def _canonical(ids: pa.ChunkedArray) -> pa.Array:
    """SQLite's hex originator ids (sorted: an order's rows are together) as canonical UUID
    text (8-4-4-4-12), converted once per order."""
    ids = one_array(ids)
    if len(ids) == 0:
        return ids.cast(pa.string())
    starts = np.flatnonzero(
        np.concatenate([[True], np.asarray(pc.not_equal(ids[1:], ids[:-1]), dtype=bool)])
    )
    orders = ids.take(pa.array(starts))
    if pc.all(pc.match_substring_regex(orders, _HEX_ID)).as_py():
        cuts = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))
        parts = [pc.utf8_slice_codeunits(orders, a, b) for a, b in cuts]
        named = pc.binary_join_element_wise(*parts, "-")
    else:
        named = pa.array([canonical_order_id(i) for i in orders.to_pylist()], pa.string())
    runs = np.diff(np.append(starts, len(ids)))
    return named.take(pa.array(np.repeat(np.arange(len(starts)), runs)))


def _raw(page: pa.Table) -> pa.Table:
    columns = [
        page.column(0).cast(pa.int64()),
        _canonical(page.column(1)),
        page.column(2).cast(pa.int64()),
        page.column(3).cast(pa.string()),
        page.column(4).cast(pa.binary()),
    ]
    return pa.Table.from_arrays(columns, schema=RAW_SCHEMA)


def _row_pages(rows: Iterator[Row], size: int, first: int) -> Iterator[pa.Table]:
    """Rows in order-major order gathered into tables of whole orders, at most ``size`` rows
    each (the first at most ``first``) unless one order alone has more (as the SQLite pages)."""
    page: list[Row] = []
    order: list[Row] = []
    limit = first
    for row in rows:
        if order and row[1] != order[0][1]:
            if page and len(page) + len(order) > limit:
                yield _table_of(page)
                page, limit = [], size
            page += order
            order = []
        order.append(row)
    if page and len(page) + len(order) > limit:
        yield _table_of(page)
        page = []
    page += order
    if page:
        yield _table_of(page)


def canonical_order_id(oid: Any) -> str:
    """An originator id as stored (SQLite's hex text, PostgreSQL's UUID) as canonical text."""
    return str(oid if isinstance(oid, UUID) else UUID(str(oid)))


def _table_of(rows: list[Row]) -> pa.Table:
    names: dict[Any, str] = {}
    ids = []
    for r in rows:
        name = names.get(r[1])
        if name is None:
            name = names[r[1]] = canonical_order_id(r[1])
        ids.append(name)
    columns = [
        pa.array([r[0] for r in rows], pa.int64()),
        pa.array(ids, pa.string()),
        pa.array([r[2] for r in rows], pa.int64()),
        pa.array([r[3] for r in rows], pa.string()),
        pa.array([bytes(r[4]) for r in rows], pa.binary()),
    ]
    return pa.Table.from_arrays(columns, schema=RAW_SCHEMA)


__all__ = [
    "RAW_SCHEMA",
    "adbc_uri",
    "canonical_order_id",
    "order_pages",
    "read_ahead",
    "read_arrow",
]
