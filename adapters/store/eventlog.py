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
import sqlite3
import weakref
from collections.abc import Callable, Collection, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from ordertrail.adapters.store.codec import event_reader
from ordertrail.adapters.store.config import StoreConfig, StoreUnavailable, opening

PAGE = 5000
# SQLite's pages are streamed off one statement each (``_SqliteSource.stream``), so their size
# costs no memory; each opens a connection whose first read loads the schema into a cold
# cache, which at 5,000 rows a page was a quarter of reading a million rows (measured). A
# page's read snapshot lasts while it is read: a writer is never blocked (WAL), a checkpoint
# waits that long.
STREAMED_PAGE = 50_000
# Orders looked up per query by ``orders_rows`` (SQLite allows 32,766 parameters).
IDS_PER_QUERY = 500
# eventsourcing names the PostgreSQL table after the application ("ordertrail") and the
# SQLite one "stored_events" (its factories' convention).
POSTGRES_TABLE = "ordertrail_events"
SQLITE_TABLE = "stored_events"

Row = tuple[int, Any, int, str, bytes]
_PAGE_SQL = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    "WHERE rowid > ? ORDER BY rowid LIMIT ?"
)


class LogEntry(NamedTuple):
    """One stored event: ``event`` is the decoded domain event (None when read without
    payload) and ``state`` the bytes as stored."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    event: Any
    state: bytes


class _Source(Protocol):
    def page_size(self) -> int:
        """Rows ``EventLog.rows`` asks for at a time."""
        ...

    def head(self) -> int: ...

    def page(self, after: int, limit: int) -> list[Row]: ...

    def stream(self, after: int, limit: int) -> Iterator[Row]: ...

    def order_rows(self, originator_id: UUID, below: int) -> list[Row]: ...

    def orders_rows(self, ids: list[UUID], upto: int) -> list[Row]: ...

    def order_major_page(
        self, after: tuple[Any, int] | None, upto: int, limit: int
    ) -> list[Row]: ...

    def close(self) -> None: ...


class _SqliteSource:
    """A read-only connection of our own for each read. eventsourcing's SQLite pool switches a
    store to WAL on connect (a write) and builds a ``sqlite3.Row`` and a ``Notification`` per
    row (a third of a million-event rebuild): a reader needs neither, so it reads the same
    table directly. Not kept between reads: an idle connection to a WAL store keeps a shared
    lock that stops a writer from setting up a store recreated under the same name (and
    would go on reading a deleted file)."""

    def __init__(self, path: Path, table: str = SQLITE_TABLE) -> None:
        self.path = path
        self.table = table

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreUnavailable(f"cannot open the event store {self.path}: no such file")
        # As a URI the path must be percent-encoded: a data directory named "trading #2" or
        # "50%" would otherwise open another file (or none). Autocommit: a read holds no
        # snapshot between statements, so the WAL never grows behind a reader.
        uri = f"{self.path.absolute().as_uri()}?mode=ro"
        with opening(StoreConfig(self.path.parent)):
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10)
            conn.execute("PRAGMA query_only = 1")
        return conn

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        conn = self._connect()
        try:
            return conn.execute(sql.format(table=self.table), params).fetchall()
        except sqlite3.OperationalError as e:
            # An empty file, or a store no writer has opened yet: an empty log.
            if "no such table" in str(e):
                return []
            raise
        finally:
            conn.close()

    def head(self) -> int:
        rows = self._query("SELECT MAX(rowid) FROM {table}", ())
        return int(rows[0][0] or 0) if rows else 0

    def page_size(self) -> int:
        return STREAMED_PAGE

    def page(self, after: int, limit: int) -> list[Row]:
        return self._query(_PAGE_SQL, (after, limit))

    def stream(self, after: int, limit: int) -> Iterator[Row]:
        """One page, row by row off the cursor: a page built as a list first costs the
        rebuild a third more than the rows themselves (each row freed as soon as it is read
        reuses the memory of the one before). The connection lives as long as the page."""
        conn = self._connect()
        try:
            yield from conn.execute(_PAGE_SQL.format(table=self.table), (after, limit))
        except sqlite3.OperationalError as e:
            if "no such table" not in str(e):
                raise
        finally:
            conn.close()

    def order_rows(self, originator_id: UUID, below: int) -> list[Row]:
        return self._query(
            "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            "WHERE originator_id = ? AND originator_version < ? ORDER BY originator_version",
            (originator_id.hex, below),
        )

    def orders_rows(self, ids: list[UUID], upto: int) -> list[Row]:
        marks = ",".join("?" * len(ids))
        return self._query(
            "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            f"WHERE originator_id IN ({marks}) AND rowid <= ?",
            (*(u.hex for u in ids), upto),
        )

    def order_major_page(self, after: tuple[Any, int] | None, upto: int, limit: int) -> list[Row]:
        # Walks the primary key's index (originator id, version) from where the last page ended.
        where = "" if after is None else "(originator_id, originator_version) > (?, ?) AND "
        return self._query(
            "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            f"WHERE {where}rowid <= ? ORDER BY originator_id, originator_version LIMIT ?",
            (*(after or ()), upto, limit),
        )

    def close(self) -> None:
        pass  # nothing is held between reads


class _RecorderSource:
    """eventsourcing's own notification log (``select_notifications``)."""

    def __init__(self, recorder: ApplicationRecorder, *, owned: bool = False) -> None:
        self.recorder = recorder
        self.owned = owned

    def head(self) -> int:
        try:
            return int(self.recorder.max_notification_id() or 0)
        except Exception as e:
            if _no_table(e):
                return 0
            raise

    def page_size(self) -> int:
        return PAGE

    def page(self, after: int, limit: int) -> list[Row]:
        try:
            notes = self.recorder.select_notifications(after, limit, inclusive_of_start=False)
        except Exception as e:
            if _no_table(e):
                return []
            raise
        return [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notes]

    def stream(self, after: int, limit: int) -> Iterator[Row]:
        return iter(self.page(after, limit))

    def order_rows(self, originator_id: UUID, below: int) -> list[Row]:
        stored = self.recorder.select_events(originator_id, lte=below - 1)
        return [(0, s.originator_id, s.originator_version, s.topic, s.state) for s in stored]

    def orders_rows(self, ids: list[UUID], upto: int) -> list[Row]:
        # eventsourcing reads one aggregate per query; a PostgreSQL store answers many in one.
        from psycopg.sql import SQL, Identifier

        datastore: Any = getattr(self.recorder, "datastore")  # noqa: B009
        table = getattr(self.recorder, "events_table_name")  # noqa: B009
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s) AND notification_id <= %s"
        ).format(schema=Identifier(datastore.schema), table=Identifier(table))
        return _fetch(datastore, statement, (ids, upto))

    def order_major_page(self, after: tuple[Any, int] | None, upto: int, limit: int) -> list[Row]:
        from psycopg.sql import SQL, Identifier

        datastore: Any = getattr(self.recorder, "datastore")  # noqa: B009
        table = getattr(self.recorder, "events_table_name")  # noqa: B009
        where = "" if after is None else "(originator_id, originator_version) > (%s, %s) AND "
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE " + where + "notification_id <= %s "
            "ORDER BY originator_id, originator_version LIMIT %s"
        ).format(schema=Identifier(datastore.schema), table=Identifier(table))
        return _fetch(datastore, statement, (*(after or ()), upto, limit))

    def close(self) -> None:
        if self.owned:
            datastore = getattr(self.recorder, "datastore", None)
            if datastore is not None:
                datastore.close()


