"""``LeanRun`` computes the same Decimals as ``PositionRun`` (the update's arithmetic): fill
after fill, long and short and across zero, with prices and quantities of up to the tables'
ten places, multipliers, averages of 28 digits, and a step back over the last fill."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ordertrail.projections.lean_run import LeanRun
from ordertrail.projections.position_run import PositionRun, Undo

quantities = st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False).filter(
    bool
)
prices = st.decimals(min_value=0, max_value=10**5, places=10, allow_nan=False)
fills = st.lists(st.tuples(quantities, prices, st.booleans()), min_size=1, max_size=40)
multipliers = st.sampled_from([Decimal(1), Decimal(100), Decimal("0.1"), Decimal("1.0000000000")])


def state(run: PositionRun | LeanRun) -> tuple[object, ...]:
    lots = run.as_run().lots if isinstance(run, LeanRun) else run.lots
    pairs = [(lot.quantity, lot.price) for lot in lots]
    return (run.quantity, run.avg_cost, run.realized, run.realized_avg, run.lots_notional, pairs)


@given(fills, multipliers)
def test_the_lean_run_computes_what_the_position_run_computes(
    steps: list[tuple[Decimal, Decimal, bool]], multiplier: Decimal
) -> None:
    reference, lean = PositionRun(), LeanRun()
    for qty, price, corrected in steps:
        undo: list[Undo] = []
        expected = reference.apply(qty, price, multiplier, undo)
        assert lean.apply(qty, price, multiplier) == tuple(expected)
        if corrected:  # IB corrected the fill just made: step back, then apply it again
            reference.revert(undo.pop())
            lean.revert()
            assert state(lean) == state(reference)
            assert lean.apply(qty, price, multiplier) == tuple(
                reference.apply(qty, price, multiplier)
            )
        assert state(lean) == state(reference)
