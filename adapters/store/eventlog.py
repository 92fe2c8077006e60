"""The event log, read-only: the one way every reader of the store sees what was recorded.

``EventLog.open(config)`` opens the store named by a ``StoreConfig`` without constructing the
write-side application, and can never write to it: SQLite is opened ``mode=ro`` with
``query_only``; PostgreSQL sessions default to read-only transactions. ``EventLog.on(recorder)``
reads through a recorder already open in this process (the write side's own, for its indexes).

Positions are eventsourcing's notification ids (SQLite's rowid; PostgreSQL's
``notification_id``, whose inserts eventsourcing serialises with a table lock so that ids
commit in order: a reader that has seen id n never finds a smaller id appear later).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Collection, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ordertrail.adapters.store import logsources as sources
from ordertrail.adapters.store.codec import event_reader
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.logsources import SQLITE_TABLE, Row


class LogEntry(NamedTuple):
    """One stored event: ``event`` is the decoded domain event (None when read without
    payload) and ``state`` the bytes as stored."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    event: Any
    state: bytes


def fingerprint(row: Row) -> int:
    """A 63-bit digest of one stored row (it fits a Delta transaction's version): the
    projections' tables record the fingerprints of the log they were built from."""
    nid, originator, version, topic, state = row
    h = hashlib.blake2b(digest_size=8)
    for part in (str(nid), str(UUID(str(originator))), str(version), topic):
        h.update(part.encode())
        h.update(b"\0")
    h.update(bytes(state))
    return int.from_bytes(h.digest(), "big") >> 1


def entry_mark(originator_id: UUID, version: int, state: bytes) -> str:
    """What identifies one stored event: its order, its version and a digest of its bytes."""
    digest = hashlib.blake2b(bytes(state), digest_size=8).hexdigest()
    return f"{originator_id.hex}:{version}:{digest}"


