"""The rebuild's two routes for a position give the same history rows, fill effects and
position row: the streamed one (fills in execution order, corrections of the last fill) and
the refold by ``Position`` it hands a position over to at the first operation it cannot take
(a late fill, a correction of an earlier fill or one that moves it, a bust), which then writes
only what the streamed route had not."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.projections import lean_fold, position_pass
from ordertrail.projections.history_batch import HistoryBatch
from ordertrail.projections.position_ops import PositionOps
from ordertrail.projections.position_pass import (
    ADD,
    COMMISSION,
    OP_SCHEMA,
    REMOVE,
    REPLACE,
    EffectSpill,
    Op,
    OpSpill,
    PositionPass,
)
from ordertrail.projections.schema import FILLS, POSITION_HISTORY, POSITIONS, arrow_table
from ordertrail.projections.sorted_spill import KeyRanges, RangeFiles
from ordertrail.projections.spill import SpillFolder
from ordertrail.projections.streamed_position import StreamedFold, StreamedPosition

T = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal
KEY = ("DU1", 100, "live")
PRICES = [D("99.99"), D("100.37"), D("101"), D("33.3333"), D("0.0001"), D("250.5")]
FEES = [D("0.35"), D(1)]
CURRENCIES = ["", "USD", "EUR"]
QUANTITIES = [D(1), D(3), D(30), D(100), D("0.5"), D("12.25")]


def op(nid: int, kind: int, base: str, ts_ib: datetime, qty: Decimal, price: Decimal,
       multiplier: Decimal, commission: tuple[Decimal, str] | None = None) -> Op:  # fmt: skip
    amount, ccy = commission if commission is not None else (None, "")
    cause = "CommissionReported" if kind == COMMISSION else "ExecutionRecorded"
    return (
        nid, kind, *KEY, "ES", "FUT", "USD", multiplier, base, ts_ib, qty, price,
        commission is not None, amount, ccy, cause, f"{base}.01", ts_ib,
        T + timedelta(milliseconds=nid),
    )  # fmt: skip


@st.composite
def position_ops(
    draw: st.DrawFn, late: bool = True, quantities: Any = None, prices: Any = None,
    multipliers: Any = None,
) -> list[Op]:  # fmt: skip
    """One position's operations in log order: fills long and short (flips among them), each
    at IB's time, some late when ``late``; corrections (of the last fill, or of any when
    ``late``), busts when ``late``; commissions in the position's currency or another."""
    quantities = st.sampled_from(QUANTITIES) if quantities is None else quantities
    prices = st.sampled_from(PRICES) if prices is None else prices
    multipliers = st.sampled_from([D(1), D(50), D("0.1")]) if multipliers is None else multipliers
    multiplier = draw(multipliers)
    live: dict[str, tuple[datetime, Decimal, Decimal]] = {}
    last: list[str] = []
    ops: list[Op] = []
    clock = 0
    for nid in range(1, draw(st.integers(1, 40)) + 1):
        choices = ["add", "add", "commission", "correct last"]
        choices += ["late", "correct any", "bust"] if late else []
        what = draw(st.sampled_from(choices)) if live else "add"
        qty = draw(quantities) * draw(st.sampled_from([1, -1]))
        price = draw(prices)
        fee = draw(st.none() | st.tuples(st.sampled_from(FEES), st.sampled_from(CURRENCIES)))
        if what in ("add", "late"):
            clock += 1
            seconds = draw(st.integers(0, clock)) if what == "late" else clock
            base = f"E{nid:03d}"
            live[base] = (T + timedelta(seconds=seconds), qty, price)
            last = [base] if what == "add" else last
            ops.append(op(nid, ADD, base, live[base][0], qty, price, multiplier, fee))
        elif what == "commission":
            base = draw(st.sampled_from(sorted(live)))
            fee = fee or (D(1), "USD")
            ops.append(op(nid, COMMISSION, base, live[base][0], D(0), D(0), multiplier, fee))
        elif what == "bust":
            base = draw(st.sampled_from(sorted(live)))
            ts_ib, q, p = live.pop(base)
            ops.append(op(nid, REMOVE, base, ts_ib, q, p, multiplier))
        else:
            if what == "correct last" and last and last[0] in live:
                base, ts_ib = last[0], live[last[0]][0]
            else:  # IB may correct any fill, and its time with it
                base = draw(st.sampled_from(sorted(live)))
                ts_ib = T + timedelta(seconds=draw(st.integers(0, clock)))
            live[base] = (ts_ib, qty, price)
            ops.append(op(nid, REPLACE, base, live[base][0], qty, price, multiplier, fee))
    return ops


