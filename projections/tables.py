"""The projection's Delta tables: where they live, how a batch is committed, maintenance.

Every commit carries a Delta application transaction (``txn`` action) whose app id names the
table's projection and whose version is the last notification id the rows include. Rows and
position are one atomic commit, so a crash leaves a table either before or after a batch, never
in between; a concurrent writer committing the same app id fails instead of doubling rows.
"""

from __future__ import annotations

import copy
import copyreg
import dataclasses
import io
import itertools
import pickle
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from ordertrail.domain.state import OrderState
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec
from ordertrail.projections import fold, positions
from ordertrail.projections.fold import Batch, FillRecord, Projection
from ordertrail.projections.schema import TABLES, TableSpec

APP_ID = "ordertrail.projections.{}"
SNAPSHOT = TableSpec(
    "_snapshot",
    pa.schema(
        [("notification_id", pa.int64()), ("part", pa.int64()), ("state", pa.large_binary())]
    ),
    append_only=False,
)
# Bumped whenever the fold's state changes shape: a snapshot of another format is ignored (the
# fold starts from the first event), never misread.
SNAPSHOT_FORMAT = 4
SNAPSHOT_ROW_BYTES = 4 << 20


def _restore(cls: type, names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    put = object.__setattr__
    for name, value in zip(names, values, strict=True):
        put(obj, name, value)
    return obj


def _slots_reducer(cls: type) -> Any:
    """A reducer for a slotted dataclass: its fields' values as one tuple. The dataclass's own
    ``__getstate__`` calls ``dataclasses.fields`` for every object, which was half the time of
    pickling a snapshot. Restoring sets the slots without ``__init__`` (no validation), as
    the dataclass's own ``__setstate__`` does; the names travel once (pickle's memo)."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    get = attrgetter(*names)
    if len(names) == 1:
        return lambda obj: (_restore, (cls, names, (get(obj),)))
    return lambda obj: (_restore, (cls, names, get(obj)))


_SNAPSHOT_CLASSES: tuple[type, ...] = (
    OrderState,
    OrderSpec,
    ContractRef,
    Execution,
    CommissionReport,
    fold.OrderExtra,
    fold.FillRecord,
    positions.Position,
    positions.PositionRun,
    positions.PositionFill,
    positions.FillEffect,
    positions.Lot,
    positions.Undo,
)
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH.update({cls: _slots_reducer(cls) for cls in _SNAPSHOT_CLASSES})


# Objects per pickled part. Each part has its own memo (``clear_memo``): one memo over the
# whole fold kept a reference to every object and to every reducer's tuple until the end, which
# doubled the peak memory of an update.
_PART = 2_000


def _chunks(items: Iterable[Any], size: int | None = None) -> Iterator[list[Any]]:
    size = max(1, size or _PART)
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


# The position's attributes that hold one entry per current fill: pickled in parts. The rest of
# a position (its run, checkpoints and undo log, which share ``Lot`` objects) is one part.
_PER_FILL = ("fills", "effects", "sort_keys", "commissions")
_BIG = frozenset({"orders", "extras", "fills", "positions", "changes"})


def _snapshot_parts(projection: Projection) -> Iterator[Any]:
    """The fold's state as a sequence of self-contained parts. Objects shared by reference stay
    in one part: an order's state, its extra and its fill records (which share the execution,
    contract and commission objects); a position's run, checkpoints and undo log (which share
    lots). Parts share only immutable values, so loading them gives an equal fold."""
    header = {k: v for k, v in projection.__dict__.items() if k not in _BIG}
    cores = {}
    for key, pos in projection.positions.items():
        core = copy.copy(pos)
        for name in _PER_FILL:
            object.__setattr__(core, name, type(getattr(pos, name))())
        cores[key] = core
    yield ("header", header, cores)
    del cores
    for key, pos in projection.positions.items():
        for name in _PER_FILL:
            values = getattr(pos, name)
            items = values if isinstance(values, list) else values.items()
            for chunk in _chunks(items):
                yield ("position", key, name, chunk)
    by_order: dict[UUID, list[FillRecord]] = {}
    for rec in projection.fills.values():
        by_order.setdefault(rec.order_id, []).append(rec)
    extras = projection.extras
    for chunk in _chunks(projection.orders.items(), _PART // 4):
        yield ("orders", [(oid, s, extras[oid], by_order.pop(oid, [])) for oid, s in chunk])
    # Records of a fill whose order is not in ``orders`` (not expected; kept, never dropped).
    for chunk in _chunks(r for recs in by_order.values() for r in recs):
        yield ("fills", chunk)


def dump_snapshot(projection: Projection) -> bytes:
    """Pickle the fold's state with the fast reducers (this pickler only: the classes' own
    pickling elsewhere is untouched), part by part (``_snapshot_parts``), then an end mark."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(SNAPSHOT_FORMAT)
    for part in _snapshot_parts(projection):
        pickler.dump(part)
        pickler.clear_memo()
    pickler.dump(("end", (projection.head, len(projection.orders), len(projection.fills))))
    return buf.getvalue()


