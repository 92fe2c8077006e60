"""The chained application recorder for PostgreSQL (``recorders.py`` has the checkpoint and the
SQLite one). Its driver is the ``[postgres]`` extra, so this module is imported only for a
PostgreSQL store.

It also creates its schema under an advisory lock: two processes starting at once on a fresh
database otherwise race on ``CREATE TABLE IF NOT EXISTS`` and one fails with a duplicate
``pg_type`` row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.errors import DuplicateObject

from ordertrail.adapters.store.recorders import (
    HEAD_COLUMNS,
    HEAD_TABLE,
    SCHEMA_LOCK,
    Checkpoint,
    _Completing,
    advanced,
)


class ChainedPostgresRecorder(_Completing, PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = sql.Identifier(self.datastore.schema, HEAD_TABLE)
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id int PRIMARY KEY CHECK (id = 1), "
                "first_id bigint NOT NULL, last_id bigint NOT NULL, originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, head bytea NOT NULL)"
            ).format(table)
        )
        self._select_head = sql.SQL(f"SELECT {HEAD_COLUMNS} FROM {{}}").format(table)
        self._upsert_head = sql.SQL(
            "INSERT INTO {} VALUES (1, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "first_id = excluded.first_id, last_id = excluded.last_id, "
            "originator_id = excluded.originator_id, "
            "originator_version = excluded.originator_version, head = excluded.head"
        ).format(table)

    def create_table(self) -> None:
        # One transaction under one advisory lock: a second process waits, then finds every
        # object in place (IF NOT EXISTS, and the type's DuplicateObject in a savepoint).
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("SELECT pg_advisory_xact_lock(%s)"), (SCHEMA_LOCK,))
            for statement in self.sql_create_statements:
                if "CREATE TYPE" in statement.as_string():
                    with contextlib.suppress(DuplicateObject), curs.connection.transaction():
                        curs.execute(statement, prepare=False)
            self._create_table(curs)
        self.datastore.register_type_adapters()

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if stored_events and ids:
            # The events table is locked (EXCLUSIVE) for this insert: writers pass here one
            # at a time, in notification order.
            curs.execute(self._select_head)
            row = curs.fetchone()
            old = (
                None
                if row is None
                else Checkpoint(
                    row["first_id"],
                    row["last_id"],
                    row["originator_id"],
                    row["originator_version"],
                    bytes(row["head"]),
                )
            )
            new = advanced(old, stored_events, ids, self.digests_of(stored_events))
            curs.execute(
                self._upsert_head,
                (new.first_id, new.last_id, new.originator_id, new.originator_version, new.head),
            )
        return ids


__all__ = ["ChainedPostgresRecorder"]
