"""Saved follower state, kept in the event store itself
(docs/adr/0158-follower-state-saved-in-the-store.md).

A follower that has read the whole log can save what it knows (its read model as JSON text, the
log position and the mark of the event there) so that the next process starts from it and reads
only what was recorded since. One row per follower name, in a table of its own beside the
events, created by the first save. A saved state is a cache: the follower checks it against the
log before using it, and a save that cannot be made (the store locked by a writer, opened
read-only, no permission) is skipped without a word.

The writes go through a connection of their own, never through the read-only ``EventLog``: on
SQLite a short-lived connection to the writer's file with a short lock timeout (a trader's check
must not wait ten seconds behind another writer for a cache), on PostgreSQL the writer's pool
with the same timeout set for the one transaction.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, PersistenceError
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ordertrail.adapters.store.recorders import SCHEMA_LOCK

TABLE = "ordertrail_follower_state"
# How long a save waits for another writer's lock before it is skipped.
LOCK_TIMEOUT_S = 0.1


@dataclass(frozen=True, slots=True)
class SavedState:
    """One follower's saved state: ``state`` is JSON text in the follower's own layout, which
    ``version`` names."""

    name: str
    version: int
    position: int
    mark: str
    state: str


class Checkpoints(Protocol):
    def load(self, name: str) -> SavedState | None:
        """The state saved under ``name``; None when there is none or it cannot be read."""
        ...

    def save(self, saved: SavedState) -> bool:
        """Replace what is saved under ``saved.name``; False when the store did not take it."""
        ...


def _row(row: Any) -> SavedState | None:
    """A stored row as a ``SavedState``, or None when a column is not of its type (a row
    written by something else, or damaged)."""
    name, version, position, mark, state = row
    if not (
        isinstance(name, str)
        and type(version) is int
        and type(position) is int
        and isinstance(mark, str)
        and isinstance(state, str)
    ):
        return None
    return SavedState(name, version, position, mark, state)


class SqliteCheckpoints:
    """The table in a SQLite event store, reached through connections of its own."""

    _CREATE = (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, version INTEGER NOT NULL, "
        "position INTEGER NOT NULL, mark TEXT NOT NULL, state TEXT NOT NULL)"
    )

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connection(self, *, read_only: bool) -> Iterator[sqlite3.Connection]:
        mode = "ro" if read_only else "rw"
        # ``rw``: never creates a file; a store that is gone has nothing to save into.
        uri = f"{self.path.absolute().as_uri()}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=LOCK_TIMEOUT_S)
        try:
            yield conn
        finally:
            conn.close()

    def load(self, name: str) -> SavedState | None:
        try:
            with self._connection(read_only=True) as conn:
                row = conn.execute(
                    f"SELECT name, version, position, mark, state FROM {TABLE} WHERE name = ?",
                    (name,),
                ).fetchone()
        except sqlite3.Error:  # no table yet, no file, locked: start from the log
            return None
        return None if row is None else _row(row)

    def save(self, saved: SavedState) -> bool:
        try:
            with self._connection(read_only=False) as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(self._CREATE)
                conn.execute(
                    f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
                    (saved.name, saved.version, saved.position, saved.mark, saved.state),
                )
                conn.execute("COMMIT")
        except sqlite3.Error:
            return False
        return True


class PostgresCheckpoints:
    """The table in a PostgreSQL event store, through the writer's pool."""

    def __init__(self, datastore: Any) -> None:
        from psycopg import sql

        self.datastore = datastore
        table = sql.Identifier(datastore.schema, TABLE)
        self._create = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, version int NOT NULL, "
            "position bigint NOT NULL, mark text NOT NULL, state text NOT NULL)"
        ).format(table)
        self._select = sql.SQL(
            "SELECT name, version, position, mark, state FROM {} WHERE name = %s"
        ).format(table)
        self._upsert = sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "version = excluded.version, position = excluded.position, mark = excluded.mark, "
            "state = excluded.state"
        ).format(table)
        self._lock_timeout = sql.SQL("SET LOCAL lock_timeout = {}").format(
            sql.Literal(f"{int(LOCK_TIMEOUT_S * 1000)}ms")
        )

    def load(self, name: str) -> SavedState | None:
        import psycopg

        try:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute(self._select, (name,))
                row = curs.fetchone()
        except (psycopg.Error, PersistenceError):
            return None
        if row is None:
            return None
        return _row((row["name"], row["version"], row["position"], row["mark"], row["state"]))

    def save(self, saved: SavedState) -> bool:
        import psycopg

        try:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(self._lock_timeout)
                # Creating a table races with another process creating it (a duplicate type
                # row): the schema lock the recorders take serialises the two.
                curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                curs.execute(self._create)
                curs.execute(
                    self._upsert,
                    (saved.name, saved.version, saved.position, saved.mark, saved.state),
                )
        except (psycopg.Error, PersistenceError):
            return False
        return True


def checkpoints_on(recorder: ApplicationRecorder) -> Checkpoints | None:
    """Where a writer's store keeps follower states; None for a store no other process can
    open (SQLite in memory), where a saved state would never be read."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        path = Path(recorder.datastore.pool.db_name)
        return SqliteCheckpoints(path) if path.is_file() else None
    if importlib.util.find_spec("psycopg") is not None:
        from eventsourcing.postgres import PostgresApplicationRecorder

        if isinstance(recorder, PostgresApplicationRecorder):
            return PostgresCheckpoints(recorder.datastore)
    return None


__all__ = [
    "TABLE",
    "Checkpoints",
    "PostgresCheckpoints",
    "SavedState",
    "SqliteCheckpoints",
    "checkpoints_on",
]
