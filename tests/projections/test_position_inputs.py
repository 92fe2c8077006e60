"""The positions pass's inputs: a position's operations and fill rows land in one bucket whether
they came one at a time (the fold's route) or as Arrow columns (the columnar route), and the
pass gives the same tables either way."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.projections.position_inputs import bucket_count, bucket_of, buckets_of
from ordertrail.projections.position_pass import (
    COMMISSION,
    OP_SCHEMA,
    REMOVE,
    Op,
    PositionInputs,
    positions_pass,
)
from ordertrail.projections.schema import FILLS, POSITIONS, arrow_table
from ordertrail.projections.spill import SpillFolder
from tests.projections.test_streamed_position import position_ops

ACCOUNTS = ["DU1", "DU2", "U1234567", ""]
ORIGINS = ["live", "dry-run"]
keys = st.tuples(
    st.sampled_from(ACCOUNTS) | st.text(max_size=8),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(ORIGINS),
)


@given(st.lists(keys, min_size=1, max_size=30), st.integers(0, 12))
def test_a_key_has_one_bucket_in_python_and_in_arrow(
    drawn: list[tuple[str, int, str]], bits: int
) -> None:
    buckets = 1 << bits
    account, con_id, origin = (list(c) for c in zip(*drawn, strict=True))
    vectorised = buckets_of(
        pa.array(account, pa.string()), pa.array(con_id, pa.int64()),
        pa.array(origin, pa.string()), buckets,
    ).to_pylist()  # fmt: skip
    assert vectorised == [bucket_of(key, buckets) for key in drawn]
    assert all(0 <= b < buckets for b in vectorised)


def test_the_bucket_count_is_a_power_of_two_that_grows_with_the_log() -> None:
    assert [bucket_count(head) for head in (0, 1_000_000, 10_000_000)] == [16, 32, 256]


@st.composite
def several_positions(draw: st.DrawFn) -> list[Op]:
    """Up to four positions' operations (each as ``position_ops`` draws them), interleaved in
    log order; each fill's execId names its position."""
    queues: list[list[Op]] = []
    for p in range(draw(st.integers(1, 4))):
        account = draw(st.sampled_from(ACCOUNTS))
        con_id = draw(st.sampled_from([100 + p, 2**40 + p, -7 - p]))
        origin = draw(st.sampled_from(ORIGINS))
        queues.append([
            (*op[:2], account, con_id, origin, *op[5:9], f"P{p}{op[9]}", *op[10:])  # type: ignore[misc]
            for op in draw(position_ops())
        ])  # fmt: skip
    out: list[Op] = []
    while any(queues):
        queue = draw(st.sampled_from([q for q in queues if q]))
        out.append((len(out) + 1, *queue.pop(0)[1:]))  # type: ignore[arg-type]
    return out


def fill_rows(ops: list[Op]) -> list[tuple[Any, ...]]:
    """One fill row per execution still current after the operations (effects pending)."""
    current: dict[str, Op] = {}
    for op in ops:
        if op[1] == REMOVE:
            current.pop(op[9], None)
        elif op[1] != COMMISSION:
            current[op[9]] = op
    names = FILLS.schema.names
    rows = []
    for base, op in current.items():
        values = {"exec_base_id": base, "exec_id": op[17], "account": op[2], "con_id": op[3],
                  "origin": op[4], "notification_id": op[0]}  # fmt: skip
        rows.append(tuple(values.get(name) for name in names))
    return rows


def folded(ops: list[Op], as_arrow: bool, chunk: int) -> tuple[Any, ...]:
    """(positions rows, history rows, fill rows) of the pass fed one way."""
    with tempfile.TemporaryDirectory() as d:
        folder = SpillFolder(Path(d))
        inputs = PositionInputs(folder, 0)
        rows = fill_rows(ops)
        if as_arrow:
            for i in range(0, len(ops), chunk):
                inputs.add_ops(arrow_table(OP_SCHEMA, ops[i : i + chunk]))
            inputs.add_fill_rows(arrow_table(FILLS.schema, rows))
        else:
            for op in ops:
                inputs.add_op(op)
            for row in rows:
                key = (row[11], row[12], row[7])
                inputs.add_fill_row(row, key)
        result = positions_pass(inputs, folder)
        history = [r for t in result.history_out.chunks() for r in t.to_pylist()]
        fills = [r for part in result.fills_out.chunks() for r in part.to_pylist()]
        positions = arrow_table(POSITIONS.schema, result.rows).sort_by(
            [(k, "ascending") for k in POSITIONS.keys]
        )
        return positions.to_pylist(), history, fills


@given(several_positions(), st.integers(1, 50))
def test_arrow_fed_and_tuple_fed_operations_give_the_same_tables(ops: list[Op], chunk: int) -> None:
    assert folded(ops, as_arrow=True, chunk=chunk) == folded(ops, as_arrow=False, chunk=chunk)
