"""A keyed table's rows whose keys are known before the rows come (the rebuild's fill rows)
go straight to the files of their ranges of keys: the ranges come back in key order, each
sorted, every row once, whatever order and chunks the rows came in."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.projections import spill
from ordertrail.projections.schema import FILLS, arrow_table
from ordertrail.projections.sorted_spill import KeyRanges, sorted_file
from ordertrail.projections.spill import SpillFolder


def fill_row(base: str, nid: int) -> tuple[object, ...]:
    values = {"exec_base_id": base, "exec_id": f"{base}.01", "notification_id": nid}
    return tuple(values.get(name) for name in FILLS.schema.names)


@given(
    st.lists(st.text("0123456789abcdef.", min_size=1, max_size=6), unique=True, max_size=60),
    st.integers(1, 9),
    st.integers(1, 25),
)
def test_rows_come_back_by_range_of_keys_in_key_order(
    keys: list[str], ranges: int, chunk: int
) -> None:
    rows = [fill_row(key, n) for n, key in enumerate(keys)]  # in the order they come
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spill, "WRITE_ROWS", ranges)
        folder = SpillFolder()
        try:
            out = KeyRanges(folder, FILLS, pa.chunked_array([keys], pa.string()))
            for start in range(0, len(rows), chunk):
                out.write_table(arrow_table(FILLS.schema, rows[start : start + chunk]))
            parts = [part.to_pylist() for part in out.chunks()]
        finally:
            folder.remove()
    assert [r["exec_base_id"] for part in parts for r in part] == sorted(keys)
    assert all(len(part) <= ranges for part in parts)
    assert {r["exec_base_id"]: r["notification_id"] for p in parts for r in p} == {
        key: n for n, key in enumerate(keys)
    }


def test_rows_beyond_the_keys_given_are_refused(tmp_path: Path) -> None:
    folder = SpillFolder(tmp_path)
    out = KeyRanges(folder, FILLS, pa.chunked_array([["A"]], pa.string()))
    with pytest.raises(ValueError, match="more rows than keys"):
        out.write_table(arrow_table(FILLS.schema, [fill_row("A", 1), fill_row("B", 2)]))
    folder.remove()


def test_ranges_are_not_given_before_every_row_came(tmp_path: Path) -> None:
    folder = SpillFolder(tmp_path)
    out = KeyRanges(folder, FILLS, pa.chunked_array([["A", "B"]], pa.string()))
    out.write_table(arrow_table(FILLS.schema, [fill_row("B", 1)]))
    with pytest.raises(ValueError, match="1 rows of 2 keys"):
        out.chunks()
    folder.remove()


@given(
    st.lists(st.lists(st.integers(0, 20), max_size=30), min_size=1, max_size=6),
)
def test_a_file_of_runs_comes_back_sorted_and_outlives_its_file(runs: list[list[int]]) -> None:
    """A range's file (one record batch per chunk split into it) read mapped and sorted:
    rows of equal keys keep the file's order, and the rows stay readable once the file is
    deleted (the thread that read it deletes it at once)."""
    schema = pa.schema([("notification_id", pa.int64()), ("seen", pa.int64())])
    batches = []
    seen = 0
    for run in runs:
        batches.append(pa.record_batch([run, list(range(seen, seen + len(run)))], schema=schema))
        seen += len(run)
    folder = SpillFolder()
    try:
        path = folder.file("range.arrow")
        with pa.ipc.new_file(str(path), schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        rows = sorted_file(path, [("notification_id", "ascending")])
        path.unlink()
        got = rows.to_pylist()
    finally:
        folder.remove()
    every = [(k, n) for batch in batches for k, n in zip(*batch.to_pydict().values(), strict=True)]
    assert [(r["notification_id"], r["seen"]) for r in got] == sorted(every, key=lambda r: r[0])


@given(st.lists(st.integers(-(2**40), 2**40), max_size=200), st.integers(1, 50))
def test_a_spill_file_read_whole_is_its_rows_and_outlives_its_file(
    keys: list[int], chunk: int
) -> None:
    """``read_spill`` maps a whole file: the table it gives is every row written, in order,
    and stays readable once the file is deleted (the groups' rows are read, their file
    deleted, then the rows handed to the thread that writes them)."""
    schema = pa.schema([("notification_id", pa.int64()), ("text", pa.string())])
    folder = SpillFolder()
    try:
        path = folder.file("rows.arrow")
        with pa.ipc.new_file(str(path), schema) as writer:
            for start in range(0, len(keys), chunk):
                part = keys[start : start + chunk]
                writer.write_batch(
                    pa.record_batch([part, [f"row {k}" for k in part]], schema=schema)
                )
        rows = spill.read_spill(path)
        path.unlink()
        got = rows.to_pylist()
    finally:
        folder.remove()
    assert got == [{"notification_id": k, "text": f"row {k}"} for k in keys]
