"""Positions: FIFO and average-cost PnL, flips, multipliers, currencies, corrections, busts,
late fills, and positions as of a time on both clocks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.domain.values import OrderAction, Side
from ordertrail.projections.positions import CHECKPOINT, Position, PositionFill, PositionRun
from tests.conftest import EPOCH
from tests.projections.helpers import ES, SAP, Desk, at, dec, one

D = Decimal
SELL = OrderAction.SELL


def test_fifo_and_average_cost_differ_on_a_partial_close() -> None:
    run = PositionRun()
    run.apply(D(100), D(10), D(1))
    run.apply(D(100), D(20), D(1))
    e = run.apply(D(-100), D(25), D(1))
    assert e.realized_pnl == D(1500)  # first lot: bought at 10
    assert e.realized_pnl_avg == D(1000)  # against the average 15
    assert e.quantity == D(100)
    assert e.fifo_cost == D(20)
    assert e.avg_cost == D(15)
    e = run.apply(D(-100), D(25), D(1))
    # A round trip that closes the whole position realizes the same under both methods.
    assert e.cum_realized_pnl == e.cum_realized_pnl_avg == D(2000)
    assert e.avg_cost is None
    assert e.fifo_cost is None


def test_a_flip_closes_the_long_and_opens_a_short_at_the_fill_price() -> None:
    run = PositionRun()
    run.apply(D(100), D(10), D(50))
    e = run.apply(D(-150), D(12), D(50))
    assert e.realized_pnl == e.realized_pnl_avg == D(100 * 2 * 50)
    assert e.quantity == D(-50)
    assert e.avg_cost == e.fifo_cost == D(12)
    e = run.apply(D(50), D(11), D(50))  # cover the short one point better
    assert e.realized_pnl == D(50 * 1 * 50)
    assert e.quantity == 0


def test_a_late_fill_refolds_the_position_in_execution_order() -> None:
    p = Position("U1", 1, "live", "X", "STK", "USD", D(1))
    assert p.add(PositionFill("b", (at(20), "b"), D(-100), D(12))) == ["b"]
    changed = p.add(PositionFill("a", (at(10), "a"), D(100), D(10)))
    assert set(changed) == {"a", "b"}
    assert p.effects["b"].realized_pnl == D(200)
    assert p.quantity == 0


def test_futures_through_the_store_use_the_multiplier(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=2, contract=ES, limit="5000")
    desk.fill("OT-1", "e1.01", 2, "5000", at=at(1), commission="4.2")
    desk.place("OT-2", SELL, 3, contract=ES, limit="5010")
    desk.fill("OT-2", "e2.01", 3, "5010", at=at(2), commission="6.3")
    pos = one(desk.audit().positions(), con_id=ES.con_id)
    assert dec(pos["quantity"]) == D(-1)
    assert dec(pos["realized_pnl"]) == D(2 * 10 * 50)
    assert dec(pos["avg_cost"]) == D(5010)
    assert dec(pos["commission"]) == D("10.5")
    assert dec(pos["multiplier"]) == D(50)
    fills = desk.audit().fills()
    assert dec(one(fills, exec_id="e2.01")["realized_pnl"]) == D(1000)


def test_commissions_in_another_currency_are_counted_not_added(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=10, contract=SAP, limit="180")
    desk.fill("OT-1", "e1.01", 10, "180", commission="1.5", currency="EUR")
    desk.place("OT-2", quantity=10, contract=SAP, limit="180")
    desk.fill("OT-2", "e2.01", 10, "180", commission="2", currency="USD")
    pos = one(desk.audit().positions(), con_id=SAP.con_id)
    assert pos["currency"] == "EUR"
    assert dec(pos["commission"]) == D("1.5")
    assert pos["foreign_commissions"] == 1


def test_a_correction_changes_every_figure_after_it(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-B", quantity=100, limit="10")
    desk.fill("OT-B", "b.01", 100, "10", at=at(1))
    desk.place("OT-S", SELL, 100, limit="12")
    desk.fill("OT-S", "s.01", 100, "12", at=at(2))
    audit = desk.audit()
    assert dec(one(audit.fills(), exec_id="s.01")["realized_pnl"]) == D(200)
    desk.fill("OT-B", "b.02", 100, "11", at=at(1))  # IB corrects the buy's price
    fills = audit.fills()
    assert fills.height == 2
    buy = one(fills, exec_base_id="b")
    assert (buy["exec_id"], buy["replaces_exec_id"]) == ("b.02", "b.01")
    assert dec(one(fills, exec_id="s.01")["realized_pnl"]) == D(100)
    assert dec(one(audit.positions(), con_id=265598)["realized_pnl"]) == D(100)


def test_a_busted_execution_leaves_the_journal_and_the_position(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-B", quantity=100, limit="10")
    desk.fill("OT-B", "b1.01", 60, "10", at=at(1), commission="1")
    desk.fill("OT-B", "b2.01", 40, "10.5", at=at(2), commission="1")
    audit = desk.audit()
    assert dec(one(audit.positions(), con_id=265598)["quantity"]) == 100
    desk.bust("OT-B", "b1.01")
    fills = audit.fills()
    assert fills["exec_id"].to_list() == ["b2.01"]
    pos = one(audit.positions(), con_id=265598)
    assert (dec(pos["quantity"]), dec(pos["avg_cost"]), dec(pos["commission"])) == (
        D(40),
        D("10.5"),
        D(1),
    )
    causes = audit.position_history()["cause"].to_list()
    assert causes[-1] == "ExecutionCancelled"


def test_positions_as_of_on_both_clocks(tmp_path: Path) -> None:
    """A fill executed at IB time 10 s but recorded only later (a late Flex import, say):
    on IB's clock the position existed at 10 s; on the recorded clock we knew of it only
    once it was recorded."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=100, limit="10")
    desk.fill("OT-1", "a.01", 100, "10", at=at(10))
    # The recorded clock runs one second per fact from EPOCH; push it well past IB's times.
    desk.clock.now = EPOCH + (at(100) - EPOCH)
    desk.place("OT-2", quantity=50, limit="10")
    desk.fill("OT-2", "b.01", 50, "11", at=at(20))
    recorded_b = desk.now
    audit = desk.audit()

    ib = audit.positions(as_of=at(15), clock="ib")
    assert dec(one(ib, con_id=265598)["quantity"]) == 100
    ib = audit.positions(as_of=at(25), clock="ib")
    assert dec(one(ib, con_id=265598)["quantity"]) == 150
    assert one(ib, con_id=265598)["fills"] == 2

    known = audit.positions(as_of=at(50), clock="recorded")
    assert dec(one(known, con_id=265598)["quantity"]) == 100
    known = audit.positions(as_of=recorded_b, clock="recorded")
    assert dec(one(known, con_id=265598)["quantity"]) == 150
    assert audit.positions(as_of=at(5), clock="ib").height == 0


