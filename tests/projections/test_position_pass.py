"""The rebuild's positions pass on operations written by hand: a fill that a correction moved
to another position takes its effect from the position it ended in, whichever of the two is
folded first."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordertrail.projections.position_pass import (
    ADD,
    REMOVE,
    Op,
    PositionInputs,
    positions_pass,
)
from ordertrail.projections.schema import FILLS, refusing_rows
from ordertrail.projections.spill import SpillFolder

T = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal


def op(
    nid: int, kind: int, account: str, price: str = "0", con_id: int = 100, base: str = "X.0001"
) -> Op:
    return (
        nid, kind, account, con_id, "live", "S00", "STK", "USD", D(1), base, T, D(100), D(price),
        False, None, "", "ExecutionRecorded", f"{base}.01", T, T,
    )  # fmt: skip


def fill_row(nid: int, account: str) -> tuple[object, ...]:
    values: dict[str, object] = {
        "exec_base_id": "X.0001",
        "exec_id": "X.0001.02",
        "account": account,
        "con_id": 100,
        "notification_id": nid,
    }
    return tuple(values.get(name) for name in FILLS.schema.names)


@pytest.mark.parametrize(("old", "new"), [("DU2", "DU1"), ("DU1", "DU2")])
def test_a_fill_moved_to_another_position_takes_the_effect_it_has_there(
    tmp_path: Path, old: str, new: str
) -> None:
    # IB's correction of execution X.0001 names another account: the fill leaves the old
    # position (a removal) and enters the new one at the same notification id. Both positions
    # are in one bucket, folded in key order: once the new one first, once the old one.
    folder = SpillFolder(tmp_path)
    inputs = PositionInputs(folder, 0)
    inputs.buckets = 1  # both positions in one bucket
    for o in (op(10, ADD, old, "10"), op(20, REMOVE, old), op(20, ADD, new, "11")):
        inputs.add_op(o)
    inputs.add_fill_row(fill_row(20, new), (new, 100, "live"))
    result = positions_pass(inputs, folder)
    [row] = [r for part in result.fills_out.chunks() for r in part.to_pylist()]
    assert (row["account"], row["position_quantity"], row["position_avg_cost"]) == (
        new, D(100), D(11)
    )  # fmt: skip
    positions = {r[0]: (r[7], r[14]) for r in result.rows}  # account: (quantity, fills)
    assert positions == {old: (D(0), 0), new: (D(100), 1)}
    folder.remove()


def test_a_position_whose_conid_arrow_cannot_carry_is_folded_from_memory(
    tmp_path: Path,
) -> None:
    # A conId past 64 bits (IB documents no width): its operations fit neither the Arrow
    # columns nor the msgpack file, so they stay in memory as tuples; the other position's go
    # to the bucket's Arrow file.
    huge = 2**64 + 7
    folder = SpillFolder(tmp_path)
    inputs = PositionInputs(folder, 0)
    inputs.buckets = 1
    for nid in (10, 30):
        inputs.add_op(op(nid, ADD, "DU1", "10", huge, f"A.{nid}"))
        inputs.add_op(op(nid + 1, ADD, "DU2", "10", 100, f"B.{nid}"))
        inputs.flush()
    ops = inputs.ops[0]
    assert ops.misfits.runs == []
    assert list(ops.misfits.held) == [("DU1", huge, "live")]
    assert ops.table().column("account").to_pylist() == ["DU2", "DU2"]
    with refusing_rows() as refused:  # as a rebuild runs: such rows are named, not written
        result = positions_pass(inputs, folder)
    assert len(refused) == 1
    assert f"con_id {huge} of account DU1" in next(iter(refused))
    positions = {(r[0], r[1]): r[7] for r in result.rows}  # (account, conId): quantity
    assert positions == {("DU1", huge): D(200), ("DU2", 100): D(200)}
    folder.remove()