def _fetch(datastore: Any, statement: Any, params: tuple[Any, ...]) -> list[Row]:
    """Stored rows a PostgreSQL statement selects (notification id, originator id, version,
    topic, state)."""
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, params)
        return [
            (
                r["notification_id"],
                r["originator_id"],
                r["originator_version"],
                r["topic"],
                bytes(r["state"]),
            )
            for r in curs.fetchall()
        ]


def _no_table(error: Exception) -> bool:
    # PostgreSQL before any writer created the table: an empty log, not a broken store.
    return "does not exist" in str(error) or "no such table" in str(error)


def _postgres_source(config: StoreConfig) -> _RecorderSource:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
    from psycopg import Connection

    class ReadOnlyDatastore(PostgresDatastore):
        """Every session of this pool defaults to read-only transactions: a reader that tried
        to write would get PostgreSQL's error, not change the store."""

        def after_connect_func(self) -> Callable[[Connection[Any]], None]:
            base = super().after_connect_func()

            def after_connect(conn: Connection[Any]) -> None:
                base(conn)
                conn.execute("SET default_transaction_read_only = on")

            return after_connect

    env = config.eventsourcing_env()
    with opening(config):
        datastore = ReadOnlyDatastore(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            connect_timeout=float(env["POSTGRES_CONNECT_TIMEOUT"]),
        )
        recorder = PostgresApplicationRecorder(datastore, events_table_name=POSTGRES_TABLE)
    return _RecorderSource(recorder, owned=True)


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

    def __init__(self, source: _Source, describe: str) -> None:
        self._source = source
        self.describe = describe
        self.rows_read = 0
        self.order_rows_read = 0

    @classmethod
    def open(cls, config: StoreConfig) -> EventLog:
        """The store ``config`` names, opened read-only; nothing is created (a data directory
        that does not exist is an error, not an empty store)."""
        if config.store_url:
            return cls(_postgres_source(config), config.describe())
        return cls(_SqliteSource(config.sqlite_path), config.describe())

    @classmethod
    def on(cls, recorder: ApplicationRecorder) -> EventLog:
        """The log of an application recorder already open in this process. On SQLite the
        rows are still read on a read-only connection of the log's own."""
        if type(recorder).__module__ == "eventsourcing.sqlite":
            path = Path(getattr(recorder, "datastore").pool.db_name)  # noqa: B009
            table = getattr(recorder, "events_table_name", SQLITE_TABLE)
            return cls(_SqliteSource(path, table), str(path))
        # The log does not own the recorder, nor keep it alive: its application does.
        return cls(_RecorderSource(weakref.proxy(recorder)), type(recorder).__name__)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

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
            event = None if read is None else read(topic, state, uid, version)
            yield LogEntry(nid, uid, version, topic, event, bytes(state))

    def events(self, position: int = 0) -> Iterator[tuple[int, Any]]:
        """(notification id, decoded event) after ``position``: the rebuild's path."""
        read = event_reader()
        uuid_of = uuid_reader()
        for nid, oid, version, topic, state in self.rows(position):
            yield nid, read(topic, state, uuid_of(oid), version)

    def order_events(self, originator_id: UUID, below_version: int) -> list[Any]:
        """One order's decoded events with a version below ``below_version``, oldest first."""
        read = event_reader()
        rows = self._source.order_rows(originator_id, below_version)
        self.order_rows_read += len(rows)
        return [read(topic, state, originator_id, version) for _, _, version, topic, state in rows]

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
        for i in range(0, len(wanted), IDS_PER_QUERY):
            out.extend(self._source.orders_rows(wanted[i : i + IDS_PER_QUERY], upto))
        self.order_rows_read += len(out)
        out.sort(key=itemgetter(0))
        return out

    def rows_by_order(self, upto: int) -> Iterator[Row]:
        """Every stored row up to notification ``upto``, order by order (each order's events
        together, oldest first): the primary key's order, read a page at a time. What a
        rebuild streams: an order's rows are final when the next order's begin."""
        after: tuple[Any, int] | None = None
        while True:
            page = self._source.order_major_page(after, upto, PAGE)
            self.rows_read += len(page)
            yield from page
            if len(page) < PAGE:
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
