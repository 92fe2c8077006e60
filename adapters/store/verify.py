"""``ordertrail verify``'s walk: every order's hash chain, then the log against its checkpoint
(docs/adr/0025-tamper-evident-log.md).

Two passes over one consistent snapshot of the store. By order and version: a version missing
(deleted), an event whose stored bytes or topic no longer give its hash (edited), an event
holding another position's content (reordered), an event without a chain after chained ones
(inserted). In log order: the running hash up to the checkpoint (a deleted tail, or a change
no per-order check can place), events after the checkpoint (inserted), an order's events out
of version order in the log (reordered).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from ordertrail.adapters.store import chain
from ordertrail.adapters.store.chain import GENESIS
from ordertrail.adapters.store.config import StoreConfig, StoreUnavailable, opening
from ordertrail.adapters.store.recorders import HEAD_COLUMNS, HEAD_TABLE, Checkpoint

PAGE = 5000
SESSION_TOPICS = "ordertrail.domain.session:"
# (originator id, version, topic, state) by order, and (notification id, ...) in log order.
OrderRow = tuple[Any, int, str, bytes]
LogRow = tuple[int, Any, int, str, bytes]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # edited, deleted, inserted, reordered
    what: str
    order: UUID | None = None
    position: int | None = None
    # What the aggregate is: an order, or a client's session log of a day.
    aggregate: str = "order"

    def __str__(self) -> str:
        if self.order is None:
            return f"log: {self.kind}: {self.what}"
        return f"{self.aggregate} {self.order} position {self.position}: {self.kind}: {self.what}"


def aggregate_of(topic: str) -> str:
    """What kind of aggregate an event of ``topic`` belongs to, as a finding names it."""
    return "session log" if topic.startswith(SESSION_TOPICS) else "order"


@dataclass(slots=True)
class ChainReport:
    events: int = 0
    orders: int = 0
    session_logs: int = 0
    unchained: int = 0  # events written before the store had a chain, with nothing to check
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    def add(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)


@dataclass(slots=True)
class _Order:
    oid: UUID
    aggregate: str = "order"
    expected: int = 1
    chained: bool = False
    # The hash of the event written at each position, wherever it sits now: the previous hash
    # of the next position. Missing after a finding, so one tampered event is named once.
    written: dict[int, bytes] = field(default_factory=dict)


def _check_event(o: _Order, version: int, topic: str, state: bytes, report: ChainReport) -> None:
    if version > o.expected:
        gap = str(o.expected) if version == o.expected + 1 else f"{o.expected}-{version - 1}"
        report.add(Finding("deleted", f"position {gap} is missing", o.oid, o.expected, o.aggregate))
    prev = GENESIS if version == 1 else o.written.get(version - 1)
    sealed = chain.unseal(state)
    if sealed is None or sealed.digest is None:
        if o.chained:
            what = "no chain hash after chained events"
            report.add(Finding("inserted", what, o.oid, version, o.aggregate))
        else:
            report.unchained += 1
            if prev is not None:
                o.written[version] = chain.link_hash(prev, o.oid, version, topic, state)
    else:
        if sealed.written_as != version:
            what = f"holds the event written at position {sealed.written_as}"
            report.add(Finding("reordered", what, o.oid, version, o.aggregate))
        elif prev is not None and (
            chain.link_hash(prev, o.oid, version, topic, sealed.body) != sealed.digest
        ):
            what = "its stored state or topic changed after it was written"
            if not o.chained:
                what = "it, or an unchained event before it, changed after it was written"
            report.add(Finding("edited", what, o.oid, version, o.aggregate))
        o.chained = True
        o.written[sealed.written_as] = sealed.digest
    o.expected = version + 1


def check_orders(rows: Iterator[OrderRow], report: ChainReport) -> None:
    current: _Order | None = None
    for oid, version, topic, state in rows:
        uid = oid if isinstance(oid, UUID) else UUID(str(oid))
        if current is None or current.oid != uid:
            current = _Order(uid, aggregate_of(topic))
            if current.aggregate == "order":
                report.orders += 1
            else:
                report.session_logs += 1
        report.events += 1
        _check_event(current, version, topic, bytes(state), report)


def check_log(rows: Iterator[LogRow], checkpoint: Checkpoint | None, report: ChainReport) -> None:
    head = GENESIS
    last: tuple[int, UUID, int] | None = None
    seen: dict[UUID, int] = {}
    for nid, oid, version, topic, state in rows:
        uid = oid if isinstance(oid, UUID) else UUID(str(oid))
        kind = aggregate_of(topic)
        before = seen.get(uid)
        if before is not None and version < before:
            what = f"comes after position {before} in the log"
            report.add(Finding("reordered", what, uid, version, kind))
        seen[uid] = max(version, before or 0)
        last = (nid, uid, version)
        if checkpoint is None or nid < checkpoint.first_id:
            continue
        if nid > checkpoint.last_id:
            what = f"notification {nid} is after the checkpointed head ({checkpoint.last_id})"
            report.add(Finding("inserted", what, uid, version, kind))
            continue
        if chain.unseal(bytes(state)) is None:
            what = "no chain hash in the chained log"
            report.add(Finding("inserted", what, uid, version, kind))
        head = chain.advance(head, chain.stored_digest(uid, version, topic, bytes(state)))
    _check_head(head, last, checkpoint, report)


def _check_head(
    head: bytes, last: tuple[int, UUID, int] | None, cp: Checkpoint | None, report: ChainReport
) -> None:
    if cp is None:
        if report.events > report.unchained:
            report.add(Finding("deleted", "the log's checkpoint is missing"))
        return
    if last is None or last[0] < cp.last_id:
        end = "is empty" if last is None else f"ends at notification {last[0]}"
        what = f"cut from the end of the log: it {end}, its checkpoint at {cp.last_id}"
        report.add(Finding("deleted", what, cp.originator_id, cp.originator_version))
    elif head != cp.head and not report.findings:
        what = (
            f"the running hash of notifications {cp.first_id}-{cp.last_id} differs from its "
            "checkpoint: an event there was changed, removed or moved"
        )
        report.add(Finding("edited", what))


def verify(recorder: Any, store_url: str | None) -> ChainReport:
    """Walk the store behind ``recorder`` (the application's) and report what was tampered."""
    report = ChainReport()
    with _snapshot(recorder, store_url) as snap:
        report.checkpoint = snap.checkpoint()
        check_orders(snap.by_order(), report)
        check_log(snap.by_log(), report.checkpoint, report)
    return report


class _Snapshot:
    def __init__(self, cursor: Any, table: str, head_table: str, has_head: bool) -> None:
        self._cursor = cursor
        self._table = table
        self._head_table = head_table
        self._has_head = has_head

    def _rows(self, sql: str) -> Iterator[Any]:
        cur = self._cursor()
        cur.execute(sql)
        while rows := cur.fetchmany(PAGE):
            yield from rows

    def by_log(self) -> Iterator[LogRow]:
        raise NotImplementedError

    def by_order(self) -> Iterator[OrderRow]:
        return self._rows(
            f"SELECT originator_id, originator_version, topic, state FROM {self._table} "
            "ORDER BY originator_id, originator_version"
        )

    def checkpoint(self) -> Checkpoint | None:
        if not self._has_head:
            return None
        cur = self._cursor()
        cur.execute(f"SELECT {HEAD_COLUMNS} FROM {self._head_table}")
        row = cur.fetchone()
        if row is None:
            return None
        oid = row[2] if isinstance(row[2], UUID) else UUID(str(row[2]))
        return Checkpoint(row[0], row[1], oid, row[3], bytes(row[4]))


class _SQLiteSnapshot(_Snapshot):
    def by_log(self) -> Iterator[LogRow]:
        return self._rows(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self._table} "
            "ORDER BY rowid"
        )


