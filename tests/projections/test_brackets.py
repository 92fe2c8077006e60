"""Brackets and OCA groups, through a real event store and real Delta tables: every anomaly
kind users lose money on, and the clean cases that must stay quiet."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ordertrail.domain.facts import OpenOrderReport
from ordertrail.domain.values import OrderAction, OrderType
from ordertrail.projections import brackets as b
from tests.projections.helpers import Desk, at

SELL = OrderAction.SELL


def bracket(desk: Desk, name: str = "OT-P", *, parent_acknowledged: bool = True) -> None:
    desk.place(name, limit="10")
    desk.place(f"{name}-TP", SELL, limit="12", parent=name, oca=f"{name}-OCA", oca_type=1)
    desk.place(
        f"{name}-SL",
        SELL,
        order_type=OrderType.STOP,
        stop="9",
        parent=name,
        oca=f"{name}-OCA",
        oca_type=1,
    )
    for coid in (name, f"{name}-TP", f"{name}-SL"):
        if coid != name or parent_acknowledged:
            desk.status(coid, "Submitted", 0, 100)


def group(frame: pl.DataFrame, kind: str, key: str) -> tuple[str, set[str]]:
    rows = frame.filter((pl.col("group_kind") == kind) & (pl.col("group_key") == key))
    assert rows.height, f"no {kind} group {key}"
    states = set(rows["group_state"].to_list())
    assert len(states) == 1
    anomalies = set(",".join(rows["anomalies"].to_list()).split(",")) - {""}
    return states.pop(), anomalies


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path / "data")


def test_child_working_after_parent_cancelled(desk: Desk) -> None:
    bracket(desk)
    desk.status("OT-P", "Cancelled", 0, 100)
    state, anomalies = group(desk.audit().brackets(), "bracket", "coid:OT-P")
    assert state == "cancelled"
    assert anomalies == {b.CHILD_WORKING_AFTER_PARENT_CANCELLED}


def test_child_working_after_parent_rejected(desk: Desk) -> None:
    # IB rejected the parent at submission: no status for it ever came.
    bracket(desk, parent_acknowledged=False)
    desk.error("OT-P", 201, "Order rejected - reason: margin")
    state, anomalies = group(desk.audit().brackets(), "bracket", "coid:OT-P")
    assert state == "rejected"
    assert anomalies == {b.CHILD_WORKING_AFTER_PARENT_REJECTED}


def test_cancelled_children_of_a_cancelled_parent_are_quiet(desk: Desk) -> None:
    bracket(desk)
    for coid in ("OT-P", "OT-P-TP", "OT-P-SL"):
        desk.status(coid, "Cancelled", 0, 100)
    assert group(desk.audit().brackets(), "bracket", "coid:OT-P") == ("cancelled", set())


def test_both_legs_filled_is_a_bracket_and_an_oca_anomaly(desk: Desk) -> None:
    bracket(desk)
    desk.fill("OT-P", "p.01", 100, "10", at=at(10))
    desk.fill("OT-P-TP", "tp.01", 100, "12", at=at(20))
    desk.fill("OT-P-SL", "sl.01", 100, "9", at=at(30))
    frame = desk.audit().brackets()
    assert b.BOTH_LEGS_FILLED in group(frame, "bracket", "coid:OT-P")[1]
    assert group(frame, "oca", "U1/OT-P-OCA") == ("filled_many", {b.OCA_MULTIPLE_FILLED})


def test_child_filled_before_parent(desk: Desk) -> None:
    bracket(desk)
    desk.fill("OT-P-SL", "sl.01", 100, "9", at=at(5))
    desk.fill("OT-P", "p.01", 100, "10", at=at(10))
    _, anomalies = group(desk.audit().brackets(), "bracket", "coid:OT-P")
    assert anomalies == {b.CHILD_FILLED_BEFORE_PARENT}


def test_a_clean_exit_closes_the_bracket(desk: Desk) -> None:
    bracket(desk)
    desk.fill("OT-P", "p.01", 100, "10", at=at(10))
    audit = desk.audit()
    assert group(audit.brackets(), "bracket", "coid:OT-P") == ("protected", set())
    desk.fill("OT-P-TP", "tp.01", 100, "12", at=at(20))
    desk.status("OT-P-SL", "Cancelled", 0, 100)
    frame = audit.brackets()
    assert group(frame, "bracket", "coid:OT-P") == ("closed", set())
    assert group(frame, "oca", "U1/OT-P-OCA") == ("filled", set())
    kids = frame.filter(pl.col("group_kind") == "bracket")
    roles = dict(zip(kids["order_key"].to_list(), kids["role"].to_list(), strict=True))
    assert roles["coid:OT-P"] == "parent"
    assert roles["coid:OT-P-SL"] == "child"


def test_unprotected_when_every_exit_is_gone(desk: Desk) -> None:
    bracket(desk)
    desk.fill("OT-P", "p.01", 100, "10", at=at(10))
    desk.status("OT-P-TP", "Cancelled", 0, 100)
    desk.status("OT-P-SL", "Cancelled", 0, 100)
    assert group(desk.audit().brackets(), "bracket", "coid:OT-P")[0] == "unprotected"


def test_reducing_oca_groups_may_fill_several_members(desk: Desk) -> None:
    desk.place("OT-A", SELL, 100, limit="12", oca="G", oca_type=3)
    desk.place("OT-B", SELL, 100, limit="13", oca="G", oca_type=3)
    desk.fill("OT-A", "a.01", 40, "12", at=at(1))
    desk.fill("OT-B", "b.01", 60, "13", at=at(2))
    assert group(desk.audit().brackets(), "oca", "U1/G") == ("filled_many", set())
    desk.fill("OT-B", "b2.01", 10, "13", at=at(3))  # together beyond the group's size
    assert group(desk.audit().brackets(), "oca", "U1/G")[1] == {b.OCA_MULTIPLE_FILLED}


def test_brackets_as_of_a_time(desk: Desk) -> None:
    bracket(desk)
    before = desk.now
    desk.status("OT-P", "Cancelled", 0, 100)
    audit = desk.audit()
    assert group(audit.brackets(as_of=before), "bracket", "coid:OT-P") == ("working", set())
    _, anomalies = group(audit.brackets(as_of=desk.now), "bracket", "coid:OT-P")
    assert anomalies == {b.CHILD_WORKING_AFTER_PARENT_CANCELLED}


def test_an_oca_group_keeps_its_key_when_ib_fills_in_the_account(desk: Desk) -> None:
    """Orders sent without an account get IB's default account from openOrder later; the group
    they joined stays one group, with both members, and sees both fills."""
    from dataclasses import replace
    from decimal import Decimal

    from ordertrail.adapters.trail import FactKey
    from ordertrail.domain.order import Order
    from ordertrail.domain.values import OrderSpec
    from tests.projections.helpers import AAPL

    no_account = OrderSpec(SELL, Decimal(100), limit_price=Decimal(10), oca_group="G", oca_type=1)
    for n, coid in enumerate(("OT-C", "OT-D"), start=90):
        desk.trail.place(client_order_id=coid, contract=AAPL, spec=no_account)
        desk.trail.submit(Order.id_for(client_order_id=coid), client_id=1, order_id=n)
        desk.keys[coid] = FactKey(order_ref=coid, perm_id=5000 + n, client_id=1, order_id=n)
        desk.trail.record(
            desk.keys[coid],
            OpenOrderReport(
                spec=replace(no_account, account="U1"),
                perm_id=desk.keys[coid].perm_id,
                client_id=desk.keys[coid].client_id,
                order_id=desk.keys[coid].order_id,
            ),
        )
        assert desk.trail.get(Order.id_for(client_order_id=coid)).state.spec.account == "U1"
    # The tables are brought up to date here, so the fills below arrive as an incremental update.
    assert group(desk.audit().brackets(), "oca", "/G")[0] != "filled_many"
    desk.fill("OT-C", "0000c.01.01", 100, "10")
    desk.fill("OT-D", "0000d.01.01", 100, "10")
    frame = desk.audit().brackets()
    oca = frame.filter(pl.col("group_kind") == "oca")
    assert set(oca["group_key"].to_list()) == {"/G"}
    assert sorted(oca["order_key"].to_list()) == ["coid:OT-C", "coid:OT-D"]
    assert group(frame, "oca", "/G") == ("filled_many", {b.OCA_MULTIPLE_FILLED})
