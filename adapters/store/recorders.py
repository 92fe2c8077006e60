"""eventsourcing's SQLite and PostgreSQL application recorders, plus the two things the log's
tamper evidence needs at the moment of writing (docs/adr/0025-tamper-evident-log.md):

* an event the mapper could only seal with a placeholder (it had forgotten the order's last
  link) is completed from the order's stored events before it is inserted;
* the log's head is checkpointed in the same transaction as the events: the last notification
  id, the order and version it holds, and a running hash of every event since the first one
  written with a chain. A log whose tail was deleted no longer reaches its checkpoint.

PostgreSQL's recorder is in ``recorders_postgres.py``: its driver is an optional extra, and a
SQLite store (the default) must not need it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain as flatten_chain
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ordertrail.adapters.store import chain
from ordertrail.adapters.store.chain import GENESIS
from ordertrail.adapters.store.sealed import SealedEvent, sealed_digest

HEAD_TABLE = "ordertrail_chain_head"
HEAD_COLUMNS = "first_id, last_id, originator_id, originator_version, head"
# Rows per multi-row INSERT: 200 parameters, far below SQLite's limit (32,766 since 3.32).
ROWS_PER_STATEMENT = 50
# pg_advisory_xact_lock's key: any constant other applications are unlikely to take ("ordt").
SCHEMA_LOCK = 0x6F726474


@dataclass(frozen=True, slots=True)
class Checkpoint:
    first_id: int  # the first notification the running hash covers
    last_id: int
    originator_id: UUID
    originator_version: int
    head: bytes


Lookup = Callable[[UUID, int], Sequence[StoredEvent]]


def completed(
    stored_events: Sequence[StoredEvent], earlier: Lookup
) -> tuple[list[StoredEvent], int, list[bytes]]:
    """The events with every placeholder replaced by its link, computed from the order's
    earlier events (in this insert, else ``earlier(order, version)`` from the store), how many
    placeholders there were, and what each event adds to the log's running hash."""
    # What this process's mapper wrote carries its link: nothing to complete (the usual case).
    sealed_links = [
        s.digest for s in stored_events if type(s) is SealedEvent and s.digest is not None
    ]
    if len(sealed_links) == len(stored_events):
        return list(stored_events), 0, sealed_links
    out: list[StoredEvent] = []
    digests: list[bytes] = []
    count = 0
    links: dict[UUID, tuple[int, bytes]] = {}
    for s in stored_events:
        oid, version = _uuid(s.originator_id), s.originator_version
        known = sealed_digest(s)
        if known is not None:
            digest = known
        elif (sealed := chain.unseal(s.state)) is None:
            digest = _digest(s)
        elif sealed.digest is not None:
            digest = sealed.digest
        else:
            mine = links.get(oid)
            if mine is not None and mine[0] == version - 1:
                prev = mine[1]
            else:
                prev = GENESIS if version == 1 else _stored_link(oid, earlier(oid, version))
            count += 1
            digest = chain.link_hash(prev, oid, version, s.topic, sealed.body)
            s = StoredEvent(oid, version, s.topic, chain.seal(sealed.body, version, digest))
        links[oid] = (version, digest)
        digests.append(digest)
        out.append(s)
    return out, count, digests


def _uuid(oid: Any) -> UUID:
    return oid if isinstance(oid, UUID) else UUID(str(oid))


def _digest(s: StoredEvent) -> bytes:
    return chain.stored_digest(_uuid(s.originator_id), s.originator_version, s.topic, s.state)


def _stored_link(oid: UUID, events: Sequence[StoredEvent]) -> bytes:
    link = GENESIS
    for e in events:
        link = chain.link_of(link, oid, e.originator_version, e.topic, e.state)
    return link


def advanced(
    checkpoint: Checkpoint | None,
    stored_events: Sequence[StoredEvent],
    ids: Sequence[int],
    digests: Sequence[bytes] | None = None,
) -> Checkpoint:
    """The checkpoint moved over ``stored_events`` (``digests``: what each adds to the running
    hash, when the caller has them already)."""
    head = GENESIS if checkpoint is None else checkpoint.head
    head = chain.advance_all(head, digests if digests is not None else map(_digest, stored_events))
    last = stored_events[-1]
    return Checkpoint(
        first_id=ids[0] if checkpoint is None else checkpoint.first_id,
        last_id=ids[-1],
        originator_id=_uuid(last.originator_id),
        originator_version=last.originator_version,
        head=head,
    )