class _PostgresSnapshot(_Snapshot):
    def by_log(self) -> Iterator[LogRow]:
        return self._rows(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {self._table} ORDER BY notification_id"
        )


@contextmanager
def _snapshot(recorder: Any, store_url: str | None) -> Iterator[_Snapshot]:
    if store_url is None:
        with _sqlite_snapshot(recorder) as snap:
            yield snap
    else:
        with _postgres_snapshot(recorder, store_url) as snap:
            yield snap


@contextmanager
def _sqlite_snapshot(recorder: Any) -> Iterator[_Snapshot]:
    path = Path(recorder.datastore.pool.db_name)
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        # One read transaction: both passes and the checkpoint see the same log (WAL).
        conn.execute("BEGIN")
        has_head = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (HEAD_TABLE,)
        ).fetchone()
        yield _SQLiteSnapshot(conn.cursor, recorder.events_table_name, HEAD_TABLE, bool(has_head))
    finally:
        conn.close()


@contextmanager
def _postgres_snapshot(recorder: Any, url: str) -> Iterator[_Snapshot]:
    import psycopg

    schema = recorder.datastore.schema or "public"
    table = f'"{schema}"."{recorder.events_table_name}"'
    head = f'"{schema}"."{HEAD_TABLE}"'
    with psycopg.connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            found = conn.execute("SELECT to_regclass(%s)", (head,)).fetchone()
            names = itertools.count()

            def cursor() -> Any:
                # Server-side cursors stream the log a page at a time.
                return conn.cursor(name=f"verify_{next(names)}")

            yield _PostgresSnapshot(cursor, table, head, bool(found and found[0]))


def verify_store(config: StoreConfig) -> ChainReport:
    """Open the configured event store (it must exist) and verify it."""
    from ordertrail.adapters.trail import OrderTrail

    if not config.is_postgres and not config.sqlite_path.exists():
        raise StoreUnavailable(f"no event store at {config.sqlite_path}")
    trail = OrderTrail(config)
    try:
        with opening(config):
            return verify(trail.recorder, config.store_url)
    finally:
        trail.close()


__all__ = [
    "ChainReport",
    "Finding",
    "aggregate_of",
    "check_log",
    "check_orders",
    "verify",
    "verify_store",
]
