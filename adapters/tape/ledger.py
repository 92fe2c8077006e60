"""Which tape segments a store already holds, so that replaying a tape twice, or replaying a
session that was recorded live into this store, records nothing new.

The domain drops repeats of an order's *latest* fact, not of any past one: feeding an old
session again would replay its Submitted after today's Filled. So the store keeps one row per
segment (the session id of its header) next to the event log, in its own table that the
projections never read: SQLite in the same file, PostgreSQL in the same database.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ordertrail.adapters.store.config import StoreConfig, opening

from .format import Header

TABLE = "ordertrail_tape_sessions"
COLUMNS = (
    "session, run, client_id, server_version, tape, started, position, last_seq, finished, how"
)
CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    session TEXT PRIMARY KEY, run TEXT, client_id INTEGER, server_version INTEGER, tape TEXT,
    started TEXT, position BIGINT, last_seq BIGINT, finished INTEGER, how TEXT)"""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    session: str
    position: int  # the event log's last notification id when the segment began
    last_seq: int
    finished: bool
    how: str  # "live" or "replay"


class TapeLedger:
    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._conn: Any
        with opening(config):
            if config.store_url:
                import psycopg

                self._conn = psycopg.connect(config.store_url, autocommit=True)
                self._mark = "%s"
            else:
                config.data_dir.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(config.sqlite_path, timeout=10, isolation_level=None)
                self._mark = "?"
            self._conn.execute(CREATE)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._mark)

    def get(self, session: str) -> LedgerEntry | None:
        row = self._conn.execute(
            self._sql(
                f"SELECT session, position, last_seq, finished, how FROM {TABLE} WHERE session = ?"
            ),
            (session,),
        ).fetchone()
        if row is None:
            return None
        return LedgerEntry(str(row[0]), int(row[1]), int(row[2]), bool(row[3]), str(row[4]))

    def start(self, header: Header, *, tape: str, position: int, how: str) -> None:
        self._conn.execute(
            self._sql(
                f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (session) DO NOTHING"
            ),
            (
                header.session,
                str(header.extra.get("run", "")),
                header.client_id,
                header.server_version,
                tape,
                header.started,
                position,
                0,
                0,
                how,
            ),
        )

    def finish(self, session: str, last_seq: int) -> None:
        self._conn.execute(
            self._sql(f"UPDATE {TABLE} SET last_seq = ?, finished = 1 WHERE session = ?"),
            (last_seq, session),
        )

    def close(self) -> None:
        self._conn.close()
