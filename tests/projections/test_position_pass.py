"""The rebuild's positions pass on operations written by hand: a fill that a correction moved
to another position takes its effect from the position it ended in, whichever of the two is
folded first."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordertrail.projections.position_pass import ADD, REMOVE, Op, OpSpill, positions_pass
from ordertrail.projections.schema import FILLS
from ordertrail.projections.spill import SpillFolder, TableSpill, read_spill

T = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal


def op(nid: int, kind: int, account: str, price: str = "0") -> Op:
    return (
        nid, kind, account, 100, "live", "S00", "STK", "USD", D(1), "X.0001", T, D(100), D(price),
        False, None, "", "ExecutionRecorded", "X.0001.01", T, T,
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
    ops = OpSpill(folder.file("ops-0.msgpack"))
    ops.ops.extend([op(10, ADD, old, "10"), op(20, REMOVE, old), op(20, ADD, new, "11")])
    fills = TableSpill(folder.file("fills-0.arrow"), FILLS)
    fills.add(fill_row(20, new))
    result = positions_pass([ops], [fills], folder)
    path = result.fills_out.close()
    assert path is not None
    row = read_spill(path).to_pylist()[0]
    assert (row["account"], row["position_quantity"], row["position_avg_cost"]) == (
        new, D(100), D(11)
    )  # fmt: skip
    positions = {r[0]: (r[7], r[14]) for r in result.rows}  # account: (quantity, fills)
    assert positions == {old: (D(0), 0), new: (D(100), 1)}
    folder.remove()
