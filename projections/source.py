"""The event log as the projections read it: read-only, opened from the store's configuration.

The read side never constructs the write-side application: it opens eventsourcing's recorder
for the same store (SQLite file or PostgreSQL) without creating tables, reads the log after a
position, reads the events of a few orders (by aggregate id, the store's primary key), and
fingerprints single events so the tables can tell which store and which log head they were
built from.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    OperationalError,
    ProgrammingError,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import Environment

from ordertrail.adapters.store.config import StoreConfig, opening
from ordertrail.adapters.store.rebuild import decode_rows, stored_events_with_payload

# The write-side application's name: eventsourcing derives the events table from it.
APPLICATION = "ordertrail"
LogEvent = tuple[int, Any, str]  # (notification id, domain event, stored JSON)
_IDS_PER_QUERY = 500


def fingerprint(nid: int, originator: Any, version: int, topic: str, state: bytes) -> int:
    """A 63-bit digest of one stored event (it fits a Delta transaction's version)."""
    h = hashlib.blake2b(digest_size=8)
    for part in (str(nid), str(UUID(str(originator))), str(version), topic):
        h.update(part.encode())
        h.update(b"\0")
    h.update(bytes(state))
    return int.from_bytes(h.digest(), "big") >> 1


class StoredLog:
    """Read-only access to one store's notification log."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        env = Environment(APPLICATION, {**config.eventsourcing_env(), "CREATE_TABLE": "n"})
        with opening(config):
            self.recorder: ApplicationRecorder = InfrastructureFactory.construct(
                env
            ).application_recorder()

    @property
    def _sqlite(self) -> bool:
        return isinstance(self.recorder, SQLiteApplicationRecorder)

    def _exists(self) -> bool:
        return not self._sqlite or self.config.sqlite_path.exists()

    def head(self) -> int:
        """The last notification id (0 for an empty or not yet created store)."""
        if not self._exists():
            return 0
        try:
            with opening(self.config):
                return self.recorder.max_notification_id() or 0
        except (OperationalError, ProgrammingError) as e:
            if "no such table" in str(e) or "does not exist" in str(e):
                return 0
            raise

    def fingerprint_at(self, nid: int) -> int | None:
        """The fingerprint of the event at ``nid``, or None when the log has none there."""
        if nid <= 0 or not self._exists():
            return None
        page = self.recorder.select_notifications(nid, 1)
        if not page or page[0].id != nid:
            return None
        n = page[0]
        return fingerprint(n.id, n.originator_id, n.originator_version, n.topic, n.state)

    def first_fingerprint(self) -> int | None:
        """The first event's fingerprint: which store this is (None while it is empty)."""
        if not self._exists() or self.head() == 0:
            return None
        page = self.recorder.select_notifications(1, 1)
        n = page[0]
        return fingerprint(n.id, n.originator_id, n.originator_version, n.topic, n.state)

    def after(self, start: int) -> Iterator[LogEvent]:
        """Every event after ``start``, in log order, with its stored JSON."""
        if not self._exists():
            return iter(())
        return stored_events_with_payload(self.recorder, start)

    def of_orders(self, ids: Collection[UUID], upto: int) -> list[LogEvent]:
        """The events of these orders up to notification ``upto``, in log order: an index
        lookup per order (aggregate id and version are the store's primary key)."""
        out: list[LogEvent] = []
        wanted = sorted(ids)
        for i in range(0, len(wanted), _IDS_PER_QUERY):
            out.extend(decode_rows(self._rows_of(wanted[i : i + _IDS_PER_QUERY], upto), True))
        out.sort(key=lambda e: e[0])
        return out

    def _rows_of(self, ids: list[UUID], upto: int) -> list[tuple[int, Any, int, str, bytes]]:
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        if self._sqlite:
            marks = ",".join("?" * len(ids))
            path = Path(self.recorder.datastore.pool.db_name)  # type: ignore[attr-defined]
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
            try:
                return conn.execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                    f"WHERE originator_id IN ({marks}) AND rowid <= ?",
                    (*(u.hex for u in ids), upto),
                ).fetchall()
            finally:
                conn.close()
        from psycopg.sql import SQL, Identifier

        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s) AND notification_id <= %s"
        ).format(schema=Identifier(datastore.schema), table=Identifier(table))
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (ids, upto))
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

    def close(self) -> None:
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()
