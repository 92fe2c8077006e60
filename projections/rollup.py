"""A rollup of ``fills`` that follows the Delta table: counts and sums per combination of the
columns fills are grouped by, so that an aggregate over every fill reads tens of thousands of
rows instead of millions (ADR 0119).

The rollup is derived data, kept beside the tables as one Parquet file
(``fills_rollup/rollup.parquet``; not a projection table, not visible to SQL). Its footer names
the ``fills`` version it reflects, the table's id and the mark of the commit that last replaced
the table's rows (``tables.WRITTEN_ID``). It is brought up to a later version from the Delta
log alone: each commit's ``add`` and ``remove`` actions since then, a removed file's rows
subtracted and an added file's rows added (the removed files are still on disk until
``vacuum``). Actions with ``dataChange: false`` (compaction, z-ordering) move rows between
files without changing them and are skipped. So bringing it up to date costs the files that
changed, never the history. It is rebuilt from the table instead when the table was replaced
(a rebuild), recreated, its schema changed, a commit or a removed file is gone, or the files
to read would outweigh the table itself.

A rollup row holds, per measure column, the sum of its non-null values (NULL when there is
none) and how many there are, and the number of fills: exactly what ``count(*)``,
``count(col)`` and ``sum(col)`` over the fills of a group need, with SQL's NULL semantics.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable

from ordertrail.projections.schema import FILLS
from ordertrail.projections.tables import WRITTEN_ID, DeltaTables

FOLDER = "fills_rollup"
FILE = "rollup.parquet"
# The columns fills are grouped by whose combinations stay few: one per position and side
# (con_id fixes symbol, sec_type and currency; an account fixes its commission currency).
# Not ``exchange`` (a stock's fills spread over a dozen venues) nor any time.
DIMENSIONS = (
    "account", "con_id", "symbol", "sec_type", "currency", "side", "origin",
    "commission_currency",
)  # fmt: skip
MEASURES = (
    "quantity", "commission", "ib_realized_pnl", "realized_pnl", "realized_pnl_avg",
    "slippage_vs_limit", "slippage_vs_reference",
)  # fmt: skip
# The type of every money and quantity column, and so of their sums (ADR 0081).
FILLS_DTYPE = pl.Decimal(38, 10)
# Every internal column starts with this; a statement that names one is not rewritten.
PREFIX = "_rollup_"
# Caught up from the log while the files to read weigh less than this share of the table;
# beyond it (an overwrite, a rewrite of most files) rebuilding reads less.
CATCH_UP_LIMIT = 1.0
ROWS = f"{PREFIX}rows"
_META_KEY = "ordertrail.rollup"
# Bump when the file's layout or meaning changes: a file of another format is rebuilt.
FORMAT = 1


def sum_column(measure: str) -> str:
    return f"{PREFIX}sum_{measure}"


def count_column(measure: str) -> str:
    return f"{PREFIX}n_{measure}"


@dataclass(frozen=True, slots=True)
class Mark:
    """Which ``fills`` the rollup reflects."""

    table_id: str
    version: int
    written: int | None

    def as_json(self) -> str:
        return json.dumps(
            {"format": FORMAT, "dimensions": DIMENSIONS, "measures": MEASURES,
             "table_id": self.table_id, "version": self.version, "written": self.written}
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rollup:
    frame: pl.DataFrame
    mark: Mark
    # How it was brought to ``mark``: "current", "caught up", "built".
    how: str
    files_read: int = 0


def _mark_of(dt: DeltaTable) -> Mark:
    written = dt.transaction_version(WRITTEN_ID.format(FILLS.name))
    return Mark(str(dt.metadata().id), dt.version(), written)


def followable(tables: DeltaTables, dt: DeltaTable) -> str | None:
    """Why the rollup cannot follow this ``fills`` table (None when it can)."""
    if not tables.local:
        return "the tables are not in a local folder"
    meta = dt.metadata()
    if meta.partition_columns:
        return "fills is partitioned"
    if meta.configuration.get("delta.columnMapping.mode", "none") != "none":
        return "fills uses column mapping"
    schema = pa.schema(dt.schema().to_arrow())
    for name in (*DIMENSIONS, *MEASURES):
        if name not in schema.names or schema.field(name).type != FILLS.schema.field(name).type:
            return f"fills has no column {name} of this version's type"
    return None


# ---- the file --------------------------------------------------------------------------------


def path(tables: DeltaTables) -> Path:
    return Path(tables.root) / FOLDER / FILE


def _empty() -> pl.DataFrame:
    return _aggregate(pl.LazyFrame(schema=_input_schema())).collect()


def _input_schema() -> pl.Schema:
    arrow = pa.schema([FILLS.schema.field(n) for n in (*DIMENSIONS, *MEASURES)])
    return pl.Schema(pl.from_arrow(arrow.empty_table()).schema)  # type: ignore[union-attr]


def load(tables: DeltaTables) -> tuple[pl.DataFrame, Mark] | None:
    """The rollup on disk and its mark; None when there is none of this format."""
    where = path(tables)
    try:
        saved = json.loads(pl.read_parquet_metadata(where)[_META_KEY])
    except (FileNotFoundError, KeyError, ValueError, OSError, pl.exceptions.PolarsError):
        return None
    same = (saved.get("format"), saved.get("dimensions"), saved.get("measures")) == (
        FORMAT,
        list(DIMENSIONS),
        list(MEASURES),
    )
    if not same:
        return None
    frame = pl.read_parquet(where)
    if frame.schema != _empty().schema:
        return None
    return frame, Mark(str(saved["table_id"]), int(saved["version"]), saved.get("written"))


def save(tables: DeltaTables, frame: pl.DataFrame, mark: Mark) -> None:
    """Write the rollup and its mark in one file, replaced atomically: a reader sees the old
    file or the new one, and two processes catching up at once each leave a correct one."""
    where = path(tables)
    where.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=".rollup-", suffix=".parquet")
    os.close(fd)
    try:
        # Read whole every time: no statistics to skip by, and compression costs more than
        # it saves at this size (48,000 rows, 0.6 MB).
        meta = {_META_KEY: mark.as_json()}
        frame.write_parquet(tmp, compression="uncompressed", statistics=False, metadata=meta)
        os.replace(tmp, where)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- aggregating ------------------------------------------------------------------------------


def _aggregate(frame: pl.LazyFrame, sign: int = 1) -> pl.LazyFrame:
    out = frame.group_by(DIMENSIONS).agg(
        (pl.len().cast(pl.Int64) * sign).alias(ROWS),
        *[(pl.col(m).sum() * sign).alias(sum_column(m)) for m in MEASURES],
        *[(pl.col(m).count().cast(pl.Int64) * sign).alias(count_column(m)) for m in MEASURES],
    )
    return out.with_columns(pl.col(sum_column(m)).cast(FILLS_DTYPE) for m in MEASURES)


def _combine(parts: list[pl.LazyFrame]) -> pl.DataFrame:
    """Parts added together per group; groups left with no fill dropped, and a sum with no
    non-null value NULL (as ``sum`` over only NULLs is)."""
    summed = pl.concat(parts).group_by(DIMENSIONS).agg(pl.exclude(DIMENSIONS).sum())
    return (
        summed.filter(pl.col(ROWS) > 0)
        .with_columns(
            pl.when(pl.col(count_column(m)) > 0)
            .then(pl.col(sum_column(m)))
            .cast(FILLS_DTYPE)
            .alias(sum_column(m))
            for m in MEASURES
        )
        .select(_empty().columns)
        .collect()
    )


def _files(paths: list[str]) -> pl.LazyFrame:
    return pl.scan_parquet(paths).select(*DIMENSIONS, *MEASURES)


def build(dt: DeltaTable) -> pl.DataFrame:
    """The rollup of the table as ``dt`` reads it."""
    return _combine([_aggregate(pl.scan_delta(dt).select(*DIMENSIONS, *MEASURES))])


# ---- the Delta log -----------------------------------------------------------------------------


@dataclass(slots=True)
class Changes:
    added: dict[str, int]  # file → size in bytes
    removed: dict[str, int]
    # Why the log cannot be followed (a rebuild is needed), or None.
    stop: str | None = None


def _file_path(root: Path, entry: str) -> str:
    if "://" in entry:
        return unquote(urlparse(entry).path)
    return str(root / unquote(entry))


def _commits(root: Path, after: int, through: int) -> Iterator[list[dict[str, Any]] | None]:
    log = root / "_delta_log"
    for version in range(after + 1, through + 1):
        try:
            text = (log / f"{version:020d}.json").read_text()
        except FileNotFoundError:
            yield None  # cleaned up after a checkpoint
            continue
        yield [json.loads(line) for line in text.splitlines() if line.strip()]


def _apply(changes: Changes, root: Path, action: dict[str, Any]) -> None:
    if "metaData" in action or "protocol" in action:
        changes.stop = "fills' schema or protocol changed"
        return
    kind = "add" if "add" in action else "remove" if "remove" in action else None
    if kind is None:
        return
    body = action[kind]
    if body.get("deletionVector"):
        changes.stop = "fills has deletion vectors"
        return
    if not body.get("dataChange", True):
        return
    file = _file_path(root, body["path"])
    size = int(body.get("size") or 0)
    if kind == "add":
        changes.added[file] = size
    elif file in changes.added:
        # Added and removed since the mark: its rows were never counted.
        del changes.added[file]
    else:
        changes.removed[file] = size


def changes(root: Path, after: int, through: int) -> Changes:
    """What the commits after version ``after`` through ``through`` added and removed."""
    out = Changes({}, {})
    for actions in _commits(root, after, through):
        if actions is None:
            out.stop = "a commit of fills is no longer in its log"
        for action in actions or ():
            _apply(out, root, action)
            if out.stop:
                return out
    return out


def catch_up(frame: pl.DataFrame, found: Changes) -> pl.DataFrame:
    parts = [frame.lazy()]
    if found.added:
        parts.append(_aggregate(_files(list(found.added))))
    if found.removed:
        parts.append(_aggregate(_files(list(found.removed)), sign=-1))
    return _combine(parts)


# ---- following ----------------------------------------------------------------------------------


def _table_bytes(dt: DeltaTable) -> int:
    sizes: list[int] = pa.table(dt.get_add_actions()).column("size_bytes").to_pylist()
    return sum(sizes)


def _caught_up(tables: DeltaTables, dt: DeltaTable, mark: Mark, limit: float) -> Rollup | None:
    saved = load(tables)
    if saved is None:
        return None
    old, was = saved
    if (was.table_id, was.written) != (mark.table_id, mark.written) or was.version > mark.version:
        return None
    if was.version == mark.version:
        return Rollup(old, was, "current")
    root = Path(tables.uri(FILLS.name))
    found = changes(root, was.version, mark.version)
    if found.stop:
        return None
    files = {**found.added, **found.removed}
    if sum(files.values()) >= limit * _table_bytes(dt):
        return None
    missing = [f for f in found.removed if not Path(f).exists()]
    if missing:
        return None  # vacuumed: its rows can no longer be subtracted
    return Rollup(catch_up(old, found), mark, "caught up", len(files))


def follow(
    tables: DeltaTables, dt: DeltaTable, *, persist: bool = True, limit: float = CATCH_UP_LIMIT
) -> Rollup:
    """The rollup of ``fills`` as ``dt`` reads it: the saved one if current, else caught up
    from the log, else rebuilt; saved when it moved (with ``persist``). The caller checked
    ``followable``. ``limit``: ``CATCH_UP_LIMIT``."""
    mark = _mark_of(dt)
    rollup = _caught_up(tables, dt, mark, limit)
    if rollup is None:
        built = build(dt)
        rollup = Rollup(built, mark, "built", len(dt.file_uris()))
    if persist and rollup.how != "current":
        # A data directory the reader may not write (sent by someone, read-only): the
        # answer stands; the next reader catches up again.
        with contextlib.suppress(OSError):
            save(tables, rollup.frame, rollup.mark)
    return rollup
