"""A rebuild writes each table's Parquet files itself and commits them in one commit: its files
carry the statistics deltalake would record for the same rows, a day's rows go to that day's
partition even when a replayed fact's old recorded time brings them back to a closed file,
and the tables equal the update's."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from deltalake import DeltaTable, write_deltalake

from ordertrail.projections import spill, table_files
from ordertrail.projections.schema import TABLES
from ordertrail.projections.tables import layout
from tests.projections.helpers import Desk, at
from tests.projections.test_tables import contents


def days_desk(tmp_path: Path) -> Desk:
    """Orders over four recorded days, then a replayed fill recorded on the first day again."""
    desk = Desk(tmp_path / "data")
    for day in range(4):
        desk.place(f"OT-{day}", quantity=100, limit="10")
        desk.status(f"OT-{day}", "Submitted", 0, 100)
        desk.fill(f"OT-{day}", f"d{day}.01", 60, "10.25", at=at(day * 86_400 + 1), commission="1")
        desk.fill(f"OT-{day}", f"e{day}.01", 40, "10.5", at=at(day * 86_400 + 2))
        desk.clock.now += timedelta(days=1)
    desk.clock.now -= timedelta(days=4)
    desk.fill("OT-0", "f0.01", 5, "9.75", at=at(3), commission="0.5")
    return desk


def file_stats(dt: DeltaTable) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per partition: rows, and per column the nulls, the smallest and the largest value that
    deltalake reads from the table's log."""
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for action in actions:
        part = tuple(sorted((k, v) for k, v in action.items() if k.startswith("partition.")))
        into = out[part]
        for key, value in action.items():
            kind = key.split(".")[0]
            if kind == "num_records" or kind == "null_count":
                into[key] = into.get(key, 0) + (value or 0)
            elif kind in ("min", "max") and value is not None:
                pick = min if kind == "min" else max
                into[key] = value if key not in into else pick(into[key], value)
    return dict(out)


def test_a_rebuilds_files_carry_the_statistics_deltalake_writes(tmp_path: Path) -> None:
    desk = days_desk(tmp_path)
    audit = desk.audit()
    audit.rebuild()
    for spec in TABLES:
        mine = DeltaTable(audit.tables.uri(spec.name))
        theirs = tmp_path / "theirs" / spec.name
        # deltalake's own writer settings: text bounds cut to 64 bytes.
        partitions = layout(spec)["partition_by"]
        write_deltalake(theirs, mine.to_pyarrow_table(), mode="overwrite", partition_by=partitions)
        assert file_stats(mine) == file_stats(DeltaTable(theirs)), spec.name
    events = file_stats(DeltaTable(audit.tables.uri("events")))
    assert len(events) == 4  # a partition per recorded day
    audit.close()


def test_rows_of_many_days_go_to_their_partitions_with_few_files_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two files open at a time over four days, the rows a few at a time: the first day's file
    is closed before the replayed fill comes back to it, which then gets a file of its own."""
    monkeypatch.setattr(table_files, "OPEN_FILES", 2)
    monkeypatch.setattr(spill, "WRITE_ROWS", 8)
    desk = days_desk(tmp_path)
    folded = desk.audit()
    folded.refresh()  # the update's fold
    rebuilt = desk.audit(root=tmp_path / "rebuilt")
    rebuilt.rebuild()
    assert contents(rebuilt) == contents(folded)
    events = DeltaTable(rebuilt.tables.uri("events")).get_add_actions(flatten=True)
    per_day: dict[Any, int] = defaultdict(int)
    for action in pa.table(events).to_pylist():
        per_day[action["partition.day"]] += 1
    assert sorted(per_day.values()) == [1, 1, 1, 2]
    frame = rebuilt.scan("events").collect()
    assert (frame["day"] == frame["ts_recorded"].dt.date()).all()
    folded.close()
    rebuilt.close()


def test_columns_of_distinct_values_are_written_without_a_dictionary(tmp_path: Path) -> None:
    desk = days_desk(tmp_path)
    audit = desk.audit()
    audit.rebuild()
    for spec in TABLES:
        plain = table_files.PLAIN_COLUMNS.get(spec.name, frozenset())
        assert plain <= set(spec.schema.names), spec.name
        table = DeltaTable(audit.tables.uri(spec.name))
        for uri in table.file_uris():
            meta = pq.ParquetFile(uri).metadata
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                for i in range(group.num_columns):
                    column = group.column(i)
                    if column.physical_type == "BOOLEAN":  # Parquet has no dictionary for them
                        continue
                    dictionary = column.dictionary_page_offset is not None
                    assert dictionary == (column.path_in_schema not in plain), (
                        spec.name, column.path_in_schema
                    )  # fmt: skip
    audit.close()
