"""The audit queries as a Python API returning polars DataFrames, for notebooks and the CLI.

    from ordertrail.adapters.store.config import StoreConfig, opening
from ordertrail.adapters.store.eventlog import EventLog
    from ordertrail.projections.api import Audit

    audit = Audit(StoreConfig.resolve("ordertrail-data"))
    audit.positions(as_of="2024-03-01T15:30:00Z", clock="ib")

Every query first brings the tables up to the end of the event log (incrementally), unless the
``Audit`` was made with ``refresh=False`` (then it reads the tables as they are; ``refresh()``
updates on demand).

As-of semantics (docs/projections.md): the *recorded* clock answers "what did we know at T"
(everything recorded by T, nothing after); the *ib* clock answers "what had happened at T on
IB's clock, as we know it now" (events placed by IB's time, corrections included).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ordertrail.adapters.store.config import StoreConfig, opening
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.projections import asof, order_rows, snapshots, snapshots_ib, upkeep
from ordertrail.projections.brackets import Member, bracket_rows, oca_rows
from ordertrail.projections.filters import Filters
from ordertrail.projections.journal_fold import POSITION_KEYS
from ordertrail.projections.projector import Progress, Projector, UpdateResult
from ordertrail.projections.rollup_route import Answer, answer
from ordertrail.projections.schema import BY_NAME, TABLES
from ordertrail.projections.tables import DeltaTables


class Clock(enum.StrEnum):
    IB = "ib"
    RECORDED = "recorded"


TimeLike = datetime | str


def parse_time(value: TimeLike) -> datetime:
    """An ISO 8601 time; without an offset it is taken as UTC."""
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


_POSITION_KEYS = POSITION_KEYS
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Audit:
    def __init__(
        self,
        config: StoreConfig | str | Path | None = None,
        *,
        root: str | Path | None = None,
        storage_options: dict[str, str] | None = None,
        refresh: bool = True,
    ) -> None:
        # A path is a data directory, as ``--data`` is on the command line.
        self.config = config if isinstance(config, StoreConfig) else StoreConfig.resolve(config)
        self.tables = DeltaTables(root or self.config.delta_dir, storage_options)
        self.auto_refresh = refresh
        self._projector: Projector | None = None

    # ---- keeping up with the log -------------------------------------------------------------

    @property
    def projector(self) -> Projector:
        if self._projector is None:
            # The store is opened read-only, for reading: never the write-side application.
            log = EventLog.open(self.config)
            with opening(self.config):
                # A store that cannot be read (not a database, no permission) is named here,
                # in one line, before any table is touched.
                log.head()
            self._projector = Projector(log, self.tables)
        return self._projector

    def close(self) -> None:
        """Close the store's connections (a later query opens them again)."""
        if self._projector is not None:
            self._projector.log.close()
            self._projector = None

    def refresh(self, progress: Progress | None = None) -> UpdateResult:
        return self.projector.update(progress)

    def rebuild(self, progress: Progress | None = None) -> UpdateResult:
        return self.projector.rebuild(progress)

    def compact(self) -> dict[str, Any]:
        """Compact every table, then snapshot the positions for as-of queries."""
        out = upkeep.compact(self.tables)
        for kind in (snapshots, snapshots_ib):
            built = kind.build(self.tables)
            if built:
                out[kind.NAME] = built
        return out

    def vacuum(self, retention_hours: int = 168, *, dry_run: bool = False) -> dict[str, int]:
        out = upkeep.vacuum(self.tables, retention_hours, dry_run=dry_run)
        for kind in (snapshots, snapshots_ib):
            out.update(kind.vacuum(self.tables, retention_hours, dry_run=dry_run))
        return out

    def _fresh(self) -> None:
        if self.auto_refresh:
            self.refresh()

    # ---- tables ------------------------------------------------------------------------------

    def scan(self, name: str) -> pl.LazyFrame:
        """A table as a polars LazyFrame (empty, with its schema, before the first update)."""
        spec = BY_NAME[name]
        dt = self.tables.table(name)
        if dt is None:
            empty: pl.DataFrame = pl.from_arrow(spec.schema.empty_table())  # type: ignore[assignment]
            return empty.lazy()
        # The table already opened (its log read once): opening it again by its URI would
        # replay the log a second time.
        return pl.scan_delta(dt)

    def frames(self) -> dict[str, pl.LazyFrame]:
        return {t.name: self.scan(t.name) for t in TABLES}

    def sql(self, query: str) -> pl.DataFrame:
        """One read-only SELECT over the tables (``ReadOnlyViolation`` otherwise)."""
        return self.sql_answer(query).frame

    def sql_answer(self, query: str) -> Answer:
        """``sql``'s frame with the route that answered it: the rollup of ``fills`` when it
        answers the statement exactly (docs/api.md), otherwise the tables."""
        from ordertrail.projections.sql import check_read_only

        check_read_only(query)
        self._fresh()
        return answer(self.tables, query, self.scan)

    # ---- queries -----------------------------------------------------------------------------

    def orders(
        self,
        *,
        as_of: TimeLike | None = None,
        clock: Clock | str = Clock.RECORDED,
        account: str | None = None,
    ) -> pl.DataFrame:
        """Every order. As of a time: status and filled quantity after the last event at or
        before it (terms are the current ones); orders created after it are left out."""
        self._fresh()
        orders = self.scan("orders")
        if account is not None:
            orders = orders.filter(pl.col("account") == account)
        if as_of is None:
            return orders.sort("created_recorded", "order_key").collect()
        t, ck = parse_time(as_of), Clock(clock)
        last = (
            self.scan("events")
            .filter(order_rows.event_clock(ck is Clock.IB) <= t)
            .sort("notification_id")
            .group_by("order_id")
            .agg(
                pl.col("status").last().alias("status_as_of"),
                pl.col("filled").last().alias("filled_as_of"),
                pl.col("event_type").last().alias("last_event"),
                pl.col("notification_id").last().alias("as_of_notification_id"),
            )
        )
        return (
            orders.join(last, on="order_id", how="inner")
            .with_columns(
                pl.col("status_as_of").alias("status"), pl.col("filled_as_of").alias("filled")
            )
            .drop("status_as_of", "filled_as_of")
            .sort("created_recorded", "order_key")
            .collect()
        )

    def fills(
        self,
        *,
        as_of: TimeLike | None = None,
        clock: Clock | str = Clock.RECORDED,
        account: str | None = None,
    ) -> pl.DataFrame:
        """The fill journal: one row per current execution (busted ones gone, corrected ones
        replaced). As of a time: the fills done (IB clock) or first recorded by then."""
        self._fresh()
        fills = self.scan("fills")
        if account is not None:
            fills = fills.filter(pl.col("account") == account)
        if as_of is not None:
            t = parse_time(as_of)
            col = "ts_ib" if Clock(clock) is Clock.IB else "first_recorded"
            fills = fills.filter(pl.col(col) <= t)
        return fills.sort("ts_ib", "exec_base_id").collect()

    def positions(
        self,
        *,
        as_of: TimeLike | None = None,
        clock: Clock | str = Clock.RECORDED,
        account: str | None = None,
        origin: str | Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Positions per account, conId and origin. As of a time on the recorded clock: the
        position history's last row recorded by then. On IB's clock: the current fills executed
        by then, folded in execution order (the fill journal carries the position after each).
        Dry runs are left out unless ``origin`` names them (or is ``"all"``)."""
        self._fresh()
        if as_of is None:
            frame = self.scan("positions")
        elif Clock(clock) is Clock.RECORDED:
            frame = asof.positions_recorded(self.tables, self.scan, parse_time(as_of))
        else:
            frame = asof.positions_ib(self.tables, self.scan, parse_time(as_of))
        if account is not None:
            frame = frame.filter(pl.col("account") == account)
        return Filters.build(origin=origin).match(frame).sort(_POSITION_KEYS).collect()

    def position_history(
        self,
        *,
        account: str | None = None,
        con_id: int | None = None,
        origin: str | Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Every change of every position, in log order (dry runs left out unless asked)."""
        self._fresh()
        frame = Filters.build(origin=origin).match(self.scan("position_history"))
        if account is not None:
            frame = frame.filter(pl.col("account") == account)
        if con_id is not None:
            frame = frame.filter(pl.col("con_id") == con_id)
        return frame.sort("notification_id").collect()

    def brackets(
        self,
        *,
        as_of: TimeLike | None = None,
        clock: Clock | str = Clock.RECORDED,
        account: str | None = None,
    ) -> pl.DataFrame:
        """Brackets and OCA groups, one row per member. As of a time, groups are recomputed
        from the orders as of then."""
        if as_of is None:
            self._fresh()
            frame = self.scan("brackets")
            if account is not None:
                mine = self.scan("orders").filter(pl.col("account") == account)
                frame = frame.join(mine.select("order_key"), on="order_key", how="semi")
            return frame.sort("group_kind", "group_key", "role", "order_key").collect()
        t, ck = parse_time(as_of), Clock(clock)
        orders = self.orders(as_of=t, clock=ck, account=account)
        fill_col = "first_fill_ib" if ck is Clock.IB else "first_fill_recorded"
        members: dict[str, Member] = {}
        parents: dict[str, list[str]] = {}
        ocas: dict[str, list[str]] = {}
        for row in orders.iter_rows(named=True):
            first = row["first_fill_ib"] or row["first_fill_recorded"]
            seen = row[fill_col] or row["first_fill_recorded"]
            members[row["order_key"]] = Member(
                row["order_key"],
                OrderStatus(row["status"]),
                row["quantity"],
                row["filled"],
                row["oca_type"],
                (first, 0) if first is not None and seen is not None and seen <= t else None,
            )
            if row["parent_key"]:
                parents.setdefault(row["parent_key"], []).append(row["order_key"])
            if row["oca_group"]:
                ocas.setdefault(f"{row['account']}/{row['oca_group']}", []).append(row["order_key"])
        rows: list[dict[str, Any]] = []
        for key, kids in sorted(parents.items()):
            rows += bracket_rows(key, members.get(key), [members[k] for k in kids])
        for key, keys in sorted(ocas.items()):
            rows += oca_rows(key, [members[k] for k in keys])
        return (
            pl.from_dicts(rows, schema=pl.Schema(BY_NAME["brackets"].schema))
            if rows
            else (self.scan("brackets").clear().collect())
        )

    # ---- with the CLI's filters ----------------------------------------------------------------

    def view(
        self,
        name: str,
        *,
        as_of: TimeLike | None = None,
        clock: Clock | str = Clock.RECORDED,
        since: TimeLike | date | None = None,
        until: TimeLike | date | None = None,
        symbol: str | Sequence[str] | None = None,
        account: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        origin: str | Sequence[str] | None = None,
        tz: str | None = None,
    ) -> pl.DataFrame:
        """orders, fills, positions, brackets or errors, filtered as the CLI filters them
        (docs/api.md): a date means the whole local day in ``tz`` (default: this machine's)."""
        from ordertrail.projections.views import view

        chosen = Filters.build(since=since, until=until, symbol=symbol, account=account,
                               status=status, origin=origin, tz=tz)  # fmt: skip
        return view(self, name, chosen, as_of=None if as_of is None else parse_time(as_of),
                    clock=clock)  # fmt: skip

    def errors(self, **filters: Any) -> pl.DataFrame:
        """Every IB error, anomaly and refusal, with its order (``view`` filters apply)."""
        return self.view("errors", **filters)

    # ---- one order ---------------------------------------------------------------------------

    def find_orders(self, order: str) -> pl.DataFrame:
        """Orders named by client order id, orderRef, permId or order key."""
        return self._orders_named(order).select("order_id", "order_key").collect()

    def _orders_named(self, order: str) -> pl.LazyFrame:
        self._fresh()
        cond = (
            (pl.col("client_order_id") == order)
            | (pl.col("order_ref") == order)
            | (pl.col("order_key") == order)
        )
        # Only the columns the name can be in: order ids are uuid5 hashes and spread over
        # every file, so asking each file for one makes the scan read them all, where the
        # key-sorted columns let it skip all but one (ADR 0065).
        if _UUID.fullmatch(order):
            cond = cond | (pl.col("order_id") == order)
        if order.strip().isdigit():
            cond = cond | (pl.col("perm_id") == int(order))
        return self.scan("orders").filter(cond)

    def _found(self, order: str) -> pl.DataFrame:
        found = (
            self._orders_named(order)
            .select("order_id", "created_recorded", "updated_recorded", "events")
            .collect()
        )
        if found.is_empty():
            raise LookupError(f"no order named {order!r} (client order id, orderRef or permId)")
        return found

    def _events_of(self, found: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        """Every row of ``events`` of the ``found`` orders, in log order. The days the orders
        lived bound the ``day`` partitions read; when they do not hold every event the orders
        table counts (a clock stepped back, tables mid-update), every day is read."""
        events = self.scan("events").filter(pl.col("order_id").is_in(found["order_id"].to_list()))
        lo, hi = found["created_recorded"].min(), found["updated_recorded"].max()
        if isinstance(lo, datetime) and isinstance(hi, datetime):
            near = events.filter(pl.col("day").is_between(lo.date(), hi.date()))
            rows = near.select(columns).sort("notification_id").collect()
            if rows.height == found["events"].sum():
                return rows
        return events.select(columns).sort("notification_id").collect()

    def timeline(self, order: str) -> pl.DataFrame:
        """Every event of the order(s), in log order, with both clocks."""
        columns = ["notification_id", "order_key", "version", "event_type", "ts_event",
                   "ts_recorded", "status", "filled", "summary", "payload"]  # fmt: skip
        return (
            self._events_of(self._found(order), columns)
            .with_columns(order_rows.provenance().alias("source"))
            .drop("payload")
        )

    def order_as_of(
        self, order: str, at: TimeLike, clock: Clock | str = Clock.RECORDED
    ) -> OrderState | None:
        """What the order looked like at ``at``: its events up to then, folded by the domain's
        own apply functions. None when the order did not exist yet."""
        found = self._orders_named(order).collect()
        if found.height != 1:
            raise LookupError(
                f"{order!r} names {found.height} orders; use the client order id or the permId"
            )
        t = parse_time(at)
        columns = ["notification_id", "order_id", "version", "event_type", "payload",
                   "ts_event", "ts_recorded"]  # fmt: skip
        rows = (
            self._events_of(found, columns)
            .filter(order_rows.event_clock(Clock(clock) is Clock.IB) <= t)
            .select("order_id", "version", "event_type", "payload")
        )
        return order_rows.fold(rows.iter_rows(named=True))