@pytest.mark.parametrize("clock", ["ib", "recorded"])
def test_fills_and_orders_as_of(tmp_path: Path, clock: str) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=100, limit="10", reference="9.9")
    desk.status("OT-1", "Submitted", 0, 100)
    desk.fill("OT-1", "a.01", 60, "9.95", at=desk.now)
    mid = desk.now
    desk.fill("OT-1", "b.01", 40, "10", at=desk.clock.now + (desk.clock.step * 1))
    audit = desk.audit()
    assert audit.fills(as_of=mid, clock=clock)["exec_id"].to_list() == ["a.01"]
    row = one(audit.orders(as_of=mid, clock=clock), client_order_id="OT-1")
    assert (row["status"], dec(row["filled"])) == ("Submitted", D(60))
    assert one(audit.orders(), client_order_id="OT-1")["status"] == "Filled"
    a = one(audit.fills(), exec_id="a.01")
    # Bought 0.05 under the limit (a gain), 0.05 over the reference (a cost).
    assert dec(a["slippage_vs_limit"]) == D("-0.05")
    assert dec(a["slippage_vs_reference"]) == D("0.05")


def test_sell_slippage_is_positive_when_we_receive_less(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-S", SELL, 10, limit="10", reference="10.2")
    desk.fill("OT-S", "s.01", 10, "10.1", side=Side.SOLD)
    s = one(desk.audit().fills(), exec_id="s.01")
    assert dec(s["slippage_vs_limit"]) == D("-0.1")
    assert dec(s["slippage_vs_reference"]) == D("0.1")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_refolding_from_checkpoints_equals_a_fresh_fold(data: st.DataObject) -> None:
    """Long positions (several checkpoint blocks) under late fills, corrections and busts."""
    fills = data.draw(st.integers(CHECKPOINT, 3 * CHECKPOINT + 5), label="fills")
    p = Position("U1", 1, "live", "X", "STK", "USD", D(1))
    qty = st.integers(-30, 30).filter(bool).map(D)
    price = st.integers(90, 110).map(D)
    for n in range(fills):
        p.add(PositionFill(f"f{n}", (at(n * 10), f"f{n}"), data.draw(qty), data.draw(price)))
    for k in range(data.draw(st.integers(1, 6), label="changes")):
        base = data.draw(st.sampled_from([f.base_id for f in p.fills]))
        op = data.draw(st.sampled_from(["late", "correct", "bust"]))
        if op == "late":
            t = data.draw(st.integers(0, fills * 10))
            p.add(PositionFill(f"l{k}", (at(t + 0.5), f"l{k}"), data.draw(qty), data.draw(price)))
        elif op == "correct":
            t = data.draw(st.integers(0, fills * 10))
            p.replace(PositionFill(base, (at(t + 0.25), base), data.draw(qty), data.draw(price)))
        else:
            p.remove(base)
        fresh = Position("U1", 1, "live", "X", "STK", "USD", D(1))
        for f in sorted(p.fills, key=lambda f: f.sort_key):
            fresh.add(f)
        assert fresh.effects == p.effects
        assert (fresh.quantity, fresh.realized_pnl, fresh.fifo_cost) == (
            p.quantity,
            p.realized_pnl,
            p.fifo_cost,
        )


def _fresh_effects(p: Position) -> dict[str, object]:
    fresh = Position("U1", 1, "live", "X", "STK", "USD", D(1))
    for f in sorted(p.fills, key=lambda f: f.sort_key):
        fresh.add(f)
    return dict(fresh.effects)


def test_a_bust_at_a_checkpoint_boundary_keeps_later_checkpoints_aligned() -> None:
    """Busting the fill that started a block leaves that block's checkpoint in place; the next
    fill must not add a second checkpoint for the same index (later refolds would start from
    the wrong run)."""
    p = Position("U1", 1, "live", "X", "STK", "USD", D(1))
    for n in range(CHECKPOINT + 1):
        p.add(PositionFill(f"f{n}", (at(n), f"f{n}"), D(10 if n % 3 else -7), D(100 + n % 5)))
    p.remove(f"f{CHECKPOINT}")
    for n in range(CHECKPOINT + 1, 3 * CHECKPOINT):
        p.add(PositionFill(f"f{n}", (at(n), f"f{n}"), D(10 if n % 3 else -7), D(100 + n % 5)))
    assert len(p.checkpoints) == (len(p.fills) - 1) // CHECKPOINT + 1
    p.replace(PositionFill("f150", (at(150), "f150"), D(-3), D(90)))
    assert p.effects == _fresh_effects(p)
    p.add(PositionFill("late", (at(70.5), "late"), D(5), D(95)))
    assert p.effects == _fresh_effects(p)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_correcting_recent_fills_steps_back_exactly(data: st.DataObject) -> None:
    """Corrections and busts of the last few fills (the undo path), across flips and lots
    consumed whole or in part, interleaved with new fills across block boundaries."""
    p = Position("U1", 1, "live", "X", "STK", "USD", D(1))
    qty = st.integers(-40, 40).filter(bool).map(D)
    price = st.integers(95, 105).map(D)
    n = 0
    for _ in range(data.draw(st.integers(1, 2 * CHECKPOINT + 10), label="steps")):
        op = data.draw(st.sampled_from(["fill", "fill", "correct", "bust", "late"]))
        if op == "fill" or not p.fills:
            p.add(PositionFill(f"f{n}", (at(n), f"f{n}"), data.draw(qty), data.draw(price)))
            n += 1
            continue
        recent = [f.base_id for f in p.fills[-5:]]
        base = data.draw(st.sampled_from(recent))
        if op == "correct":
            t = n - data.draw(st.floats(0, 4)) - 0.25
            p.replace(PositionFill(base, (at(t), base), data.draw(qty), data.draw(price)))
        elif op == "bust":
            p.remove(base)
        else:
            t = n - data.draw(st.floats(0, 4)) - 0.5
            p.add(PositionFill(f"l{n}", (at(t), f"l{n}"), data.draw(qty), data.draw(price)))
            n += 1
        assert p.effects == _fresh_effects(p)
    fresh = Position("U1", 1, "live", "X", "STK", "USD", D(1))
    for f in sorted(p.fills, key=lambda f: f.sort_key):
        fresh.add(f)
    assert (fresh.quantity, fresh.realized_pnl, fresh.fifo_cost, fresh.avg_cost) == (
        p.quantity,
        p.realized_pnl,
        p.fifo_cost,
        p.avg_cost,
    )
    assert [(lot.quantity, lot.price) for lot in fresh.run.lots] == [
        (lot.quantity, lot.price) for lot in p.run.lots
    ]


def test_a_dry_run_and_a_live_fill_of_one_contract_are_two_positions(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-live", quantity=100, limit="10")
    desk.place("DRY_OT-try", quantity=300, limit="10")
    desk.fill("OT-live", "l1.01", 100, "10", at=at(1))
    desk.fill("DRY_OT-try", "d1.01", 300, "11", at=at(2))
    audit = desk.audit()
    every = audit.positions(origin="all")
    assert sorted(every["origin"].to_list()) == ["dry-run", "live"]
    assert dec(one(every, origin="live")["quantity"]) == 100
    assert dec(one(every, origin="dry-run")["quantity"]) == 300
    # What a trader reads by default is the live book: the dry run is not in it.
    assert audit.positions()["origin"].to_list() == ["live"]
    assert audit.positions(as_of=at(5), clock="ib")["origin"].to_list() == ["live"]
    assert audit.positions(as_of=desk.now, clock="recorded")["origin"].to_list() == ["live"]
    assert set(audit.position_history()["origin"]) == {"live"}
    assert set(audit.position_history(origin="dry-run")["origin"]) == {"dry-run"}
    assert audit.view("positions")["origin"].to_list() == ["live"]
    assert audit.view("positions", origin="dry-run")["origin"].to_list() == ["dry-run"]


def test_real_fills_of_every_origin_move_one_position(tmp_path: Path) -> None:
    """The broker holds one position per account and contract, whoever placed the orders:
    ordertrail's own fill and a fill of an order typed into TWS close against each other."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-live", quantity=100, limit="10")
    desk.entered_by_hand("by-hand", OrderAction.SELL, 40, "12")
    desk.fill("OT-live", "l1.01", 100, "10", at=at(1))
    desk.fill("by-hand", "m1.01", 40, "12", at=at(2), side=Side.SOLD)
    audit = desk.audit()
    assert set(audit.view("fills", origin="all")["origin"]) == {"live", "manual"}
    (position,) = audit.positions(origin="all").iter_rows(named=True)
    assert (position["origin"], dec(position["quantity"])) == ("live", 60)
    assert dec(position["realized_pnl"]) == 80
    (on_ib_clock,) = audit.positions(as_of=at(5), clock="ib", origin="all").iter_rows(named=True)
    assert (on_ib_clock["origin"], dec(on_ib_clock["quantity"]), on_ib_clock["fills"]) == (
        "live",
        60,
        2,
    )
    assert audit.rebuild().events > 0
    (again,) = audit.positions(origin="all").iter_rows(named=True)
    assert again == position


def test_tables_keyed_without_origin_are_rebuilt_with_it(tmp_path: Path) -> None:
    """Positions tables an earlier version wrote (keyed by account and conId) lack the origin
    column: the next update rebuilds them rather than merging into the old key."""
    from deltalake import write_deltalake

    from ordertrail.projections.schema import POSITIONS

    desk = Desk(tmp_path / "data")
    desk.place("OT-live", quantity=100, limit="10")
    desk.fill("OT-live", "l1.01", 100, "10", at=at(1))
    audit = desk.audit()
    audit.refresh()
    old = audit.scan("positions").drop("origin").collect().to_arrow()
    write_deltalake(
        audit.tables.uri(POSITIONS.name), old, mode="overwrite", schema_mode="overwrite"
    )
    assert "origin" not in audit.tables.table(POSITIONS.name).schema().to_arrow().names
    desk.fill("OT-live", "l2.01", 50, "10", at=at(2))
    assert one(audit.positions(), con_id=265598)["origin"] == "live"
    assert dec(one(audit.positions(), con_id=265598)["quantity"]) == 150
