"""A bucket's operations by position: each position's in log order, positions in key order,
whether the bucket holds one position (sliced when its rows are already in log order) or
several (sorted by key)."""

from __future__ import annotations

import random

import pyarrow as pa  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.projections.op_spill import OP_SCHEMA
from ordertrail.projections.position_ops import positions_of
from ordertrail.projections.records import PositionKey

KEYS = [("DU1", 100, "live"), ("DU1", 100, "dry-run"), ("DU2", 7, "live"), ("DU1", -3, "live")]


def bucket(keys: list[PositionKey], order: list[int]) -> pa.Table:
    """Operations with notification ids 1.. for ``keys``, in the rows' ``order``."""
    columns = {field.name: pa.nulls(len(keys), field.type) for field in OP_SCHEMA}
    columns["nid"] = pa.array([i + 1 for i in order], pa.int64())
    for k, name in enumerate(("account", "con_id", "origin")):
        columns[name] = pa.array([keys[i][k] for i in order], OP_SCHEMA.field(name).type)
    return pa.table(columns, schema=OP_SCHEMA)


@given(
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=40) | st.just([KEYS[0]] * 5),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_a_buckets_operations_come_by_position_in_log_order(
    keys: list[PositionKey], rnd: random.Random, shuffled: bool
) -> None:
    order = list(range(len(keys)))
    if shuffled:  # operations converted from tuples are appended after later Arrow ones
        rnd.shuffle(order)
    got = [
        (key, ops.part(0, len(ops)).column("nid").to_pylist())
        for key, ops in positions_of(bucket(keys, order))
    ]
    expected = [(key, [i + 1 for i, k in enumerate(keys) if k == key]) for key in sorted(set(keys))]
    assert got == expected
