"""The integer route of a segment's fills (``lean_fifo``): FIFO costs rounded half-even exactly
where Decimal's two roundings land, and segments whose values do not fit its integers stepped
fill by fill, with the same rows either way (the properties are in
``test_streamed_position.py``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ordertrail.projections.lean_fifo import fold_fills
from ordertrail.projections.lean_run import LeanRun
from ordertrail.projections.op_spill import OP_SCHEMA
from ordertrail.projections.position_pass import ADD, REPLACE, Op
from ordertrail.projections.schema import arrow_table
from tests.projections.test_streamed_position import T, fold, op

D = Decimal


def fills(*steps: tuple[int, str, str]) -> list[Op]:
    """Fills of (kind, quantity, price), a second apart, a correction replacing the last."""
    ops, n = [], 0
    for nid, (kind, qty, price) in enumerate(steps, 1):
        n += kind == ADD
        ops.append(op(nid, kind, f"E{n}", T + timedelta(seconds=n), D(qty), D(price), D(1)))
    return ops


def folded_at_once(ops: list[Op]) -> bool:
    return fold_fills(arrow_table(OP_SCHEMA, ops), LeanRun(), D(1), None, None) is not None


def test_fifo_costs_on_a_half_of_the_tables_last_place_round_to_even() -> None:
    # 1 at 1e-10 and 1 at 2e-10 cost 1.5e-10 a unit: half-even keeps 2e-10; with 3e-10 and
    # 2e-10, 2.5e-10 rounds to 2e-10 too; then 21.0000000008 over 5 rounds up.
    ops = fills(
        (ADD, "1", "0.0000000001"), (ADD, "1", "0.0000000002"), (ADD, "-1", "0.0000000009"),
        (ADD, "1", "0.0000000003"), (ADD, "3", "7.0000000001"),
    )  # fmt: skip
    assert folded_at_once(ops)
    history, effects, rows = fold(ops, "lean")
    assert [r["fifo_cost"] for r in history] == [
        D("1E-10"), D("2E-10"), D("2E-10"), D("2E-10"), D("4.2000000002"),
    ]  # fmt: skip
    assert (history, effects, rows) == fold(ops, "refold")


def test_a_correction_and_a_flip_folded_at_once() -> None:
    ops = fills((ADD, "100", "10"), (REPLACE, "100", "11"), (ADD, "-150", "12"),
                (ADD, "20", "9.5"))  # fmt: skip
    assert folded_at_once(ops)
    history, effects, rows = fold(ops, "lean")
    # FIFO: 100 bought at 11 (corrected), 150 sold at 12 (+100 realized, 50 short), 20 bought
    # back at 9.5 against the short (+50).
    assert [r["realized_pnl"] for r in history] == [D(0), D(0), D(100), D(150)]
    assert (rows[0]["quantity"], rows[0]["avg_cost"]) == (D(-30), D(12))
    assert (history, effects, rows) == fold(ops, "refold")


def test_values_past_the_integers_step_fill_by_fill() -> None:
    # Sizes of 4 places and prices of 10 make a PnL of 14 places: more than the tables' 10.
    ops = fills((ADD, "1.0001", "3.0000000007"), (ADD, "-0.5003", "2.9999999999"))
    assert not folded_at_once(ops)
    assert fold(ops, "lean") == fold(ops, "refold")
