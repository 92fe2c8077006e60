"""Raw access to a store's rows for the tamper suite: what someone with write access to the
database file or server could do behind ordertrail's back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import CommissionReported, ExecutionReport, StatusReport
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)
from tests.conftest import EPOCH, Clock

COIDS = ("OT-tamper-a", "OT-tamper-b")


def fill_store(config: StoreConfig, clock: Clock) -> dict[str, UUID]:
    """Two orders, each placed, submitted, partly then fully filled with commissions."""
    trail = OrderTrail(config, clock=clock)
    spec = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("50.25"))
    ids = {}
    try:
        for n, coid in enumerate(COIDS, start=1):
            oid = ids[coid] = trail.place(
                client_order_id=coid, contract=ContractRef(4391, "AMD"), spec=spec
            )
            trail.submit(oid, client_id=1, order_id=n)
            key = FactKey(order_ref=coid, perm_id=9000 + n)
            trail.record(
                key,
                StatusReport("Submitted", Decimal(0), Decimal(100), perm_id=key.perm_id),
            )
            for part in (1, 2):
                x = Execution(
                    f"0001f4e8.65f1a2b{n}.0{part}.01", EPOCH, "DU1", "ISLAND", Side.BOUGHT,
                    Decimal(50), Decimal("50.20"), perm_id=9000 + n, order_ref=coid,
                )  # fmt: skip
                trail.record(key, ExecutionReport(x))
                trail.record(
                    None, CommissionReported(CommissionReport(x.exec_id, Decimal("1.25"), "USD"))
                )
    finally:
        trail.close()
    return ids


@dataclass(frozen=True, slots=True)
class Row:
    nid: int
    version: int
    topic: str
    state: bytes


class RawStore:
    """The events table of a SQLite or PostgreSQL store, edited with plain SQL."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        pg = config.is_postgres
        self.table = "public.ordertrail_events" if pg else "stored_events"
        self.nid = "notification_id" if pg else "rowid"
        self.head = "public.ordertrail_chain_head" if pg else "ordertrail_chain_head"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.config.store_url:
            import psycopg

            with psycopg.connect(self.config.store_url) as conn, conn.cursor() as cur:
                yield _PgCursor(cur)
        else:
            conn = sqlite3.connect(self.config.sqlite_path)
            try:
                with conn:
                    yield conn.cursor()
            finally:
                conn.close()

    def _oid(self, oid: UUID) -> Any:
        return oid if self.config.is_postgres else oid.hex

    def rows(self, oid: UUID) -> list[Row]:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {self.nid}, originator_version, topic, state FROM {self.table} "
                "WHERE originator_id = ? ORDER BY originator_version",
                (self._oid(oid),),
            )
            return [Row(r[0], r[1], r[2], bytes(r[3])) for r in cur.fetchall()]

    def last(self) -> tuple[UUID, int]:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT originator_id, originator_version FROM {self.table} "
                f"ORDER BY {self.nid} DESC LIMIT 1"
            )
            oid, version = cur.fetchone()
            return (oid if isinstance(oid, UUID) else UUID(oid)), version

    def execute(self, sql: str, *params: Any) -> None:
        with self._cursor() as cur:
            cur.execute(sql.format(table=self.table, nid=self.nid, head=self.head), params)

    def set_state(self, oid: UUID, version: int, state: bytes) -> None:
        self.execute(
            "UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            state, self._oid(oid), version,
        )  # fmt: skip

    def set_topic(self, oid: UUID, version: int, topic: str) -> None:
        self.execute(
            "UPDATE {table} SET topic = ? WHERE originator_id = ? AND originator_version = ?",
            topic, self._oid(oid), version,
        )  # fmt: skip

    def delete(self, oid: UUID, version: int) -> None:
        self.execute(
            "DELETE FROM {table} WHERE originator_id = ? AND originator_version = ?",
            self._oid(oid), version,
        )  # fmt: skip

    def insert(self, oid: UUID, version: int, topic: str, state: bytes) -> None:
        self.execute(
            "INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            self._oid(oid), version, topic, state,
        )  # fmt: skip


class _PgCursor:
    """psycopg with the ``?`` placeholders the SQLite statements use."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Any = ()) -> None:
        self._cur.execute(sql.replace("?", "%s"), params)

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def fetchone(self) -> Any:
        return self._cur.fetchone()


__all__ = ["COIDS", "RawStore", "Row", "fill_store"]