class _Completing:
    """Completes the mapper's placeholders before eventsourcing's ``insert_events``."""

    # How many events the mapper could only seal with a placeholder: zero unless it forgot an
    # order between loading and appending (its memory is bounded), which the tests check.
    placeholders_completed = 0

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        recorder: Any = self  # an eventsourcing application recorder (the other base)
        events, placeholders, digests = completed(
            stored_events, lambda oid, version: recorder.select_events(oid, lte=version - 1)
        )
        self.placeholders_completed += placeholders
        # Handed to the checkpoint inside the insert's transaction (eventsourcing passes the
        # same list down), so each event's hash is read once.
        self._digests = (events, digests)
        try:
            ids: Sequence[int] | None = super().insert_events(events, **kwargs)  # type: ignore[misc]
        finally:
            self._digests = None
        return ids

    _digests: tuple[Sequence[StoredEvent], list[bytes]] | None = None

    def digests_of(self, stored_events: Sequence[StoredEvent]) -> list[bytes] | None:
        """The hashes ``insert_events`` read for exactly these events, if it did."""
        found = self._digests
        return found[1] if found is not None and found[0] is stored_events else None


class ChainedSQLiteRecorder(_Completing, SQLiteApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_rows_statement = f"INSERT INTO {self.events_table_name} VALUES " + ",".join(
            ["(?,?,?,?)"] * ROWS_PER_STATEMENT
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {HEAD_TABLE} ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), first_id INTEGER NOT NULL, "
            "last_id INTEGER NOT NULL, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, head BLOB NOT NULL)",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        ids = self._insert_rows(c, stored_events)
        if stored_events and ids:
            c.execute(f"SELECT {HEAD_COLUMNS} FROM {HEAD_TABLE}")
            row = c.fetchone()
            old = (
                None
                if row is None
                else Checkpoint(row[0], row[1], UUID(row[2]), row[3], bytes(row[4]))
            )
            new = advanced(old, stored_events, ids, self.digests_of(stored_events))
            c.execute(
                f"INSERT OR REPLACE INTO {HEAD_TABLE} VALUES (1, ?, ?, ?, ?, ?)",
                (
                    new.first_id,
                    new.last_id,
                    new.originator_id.hex,
                    new.originator_version,
                    new.head,
                ),
            )
        return ids

    def _insert_rows(self, c: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """eventsourcing's insert, in multi-row statements instead of one per event. The
        notification ids are the rowids: in a rowid table without an INTEGER PRIMARY KEY,
        SQLite gives each row one more than the largest rowid in the table, and this
        transaction holds the write lock, so the rows get the ids after the largest one,
        in order (checked against the last rowid SQLite reports)."""
        if not stored_events:
            return []
        c.execute(self.select_max_notification_id_statement)
        first = int(c.fetchone()[0] or 0) + 1
        # The id's text is ``UUID.hex``, made here without the property's Python call.
        rows = [
            (
                "%032x" % oid.int  # noqa: UP031
                if isinstance(oid := s.originator_id, UUID)
                else oid,
                s.originator_version,
                s.topic,
                s.state,
            )
            for s in stored_events
        ]
        # Whole groups of rows in one statement each (SQLite inserts a VALUES list in its
        # order), the rest in one ``executemany``: a statement run per row (reset, rebind, the
        # GIL released and taken again) costs a quarter of the row's insert. Each state goes in
        # as a bytearray, stored as the same BLOB: CPython's sqlite3 module runs its adaptation
        # protocol for every ``bytes`` parameter (a registry lookup and an AttributeError raised
        # and cleared), and for a ``bytearray`` it does not. Copied a group at a time, so a
        # batch's states are not held twice.
        whole = len(rows) - len(rows) % ROWS_PER_STATEMENT
        for at in range(0, whole, ROWS_PER_STATEMENT):
            params: list[Any] = list(
                flatten_chain.from_iterable(rows[at : at + ROWS_PER_STATEMENT])
            )
            params[3::4] = map(bytearray, params[3::4])
            c.execute(self.insert_rows_statement, params)
        if whole < len(rows):
            c.executemany(
                self.insert_events_statement,
                [
                    (oid, version, topic, bytearray(state))
                    for oid, version, topic, state in rows[whole:]
                ],
            )
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        if last != first + len(stored_events) - 1:
            # Only past the largest rowid SQLite allows does it pick rowids at random.
            raise AssertionError(f"rows written at {first}..{last}, not consecutively")
        return list(range(first, last + 1))


__all__ = ["HEAD_TABLE", "ChainedSQLiteRecorder", "Checkpoint"]
