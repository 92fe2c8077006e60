"""The key range written into a keyed table's merge predicate: it names the source's least and
greatest keys as literals the merge can skip files by, and it changes no match, insert or
delete (a real Delta table, merged by deltalake)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable, write_deltalake
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.projections.merge_bounds import key_bounds


def test_strings_and_integers_are_bounded_and_quotes_doubled() -> None:
    source = pa.table({"account": ["DU'2", "DU1", "DU3"], "con_id": [265598, 8314, 756733]})
    assert key_bounds(source, ("account", "con_id")) == [
        "t.account >= 'DU''2'",
        "t.account <= 'DU3'",
        "t.con_id >= 8314",
        "t.con_id <= 756733",
    ]


def test_a_column_without_a_literal_or_without_values_is_left_unbounded() -> None:
    source = pa.table(
        {
            "flag": [True, False],
            "at": pa.array([datetime(2026, 1, 2, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")),
            "empty": pa.array([None, None], pa.string()),
            "key": ["b", "a"],
        }
    )
    assert key_bounds(source, ("flag", "at", "empty", "key"), alias="x") == [
        "x.key >= 'a'",
        "x.key <= 'b'",
    ]


def _merged(root: Path, target: list[str], source: list[str], bounded: bool) -> list[dict]:
    write_deltalake(str(root), pa.table({"k": target, "v": [0] * len(target)}), mode="overwrite")
    data = pa.table({"k": source, "v": [1] * len(source)})
    on = " AND ".join(["t.k = s.k", *(key_bounds(data, ("k",)) if bounded else [])])
    (
        DeltaTable(str(root))
        .merge(data, predicate=on, source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    return sorted(DeltaTable(str(root)).to_pyarrow_table().to_pylist(), key=str)


KEYS = st.lists(st.text(alphabet="ab'c-_ ", min_size=1, max_size=4), min_size=1, unique=True)


@settings(max_examples=25, deadline=None)
@given(target=KEYS, source=KEYS)
def test_a_bounded_merge_writes_what_the_unbounded_one_writes(
    target: list[str], source: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as d:
        bounded = _merged(Path(d) / "bounded", target, source, True)
        plain = _merged(Path(d) / "plain", target, source, False)
    assert bounded == plain
    assert sum(r["v"] for r in bounded) == len(source)  # every source row matched or inserted