def load_snapshot_state(blob: bytes) -> Projection | None:
    # The snapshot is written by this code into the projection's own folder; whoever can
    # write there can already rewrite every table.
    # One unpickler per part: each part was pickled with a fresh memo.
    stream = io.BytesIO(blob)
    try:
        if pickle.load(stream) != SNAPSHOT_FORMAT:
            return None
    except Exception:  # another format's pickle (a tuple, a Projection): start afresh
        return None
    projection = Projection()
    while True:
        part = pickle.load(stream)
        kind = part[0]
        if kind == "header":
            projection.__dict__.update(part[1])
            projection.positions = part[2]
        elif kind == "position":
            _, key, name, chunk = part
            values = getattr(projection.positions[key], name)
            if isinstance(values, list):
                values.extend(chunk)
            else:
                values.update(chunk)
        elif kind == "orders":
            for oid, state, extra, recs in part[1]:
                projection.orders[oid] = state
                projection.extras[oid] = extra
                for rec in recs:
                    projection.fills[rec.execution.base_id] = rec
        elif kind == "fills":
            for rec in part[1]:
                projection.fills[rec.execution.base_id] = rec
        elif kind == "end":
            if part[1] != (projection.head, len(projection.orders), len(projection.fills)):
                raise ValueError("snapshot parts do not add up")
            return projection
        else:
            raise ValueError(f"unknown snapshot part {kind!r}")


def _props(spec: TableSpec, version: int) -> CommitProperties:
    return CommitProperties(app_transactions=[Transaction(APP_ID.format(spec.name), version)])


