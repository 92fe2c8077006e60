"""Where the event log's rows come from: a read-only SQLite connection of our own, or a
recorder (PostgreSQL's, or the write side's own in this process). ``EventLog`` reads through
one of these; the page sizes here are the log's."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from ordertrail.adapters.store.config import StoreConfig, StoreUnavailable, opening

PAGE = 5000
# SQLite's pages are streamed off one statement each (``SqliteSource.stream``), so their size
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


class Source(Protocol):
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


class SqliteSource:
    """A read-only connection of our own for each read. eventsourcing's SQLite pool switches a
    store to WAL on connect (a write) and builds a ``sqlite3.Row`` and a ``Notification`` per
    row (a third of a million-event rebuild): a reader needs neither, so it reads the same
    table directly. Not kept between reads: an idle connection to a WAL store keeps a shared
    lock that stops a writer from setting up a store recreated under the same name (and
    would go on reading a deleted file)."""

    def __init__(self, path: Path, table: str = SQLITE_TABLE) -> None:
        self.path = path
        self.table = table

    def _connect(self, *, any_thread: bool = False) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreUnavailable(f"cannot open the event store {self.path}: no such file")
        # As a URI the path must be percent-encoded: a data directory named "trading #2" or
        # "50%" would otherwise open another file (or none). Autocommit: a read holds no
        # snapshot between statements, so the WAL never grows behind a reader.
        uri = f"{self.path.absolute().as_uri()}?mode=ro"
        with opening(StoreConfig(self.path.parent)):
            conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=10, check_same_thread=not any_thread
            )
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

    def range_rows(self, low: int, high: int) -> list[Row]:
        """The rows whose rowid is after ``low`` and at most ``high``, in log order, the ids
        and topics as text."""
        return self._query(
            "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (low, high),
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


@contextmanager
def held_open(path: Path) -> Iterator[None]:
    """A read-only ``sqlite3`` connection to the store held open, with the WAL's shared memory
    file it opens (creating it when the store has none), while the ADBC driver reads the
    store with that file read-only (``columnar_read.adbc_uri`` says why): the driver needs
    the file to exist, and this process's ``sqlite3`` then shares it instead of starting it
    again for a connection of its own. Used by one thread at a time, but not always the one
    that opened it: a reader's pages are advanced by its reading threads in turn."""
    conn = SqliteSource(path)._connect(any_thread=True)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # a read opens the WAL
        yield
    finally:
        conn.close()


class RecorderSource:
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


def postgres_source(config: StoreConfig) -> RecorderSource:
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
    return RecorderSource(recorder, owned=True)
