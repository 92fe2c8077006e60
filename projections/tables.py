"""The projection's Delta tables: where they live, how a batch is committed, maintenance.

Every commit carries Delta application transactions (``txn`` actions) for its table: the last
notification id the rows include (``APP_ID``), and which log they came from: a fingerprint of
the store's first event (``STORE_ID``) and of the event at that notification id (``HEAD_ID``).
Rows and position are one atomic commit, so a crash leaves a table either before or after a
batch, never in between. A commit is made against the exact table version its position was
read from, with no retry: a concurrent writer's commit makes it fail (``CommitFailedError``)
instead of landing the same rows twice. A rebuild replaces each local table in one commit of
files it wrote itself (``rewrite``, ``table_files.py``; ADR 0109).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import (
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from ordertrail.projections.merge_bounds import key_bounds
from ordertrail.projections.rows import Batch
from ordertrail.projections.schema import TABLES, TableSpec
from ordertrail.projections.table_files import (
    APPEND_FILE_BYTES,
    TableFiles,
    by_key,
    delete_files,
    in_key_order,
    write_files,
)

APP_ID = "ordertrail.projections.{}"
STORE_ID = "ordertrail.projections.{}.store"
HEAD_ID = "ordertrail.projections.{}.head"
# Set by every commit that replaces a table's rows (a rebuild), to a value no other such commit
# has: rows derived from the table (``snapshots.py``) are valid only under the same value.
WRITTEN_ID = "ordertrail.projections.{}.written"
# The folder of the pickled fold snapshot earlier versions kept; deleted on sight (nothing in
# a data directory may execute code when it is read).
LEGACY_SNAPSHOT = "_snapshot"
# The keyed tables are written sorted by their key in files of about this size: a merge then
# rewrites only the few files whose key range holds the rows it changes (Delta rewrites whole
# files), not the whole table, so an update costs what it changes.
KEYED_FILE_BYTES = 8 << 20
# Every reader replays the Delta log from its last checkpoint: with deltalake's default of one
# checkpoint per 100 commits, a table a rebuild appended to in hundreds of batches cost 70–130
# ms to open before a query could start (1,000,000 fills); a checkpoint every 10 commits keeps
# that near 10 ms for what a checkpoint costs to write (ADR 0065).
CHECKPOINT_INTERVAL = 10
TABLE_PROPERTIES = {"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)}
# Rows per Parquet row group in the tables looked up by one key: a file's row groups carry
# their own min/max, so a lookup reads one small group instead of the whole file (the writer's
# default is one group per file here). An order is looked up in ``orders`` by its key, its
# events in ``events`` by order id once compaction has z-ordered each day by it (ADR 0065).
LOOKUP_ROW_GROUPS = {"orders": 4096, "events": 8192}


def writer_properties(spec: TableSpec, compression: str) -> WriterProperties | None:
    rows = LOOKUP_ROW_GROUPS.get(spec.name)
    if rows is None:
        return None
    return WriterProperties(max_row_group_size=rows, compression=compression)  # type: ignore[arg-type]


def layout(spec: TableSpec) -> dict[str, Any]:
    """How a table's files are laid out when it is (over)written: its partitions and, for a
    keyed table, the file size its sorted rows are cut into."""
    return {
        "partition_by": list(spec.partition_by) or None,
        "target_file_size": None if spec.append_only else KEYED_FILE_BYTES,
        "configuration": TABLE_PROPERTIES,
        "writer_properties": writer_properties(spec, "SNAPPY"),
    }


def _stream(spec: TableSpec, parts: Sequence[pa.Table]) -> pa.RecordBatchReader:
    """Parts handed to deltalake as one stream: one commit, no table concatenated first."""
    return pa.RecordBatchReader.from_batches(
        spec.schema, (batch for part in parts for batch in part.to_batches())
    )


@dataclass(frozen=True, slots=True)
class Source:
    """Where a table's rows come from: the store (its first event's fingerprint) and the log
    head they include (the notification id and that event's fingerprint)."""

    store: int
    position: int
    head: int


def unfinished(position: int) -> Source:
    """The source a rebuild gives a table's commits before its last: it names no store, so an
    update that finds it (the rebuild stopped between two commits) rebuilds every table."""
    return Source(0, position, 0)


@dataclass(frozen=True, slots=True)
class TableState:
    """One table as read at one version: the next commit is made against exactly that."""

    spec: TableSpec
    table: DeltaTable | None
    source: Source | None  # None: the table does not exist

    @property
    def position(self) -> int | None:
        return None if self.source is None else self.source.position

    @property
    def current_schema(self) -> bool:
        """Whether the table has this code's columns (a table an older version wrote may not)."""
        if self.table is None:
            return True
        names = [f.name for f in self.table.schema().fields]
        return names == list(self.spec.schema.names)


def commit_properties(
    spec: TableSpec, source: Source, *, overwrite: bool = False
) -> CommitProperties:
    name = spec.name
    marks = [
        Transaction(APP_ID.format(name), source.position),
        Transaction(STORE_ID.format(name), source.store),
        Transaction(HEAD_ID.format(name), source.head),
    ]
    if overwrite:
        marks.append(Transaction(WRITTEN_ID.format(name), time.time_ns()))
    return CommitProperties(max_commit_retries=0, app_transactions=marks)


def state_version(state: TableState) -> int:
    assert state.table is not None
    version: int = state.table.version()
    return version


class DeltaTables:
    """The tables under one root: a local folder or any URI deltalake supports."""

    def __init__(self, root: str | Path, storage_options: dict[str, str] | None = None) -> None:
        self.root = str(root).rstrip("/")
        self.storage_options = storage_options
        if "://" not in self.root:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _open(self, name: str, version: int | None = None) -> DeltaTable | None:
        # Opened directly, not after ``DeltaTable.is_deltatable``: that check lists the whole
        # log folder (every commit a rebuild appended), which cost more than opening the
        # table from its checkpoint, on every query.
        try:
            return DeltaTable(self.uri(name), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def table(self, name: str) -> DeltaTable | None:
        return self._open(name)

    def state(self, spec: TableSpec, version: int | None = None) -> TableState:
        dt = self._open(spec.name, version)
        if dt is None:
            return TableState(spec, None, None)
        name = spec.name
        position = dt.transaction_version(APP_ID.format(name))
        store = dt.transaction_version(STORE_ID.format(name))
        head = dt.transaction_version(HEAD_ID.format(name))
        return TableState(spec, dt, Source(store or 0, position or 0, head or 0))

    def states(self) -> dict[str, TableState]:
        return {t.name: self.state(t) for t in TABLES}

    def committed(self, spec: TableSpec) -> int | None:
        """The last notification id committed to the table, or None when it does not exist."""
        return self.state(spec).position

    def committed_all(self) -> dict[str, int | None]:
        return {t.name: self.committed(t) for t in TABLES}

    def write(
        self, state: TableState, batch: Batch, source: Source, *, overwrite: bool
    ) -> TableState:
        """Commit one batch and the table's source together, against the version ``state``
        was read at; returns the table as of this commit."""
        spec = state.spec
        props = commit_properties(spec, source, overwrite=overwrite or state.table is None)
        data = by_key(spec, batch.table)
        dt = state.table
        if dt is None:
            # A table that did not exist: if another process creates it first, this overwrites
            # its version with the same rows from the first event, and that process's next
            # commit fails.
            write_deltalake(
                self.uri(spec.name),
                data,
                mode="overwrite",
                schema_mode="overwrite",
                storage_options=self.storage_options,
                commit_properties=props,
                **layout(spec),
            )
            return self.state(spec)
        base = state_version(state)
        if overwrite:
            write_deltalake(
                dt,
                data,
                mode="overwrite",
                schema_mode="overwrite",
                commit_properties=props,
                **layout(spec),
            )
        elif spec.append_only and batch:
            write_deltalake(dt, data, mode="append", commit_properties=props)
        elif not batch or not self._merge(dt, spec, data, batch, props):
            # Nothing changed here (a merge that changes nothing commits nothing), but the
            # position must still move with the others.
            dt.create_write_transaction(
                actions=[],
                mode="append",
                schema=spec.schema,
                partition_by=list(spec.partition_by) or None,
                commit_properties=props,
            )
        return self._committed(state, base, source)

    @property
    def local(self) -> bool:
        return "://" not in self.root

    def new_files(self, spec: TableSpec) -> TableFiles:
        """New files for a table in a local folder (``table_files.py``). A keyed table's chunk
        is a range of keys: one file each, as its commits made them before (an update's merge
        rewrites the files its keys fall in; deltalake's 8 MiB target, counted before
        compression, made files of 1.5-3 MiB on disk)."""
        size = APPEND_FILE_BYTES if spec.append_only else 0
        folder = Path(self.uri(spec.name))
        return TableFiles(folder, spec, size, LOOKUP_ROW_GROUPS.get(spec.name))

    def rewrite(self, state: TableState, chunks: Iterable[pa.Table], source: Source) -> TableState:
        """Replace every row with the rows of ``chunks`` (in the order the table keeps them:
        key order for a keyed table) and move the table's source, in one commit against the
        version ``state`` was read at, creating the table if it does not exist. The files are
        written first, one at a time, then the commit names them all (``commit_files``): a
        process stopped before it leaves the table as it was. Local tables only."""
        added = write_files(self.new_files(state.spec), in_key_order(state.spec, chunks))
        return self.commit_files(state, added, source)

    def commit_files(self, state: TableState, added: list[AddAction], source: Source) -> TableState:
        """One commit that replaces every file of the table with the files ``added`` (written
        by ``new_files``) and moves its source, against the version ``state`` was read at,
        creating the table if it does not exist; if the commit loses a race, the files are
        deleted. Local tables only (ADR 0109)."""
        spec = state.spec
        props = commit_properties(spec, source, overwrite=True)
        partitions = list(spec.partition_by) or None
        dt = state.table
        try:
            if dt is None:
                create_table_with_add_actions(
                    self.uri(spec.name), DeltaSchema.from_arrow(spec.schema), added,
                    mode="overwrite", partition_by=partitions, configuration=TABLE_PROPERTIES,
                    commit_properties=props,
                )  # fmt: skip
                return self.state(spec)
            base = state_version(state)
            dt.create_write_transaction(
                list[AddAction | RemoveAction](added),
                "overwrite",
                spec.schema,
                partition_by=partitions,
                commit_properties=props,
            )
        except CommitFailedError:
            delete_files(Path(self.uri(spec.name)), added)
            raise
        return self._committed(state, base, source)

    def replace(self, state: TableState, parts: Sequence[pa.Table], source: Source) -> TableState:
        """Replace every row with ``parts``' rows and move the table's source, in one commit
        against the version ``state`` was read at. A keyed table's rows in several parts come
        in key order already (a rebuild's ranges of keys); one part is sorted here."""
        spec = state.spec
        dt = state.table
        base = None if dt is None else state_version(state)
        if len(parts) == 1:
            parts = [by_key(spec, parts[0])]
        write_deltalake(
            self.uri(spec.name) if dt is None else dt,
            _stream(spec, parts),
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=self.storage_options if dt is None else None,
            commit_properties=commit_properties(spec, source, overwrite=True),
            **layout(spec),
        )
        return self.state(spec) if base is None else self._committed(state, base, source)

    def append(self, state: TableState, parts: Sequence[pa.Table], source: Source) -> TableState:
        """Append ``parts``' rows and move the table's source, in one commit against the
        version ``state`` was read at (a rebuild's later parts)."""
        base = state_version(state)
        assert state.table is not None
        options = layout(state.spec)
        write_deltalake(
            state.table,
            _stream(state.spec, parts),
            mode="append",
            commit_properties=commit_properties(state.spec, source),
            target_file_size=options["target_file_size"],
            writer_properties=options["writer_properties"],
        )
        return self._committed(state, base, source)

    def _committed(self, state: TableState, base: int, source: Source) -> TableState:
        """The table as of the commit just made on ``state.table``, which deltalake moves to
        the version it committed. Opening the table again instead (its log from the last
        checkpoint, then three transaction lookups) cost 2-11 ms a commit."""
        dt = state.table
        assert dt is not None
        if dt.version() != base + 1:
            # A deltalake release that leaves the object where it was: read the table as of
            # the commit.
            return self.state(state.spec, base + 1)
        return TableState(state.spec, dt, source)

    @staticmethod
    def _merge(
        dt: DeltaTable, spec: TableSpec, data: pa.Table, batch: Batch, props: CommitProperties
    ) -> bool:
        """Upsert and delete by key; whether it committed anything."""
        deleted = pa.array([False] * data.num_rows + [True] * len(batch.deletes), pa.bool_())
        if batch.deletes:
            gone = [dict(zip(spec.keys, key, strict=True)) for key in batch.deletes]
            data = pa.concat_tables([data, pa.Table.from_pylist(gone, schema=spec.schema)])
        source = data.append_column("_deleted", deleted)
        on = " AND ".join([*(f"t.{k} = s.{k}" for k in spec.keys), *key_bounds(data, spec.keys)])
        metrics = (
            dt.merge(
                source, predicate=on, source_alias="s", target_alias="t", commit_properties=props
            )
            .when_matched_delete(predicate="s._deleted")
            .when_matched_update_all(except_cols=["_deleted"])
            .when_not_matched_insert_all(predicate="NOT s._deleted", except_cols=["_deleted"])
            .execute()
        )
        return bool(
            metrics.get("num_target_files_added") or metrics.get("num_target_files_removed")
        )

    def drop_legacy_snapshot(self) -> None:
        """Earlier versions kept a pickled snapshot of the fold here: remove it unread."""
        if "://" in self.root:
            return
        import shutil

        shutil.rmtree(Path(self.root) / LEGACY_SNAPSHOT, ignore_errors=True)