class DeltaTables:
    """The tables under one root: a local folder or any URI deltalake supports."""

    def __init__(self, root: str | Path, storage_options: dict[str, str] | None = None) -> None:
        self.root = str(root).rstrip("/")
        self.storage_options = storage_options
        if "://" not in self.root:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def table(self, name: str) -> DeltaTable | None:
        uri = self.uri(name)
        if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
            return None
        return DeltaTable(uri, storage_options=self.storage_options)

    def committed(self, spec: TableSpec) -> int | None:
        """The last notification id committed to the table, or None when it does not exist."""
        dt = self.table(spec.name)
        if dt is None:
            return None
        version: int | None = dt.transaction_version(APP_ID.format(spec.name))
        return version if version is not None else 0

    def committed_all(self) -> dict[str, int | None]:
        return {t.name: self.committed(t) for t in TABLES}

    def write(self, spec: TableSpec, batch: Batch, version: int, *, overwrite: bool) -> None:
        """Commit one batch and the table's log position together."""
        props = _props(spec, version)
        data = batch.table
        dt = None if overwrite else self.table(spec.name)
        if dt is None:
            write_deltalake(
                self.uri(spec.name),
                data,
                mode="overwrite",
                schema_mode="overwrite",
                partition_by=list(spec.partition_by) or None,
                storage_options=self.storage_options,
                commit_properties=props,
            )
        elif not batch:
            # Nothing changed here, but the position must still move with the others.
            dt.create_write_transaction(
                actions=[],
                mode="append",
                schema=spec.schema,
                partition_by=list(spec.partition_by) or None,
                commit_properties=props,
            )
        elif spec.append_only:
            write_deltalake(dt, data, mode="append", commit_properties=props)
        else:
            self._merge(dt, spec, data, batch, props)

    @staticmethod
    def _merge(
        dt: DeltaTable, spec: TableSpec, data: pa.Table, batch: Batch, props: CommitProperties
    ) -> None:
        deleted = pa.array([False] * data.num_rows + [True] * len(batch.deletes), pa.bool_())
        if batch.deletes:
            gone = [dict(zip(spec.keys, key, strict=True)) for key in batch.deletes]
            data = pa.concat_tables([data, pa.Table.from_pylist(gone, schema=spec.schema)])
        source = data.append_column("_deleted", deleted)
        on = " AND ".join(f"t.{k} = s.{k}" for k in spec.keys)
        (
            dt.merge(
                source, predicate=on, source_alias="s", target_alias="t", commit_properties=props
            )
            .when_matched_delete(predicate="s._deleted")
            .when_matched_update_all(except_cols=["_deleted"])
            .when_not_matched_insert_all(predicate="NOT s._deleted", except_cols=["_deleted"])
            .execute()
        )

    # ---- the fold's snapshot: a cache, never the source of truth -----------------------------

    def load_snapshot(self) -> Projection | None:
        dt = self.table(SNAPSHOT.name)
        if dt is None:
            return None
        if "part" not in [f.name for f in dt.schema().fields]:  # format 2: one row, no part
            return None
        table = dt.to_pyarrow_table(columns=["part", "state"]).sort_by("part")
        parts = table.column("part").to_pylist()
        if not parts or parts != list(range(len(parts))):
            return None
        blob = b"".join(chunk.as_py() for chunk in table.column("state"))
        del table
        return load_snapshot_state(blob)

    def save_snapshot(self, projection: Projection) -> None:
        blob = dump_snapshot(projection)
        # In slices of a few MiB, one row each: a single cell of the whole blob cost the Parquet
        # writer several times its size.
        rows = [
            (projection.head, i, blob[start : start + SNAPSHOT_ROW_BYTES])
            for i, start in enumerate(range(0, len(blob), SNAPSHOT_ROW_BYTES))
        ]
        del blob
        self.write(
            SNAPSHOT,
            Batch.of(SNAPSHOT, rows),
            projection.head,
            overwrite=True,
        )

    # ---- maintenance -------------------------------------------------------------------------

    def compact(self) -> dict[str, Any]:
        """Merge small files (z-ordered where lookups benefit) and checkpoint the logs."""
        out: dict[str, Any] = {}
        for spec in TABLES:
            dt = self.table(spec.name)
            if dt is None:
                continue
            if spec.z_order:
                metrics = dt.optimize.z_order(list(spec.z_order))
            else:
                metrics = dt.optimize.compact()
            dt.create_checkpoint()
            out[spec.name] = {
                "files_added": metrics.get("numFilesAdded"),
                "files_removed": metrics.get("numFilesRemoved"),
            }
        return out

    def vacuum(self, retention_hours: int = 168, *, dry_run: bool = False) -> dict[str, int]:
        """Delete files no current version references, older than the retention."""
        out: dict[str, int] = {}
        for spec in (*TABLES, SNAPSHOT):
            dt = self.table(spec.name)
            if dt is None:
                continue
            removed = dt.vacuum(
                retention_hours=retention_hours,
                dry_run=dry_run,
                enforce_retention_duration=False,
            )
            out[spec.name] = len(removed)
        return out
