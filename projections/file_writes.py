"""A rebuild's Parquet files written on background threads while its passes go on, each table
committed once all its files exist (docs/adr/0117-rebuild-writes-files-beside-its-passes.md).

The ``events`` rows of a history of a few days are written by one background thread as the
orders pass makes them (a ``HandOff``, docs/adr/0161-events-written-beside-the-orders-pass.md).
The other ``events`` rows, the ``orders`` rows and the groups' rows are final when the orders
pass ends: their files are written on one background thread while the positions pass runs on
the main thread (Arrow's Parquet writer, its sorts and its IPC reads release the GIL, and the
machine's second core is otherwise idle then). When the passes are over, two threads write
what is left (``position_history`` beside the ranges of ``fills``, whose files, one per range
of keys, are written by both threads at once). Once every table's files exist, the main
thread commits each table, in ``TABLES`` order: one commit a table against the version the
rebuild read, as ``DeltaTables.rewrite`` commits it.

A crash or an interrupt anywhere leaves each table as it was or rebuilt, and no file of a
table that was not committed: the threads stop between two chunks and delete what they wrote;
what a thread finished for a table that was not committed is deleted as the writes end.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake.transaction import AddAction

from ordertrail.projections.handoff import HandOff, Parts
from ordertrail.projections.schema import TABLES, TableSpec
from ordertrail.projections.sorted_spill import SortedParts
from ordertrail.projections.table_files import TableFiles, delete_files, in_key_order
from ordertrail.projections.tables import DeltaTables, Source, TableState

# The machine's cores: the passes hold one of them while they run.
THREADS = 2
# The chunks of a table's files, numbered in the table's order, and the actions adding them.
Numbered = list[tuple[int, AddAction]]


def commit_rebuilt(
    tables: DeltaTables,
    states: dict[str, TableState],
    rebuilt: Iterable[tuple[TableSpec, Iterable[pa.Table]]],
    source: Source,
) -> None:
    """Every table a rebuild gives (``Rebuild.spilled``: each as soon as its rows are final),
    its files written on the background threads, then each committed against ``states``."""
    with FileWrites(tables) as writes:
        for spec, chunks in rebuilt:
            writes.start(spec, chunks)
        writes.commit_all(states, source)


class Stopped(Exception):
    """The rebuild stopped: a background write gives up between two chunks."""


class _Taken:
    """Chunks of one iterator taken by several threads, one at a time, numbered."""

    def __init__(self, chunks: Iterator[pa.Table]) -> None:
        self._chunks = chunks
        self._count = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[int, pa.Table] | None:
        with self._lock:
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            self._count += 1
            return self._count - 1, chunk


@dataclass
class _Table:
    spec: TableSpec
    writes: list[Future[Numbered]] = field(default_factory=list)
    committed: bool = False


class FileWrites:
    """The rebuilt tables' files, written on background threads, and their commits. Until
    ``passes_done`` one thread writes (the passes hold the other core); then ``THREADS``.
    Leaving the block stops the threads and deletes the files of every table not committed."""

    def __init__(self, tables: DeltaTables, threads: int = THREADS) -> None:
        self.tables = tables
        self.threads = threads
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="ordertrail-files")
        self._gate = threading.Semaphore(threads)
        self._gate.acquire()
        self._passes = True
        self._started: dict[str, _Table] = {}
        self._handed: list[HandOff] = []  # tables whose rows come while the passes run

    def start(self, spec: TableSpec, chunks: Iterable[pa.Table]) -> None:
        """Begin writing the table's files from ``chunks`` (in the order the table keeps:
        ``rewrite``'s): a keyed table's ranges of keys, a file each, by every thread at once;
        an append-only table's rows by one thread, its partitions' files in turn."""
        parts: Parts = (
            chunks
            if isinstance(chunks, SortedParts | HandOff)
            else _Taken(in_key_order(spec, chunks))
        )
        if isinstance(parts, HandOff):
            if self.threads < 2:  # the one thread waits for the passes: no one would take rows
                raise ValueError("rows handed during the passes need two writing threads")
            self._handed.append(parts)
        writers = 1 if spec.append_only else self.threads
        table = self._started[spec.name] = _Table(spec)
        for _ in range(writers):
            table.writes.append(self._pool.submit(self._write, spec, parts))

    def passes_done(self) -> None:
        """The passes are over: every thread may write."""
        if self._passes:
            self._passes = False
            self._gate.release()

    def commit_all(self, states: dict[str, TableState], source: Source) -> None:
        """Wait for every table's files, then commit each table started, in ``TABLES`` order
        (``DeltaTables.commit_files``): a write that failed stops the rebuild before any
        commit."""
        self.passes_done()
        started = [self._started[spec.name] for spec in TABLES if spec.name in self._started]
        added = [_in_order(table) for table in started]
        for table, actions in zip(started, added, strict=True):
            # Marked before the commit: files a commit may have named are never deleted here.
            table.committed = True
            self.tables.commit_files(states[table.spec.name], actions, source)

    def _write(self, spec: TableSpec, parts: Parts) -> Numbered:
        with self._gate:
            files = self.tables.new_files(spec)
            try:
                return _written(files, parts, self.stop)
            except BaseException:
                files.abandon()
                if isinstance(parts, HandOff):
                    # The pass handing rows stops at its next one, with this thread's error.
                    parts.abandon(sys.exc_info()[1])
                raise

    def __enter__(self) -> FileWrites:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop.set()
        self.passes_done()
        for handed in self._handed:
            handed.abandon()  # a writer waiting for rows that will not come stops
        self._pool.shutdown(wait=True, cancel_futures=True)
        for table in self._started.values():
            if not table.committed:
                self._delete(table)

    def _delete(self, table: _Table) -> None:
        """The files of a table's writes that finished (the pool has ended every write)."""
        folder = self.tables.new_files(table.spec).folder
        for write in table.writes:
            if not write.cancelled() and write.exception() is None:
                delete_files(folder, [action for _, action in write.result()])


def _in_order(table: _Table) -> list[AddAction]:
    """The actions adding a table's files, in the order of its parts (stable: an append-only
    table's partitions' files as its one thread closed them)."""
    numbered = [pair for write in table.writes for pair in write.result()]
    numbered.sort(key=lambda pair: pair[0])
    return [action for _, action in numbered]


def _written(files: TableFiles, parts: Parts, stop: threading.Event) -> Numbered:
    """Parts taken until none is left, written into ``files``; each action numbered by the
    part its file ends with."""
    numbered: Numbered = []
    last = 0
    while not stop.is_set() and (taken := parts.take()) is not None:
        last, chunk = taken
        files.write(chunk)
        numbered.extend((last, action) for action in files.added[len(numbered) :])
    if stop.is_set():
        raise Stopped
    added = files.close()
    numbered.extend((last, action) for action in added[len(numbered) :])
    return numbered