class EventLog:
    """Read-only access to the notification log (see the module docstring).

    ``rows_read`` counts the rows of the log fetched from the store and ``order_rows_read`` those
    fetched for one order's history (``order_events``), so tests (and callers) can see that a
    follower read only what was new."""

    def __init__(self, source: sources.Source, describe: str) -> None:
        self._source = source
        self.describe = describe
        self.rows_read = 0
        self.order_rows_read = 0

    @classmethod
    def open(cls, config: StoreConfig) -> EventLog:
        """The store ``config`` names, opened read-only; nothing is created (a data directory
        that does not exist is an error, not an empty store)."""
        if config.store_url:
            return cls(sources.postgres_source(config), config.describe())
        return cls(sources.SqliteSource(config.sqlite_path), config.describe())

    @classmethod
    def on(cls, recorder: ApplicationRecorder) -> EventLog:
        """The log of an application recorder already open in this process. On SQLite the
        rows are still read on a read-only connection of the log's own."""
        if isinstance(recorder, SQLiteApplicationRecorder):
            # ordertrail's own recorder is a subclass; an in-memory database has no file
            # another connection could open, and is read through the recorder.
            path = Path(recorder.datastore.pool.db_name)
            if path.is_file():
                table = getattr(recorder, "events_table_name", SQLITE_TABLE)
                return cls(sources.SqliteSource(path, table), str(path))
        # The log does not own the recorder, nor keep it alive: its application does.
        return cls(sources.RecorderSource(weakref.proxy(recorder)), type(recorder).__name__)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

    def sqlite_file(self) -> tuple[Path, str] | None:
        """The SQLite file and table this log reads (None: it reads another store): for a
        reader of the same table in Arrow columns (``columnar_read``)."""
        src = self._source
        return (src.path, src.table) if isinstance(src, sources.SqliteSource) else None

    def head(self) -> int:
        """The last notification id (0: the log is empty)."""
        return self._source.head()

    def rows(self, position: int = 0, limit: int | None = None) -> Iterator[Row]:
        """(notification id, originator id, version, topic, stored bytes) after ``position``,
        in log order, at most ``limit`` of them; fetched a page at a time."""
        remaining = limit
        while remaining is None or remaining > 0:
            page = self._source.page_size()
            size = page if remaining is None else min(page, remaining)
            got, row = 0, None
            try:
                for row in self._source.stream(position, size):
                    got += 1
                    yield row
            finally:
                self.rows_read += got
            if row is None or got < size:
                return
            position = row[0]
            if remaining is not None:
                remaining -= got

    def after(
        self, position: int = 0, limit: int | None = None, *, payload: bool = True
    ) -> Iterator[LogEntry]:
        """The events after ``position`` in log order (at most ``limit``): decoded when
        ``payload`` (the default), else only their stored bytes."""
        read = event_reader() if payload else None
        uuid_of = uuid_reader()
        for nid, oid, version, topic, state in self.rows(position, limit):
            uid = uuid_of(oid)
            event = None if read is None else read(topic, state, uid, version, nid)
            yield LogEntry(nid, uid, version, topic, event, bytes(state))

    def events(self, position: int = 0) -> Iterator[tuple[int, Any]]:
        """(notification id, decoded event) after ``position``: the rebuild's path."""
        read = event_reader()
        uuid_of = uuid_reader()
        for nid, oid, version, topic, state in self.rows(position):
            yield nid, read(topic, state, uuid_of(oid), version, nid)

    def order_events(self, originator_id: UUID, below_version: int) -> list[Any]:
        """One order's decoded events with a version below ``below_version``, oldest first."""
        read = event_reader()
        rows = self._source.order_rows(originator_id, below_version)
        self.order_rows_read += len(rows)
        return [
            read(topic, state, originator_id, version, nid)
            for nid, _, version, topic, state in rows
        ]

    def mark(self, position: int) -> str | None:
        """What identifies the event at ``position`` (None: there is none). A reader that
        remembers the mark of the last event it read can tell, with one row, whether the store
        it reads now still holds that event there."""
        if position <= 0:
            return None
        page = self._source.page(position - 1, 1)
        self.rows_read += len(page)
        if not page or page[0][0] != position:
            return None
        _, oid, version, _, state = page[0]
        return entry_mark(uuid_reader()(oid), version, state)

    def identity(self) -> str | None:
        """The store's identity: the mark of its first event (None while the log is empty).
        A store replaced by another (emptied and recorded again, or another file or database
        under the same name) has another first event unless it recorded the very same one."""
        page = self._source.page(0, 1)
        self.rows_read += len(page)
        if not page:
            return None
        _, oid, version, _, state = page[0]
        return entry_mark(uuid_reader()(oid), version, state)

    # ---- what the projections ask of the log ------------------------------------------------

    def _row_at(self, position: int) -> Row | None:
        if position <= 0:
            return None
        page = self._source.page(position - 1, 1)
        self.rows_read += len(page)
        return page[0] if page and page[0][0] == position else None

    def fingerprint_at(self, position: int) -> int | None:
        """The fingerprint of the event at ``position`` (None: there is none)."""
        row = self._row_at(position)
        return None if row is None else fingerprint(row)

    def first_fingerprint(self) -> int | None:
        """The first event's fingerprint: which store this is (None while the log is empty)."""
        page = self._source.page(0, 1)
        self.rows_read += len(page)
        return fingerprint(page[0]) if page else None

    def orders_rows(self, ids: Collection[UUID], upto: int) -> list[Row]:
        """The stored rows of these orders up to notification ``upto``, in log order: a few
        hundred orders per query, each an index lookup (aggregate id and version are the
        store's primary key)."""
        wanted = sorted(ids)
        out: list[Row] = []
        for i in range(0, len(wanted), sources.IDS_PER_QUERY):
            out.extend(self._source.orders_rows(wanted[i : i + sources.IDS_PER_QUERY], upto))
        self.order_rows_read += len(out)
        out.sort(key=itemgetter(0))
        return out

    def rows_by_order(self, upto: int) -> Iterator[Row]:
        """Every stored row up to notification ``upto``, order by order (each order's events
        together, oldest first): the primary key's order, read a page at a time. What a
        rebuild streams: an order's rows are final when the next order's begin."""
        after: tuple[Any, int] | None = None
        while True:
            page = self._source.order_major_page(after, upto, sources.PAGE)
            self.rows_read += len(page)
            yield from page
            if len(page) < sources.PAGE:
                return
            after = (page[-1][1], page[-1][2])


def uuid_reader() -> Callable[[Any], UUID]:
    """Originator ids as UUIDs. SQLite stores them as hex text and an order's events share
    one: parse it once. Bounded, so a long log does not keep one entry per order."""
    ids: dict[Any, UUID] = {}

    def uuid_of(oid: Any) -> UUID:
        uid = ids.get(oid)
        if uid is None:
            if len(ids) >= 100_000:
                ids.clear()
            uid = ids[oid] = oid if isinstance(oid, UUID) else UUID(oid)
        return uid

    return uuid_of


__all__ = ["EventLog", "LogEntry", "Row", "entry_mark", "fingerprint", "uuid_reader"]