def fold(ops: list[Op], route: str) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """(history rows, each fill's last effect, the position's row) by one route: "streamed"
    (``Op`` tuples), "lean" (Arrow columns, in segments of ``SEGMENT``), "refold"."""
    with tempfile.TemporaryDirectory() as d:
        folder = SpillFolder(Path(d))
        spill = OpSpill(folder.file("ops.msgpack"))
        spill.ops.extend(ops)
        spill.flush()
        out = PositionPass(
            RangeFiles(folder, POSITION_HISTORY),
            KeyRanges(folder, FILLS, pa.chunked_array([], pa.string())),
        )
        effects = EffectSpill()
        if route == "streamed":
            out._position(lambda: spill.position(KEY), effects)
        elif route == "lean":
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(lean_fold, "SEGMENT_OPS", SEGMENT)
                mp.setattr(position_pass, "SEGMENT_OPS", SEGMENT)
                out._lean(PositionOps.whole(arrow_table(OP_SCHEMA, ops)), effects)
        else:
            out._refolded(spill.position(KEY), effects, 0)
        out.flush_history()
        history = [row for chunk in out.history_out.chunks() for row in chunk.to_pylist()]
        last: dict[str, Any] = {}
        for row in effects.last().to_pylist():
            last.setdefault(row.pop("exec_base_id"), row)
        rows = arrow_table(POSITIONS.schema, out.rows).to_pylist()
        return history, last, rows


SEGMENT = 5


@given(position_ops())
def test_the_streamed_route_the_columnar_route_and_the_refold_give_the_same_rows(
    ops: list[Op],
) -> None:
    refolded = fold(ops, "refold")
    assert fold(ops, "streamed") == refolded
    assert fold(ops, "lean") == refolded


def _decimals(most: int, places: int, low: int = 1) -> Any:
    """Decimals of up to ``places`` places, as IB sends them (sizes, prices of any tick)."""
    return st.builds(lambda n, k: D(n).scaleb(-k), st.integers(low, most), st.integers(0, places))


MULTIPLIERS = st.sampled_from([D(1), D(50), D("0.1"), D(100), D("0.0001"), D("1.0000000000")])
# Sizes and prices of a few places, prices at or below zero (spreads, some futures), multipliers
# with places: the integer route's values; in execution order (the route takes every segment)
# or not (it hands the position to the refold) ...
FEW_QUANTITIES, FEW_PRICES = _decimals(10**5, 2), _decimals(10**6, 4, low=-(10**4))
# ... and of any places up to the tables' 10: where they do not fit, the Decimal steps.
ANY_QUANTITIES, ANY_PRICES = _decimals(10**7, 4), _decimals(10**9, 10, low=-(10**4))
ROUTES = {
    "few places, in order": position_ops(False, FEW_QUANTITIES, FEW_PRICES, MULTIPLIERS),
    "few places": position_ops(True, FEW_QUANTITIES, FEW_PRICES, MULTIPLIERS),
    "any places": position_ops(True, ANY_QUANTITIES, ANY_PRICES, MULTIPLIERS),
}


@pytest.mark.parametrize("strategy", ROUTES.values(), ids=ROUTES.keys())
def test_the_columnar_route_and_the_refold_agree_on_sizes_and_prices(strategy: Any) -> None:
    @given(strategy)
    def agree(ops: list[Op]) -> None:
        assert fold(ops, "lean") == fold(ops, "refold")

    agree()


@given(position_ops(late=False))
def test_fills_in_order_and_corrections_of_the_last_stay_on_the_streamed_route(
    ops: list[Op],
) -> None:
    batches: list[HistoryBatch] = []
    streamed = StreamedFold(StreamedPosition(*ops[0][2:9]), EffectSpill().add, batches.append, 7)
    streamed.run(ops)  # raises OutOfOrder where it would hand the position over
    assert streamed.done == sum(len(b.rows()) for b in batches) == len(ops)


def test_a_late_fill_hands_the_position_over_after_what_was_written() -> None:
    # Two fills in order, then one executed before both (IB reported it late): the streamed
    # route wrote the first two operations; the refold writes the third and refolds all three.
    ops = [
        op(1, ADD, "A", T + timedelta(seconds=2), D(100), D(10), D(1)),
        op(2, ADD, "B", T + timedelta(seconds=3), D(-50), D(12), D(1)),
        op(3, ADD, "C", T + timedelta(seconds=1), D(100), D(11), D(1)),
    ]
    history, effects, rows = fold(ops, "streamed")
    assert [r["notification_id"] for r in history] == [1, 2, 3]
    # FIFO after the late fill: C (at 11) came first, so B's sale realizes (12 - 11) * 50.
    assert effects["B"]["realized_pnl"] == D(50)
    assert effects["A"]["position_quantity"] == D(200)
    assert rows[0]["quantity"] == D(150)
    assert (history, effects, rows) == fold(ops, "refold") == fold(ops, "lean")


def test_commissions_past_what_the_columnar_route_sums_are_refolded() -> None:
    # The columnar route sums commissions in int64 units of 1e-10 (about 4.6e8 at most); a
    # position whose reports go past that is folded by ``Position``, whose Decimals have room.
    big = (D("400000000.25"), "USD")
    ops = [
        op(1, ADD, "A", T + timedelta(seconds=1), D(100), D(10), D(1), big),
        op(2, COMMISSION, "B", T + timedelta(seconds=2), D(0), D(0), D(1), big),
        op(3, ADD, "B", T + timedelta(seconds=2), D(-100), D(12), D(1)),
    ]
    history, effects, rows = fold(ops, "lean")
    totals = [D("400000000.25"), D("800000000.50"), D("800000000.50")]
    assert [r["commission"] for r in history] == totals
    assert (history, effects, rows) == fold(ops, "refold")
