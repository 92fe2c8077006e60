"""Brackets and OCA groups: members with their states, the group's state, and the anomalies
users lose money on.

A bracket is a parent and the orders whose ``parent_key`` names it; an OCA group is every order
of one account sharing ``spec.oca_group``. A bracket's children usually form an OCA group too, so
they appear under both kinds. Pure functions of the members' current views: the projection
recomputes a group whenever one of its members changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ordertrail.domain.status import OrderStatus
from ordertrail.projections.schema import dec

ZERO = Decimal(0)

CANCELLED = frozenset({OrderStatus.CANCELLED, OrderStatus.API_CANCELLED})
# IB's rejections move the order to Inactive (errors 201, 200, 103...); our RiskGate's refusal
# never left the building but still means the entry will not come.
REJECTED = frozenset({OrderStatus.INACTIVE, OrderStatus.RISK_DENIED})

# The anomaly kinds, as stored in the ``anomalies`` column.
CHILD_WORKING_AFTER_PARENT_CANCELLED = "child_working_after_parent_cancelled"
CHILD_WORKING_AFTER_PARENT_REJECTED = "child_working_after_parent_rejected"
BOTH_LEGS_FILLED = "both_legs_filled"
CHILD_FILLED_BEFORE_PARENT = "child_filled_before_parent"
OCA_MULTIPLE_FILLED = "oca_multiple_filled"


@dataclass(frozen=True, slots=True)
class Member:
    """What a group needs to know of one order."""

    order_key: str
    status: OrderStatus
    quantity: Decimal
    filled: Decimal
    oca_type: int
    # When the order first filled: (IB's time, else recorded time; notification id).
    first_fill: tuple[datetime, int] | None


def _row(
    kind: str, key: str, state: str, anomalies: list[str], role: str, m: Member
) -> dict[str, Any]:
    return {
        "group_kind": kind,
        "group_key": key,
        "group_state": state,
        "anomalies": ",".join(anomalies),
        "role": role,
        "order_key": m.order_key,
        "status": m.status.value,
        "quantity": dec(m.quantity),
        "filled": dec(m.filled),
        "first_fill": m.first_fill[0] if m.first_fill else None,
    }


def bracket_anomalies(parent: Member | None, children: list[Member]) -> list[str]:
    out: list[str] = []
    if parent is not None and not parent.filled:
        working = any(c.status.is_working for c in children)
        if working and parent.status in CANCELLED:
            out.append(CHILD_WORKING_AFTER_PARENT_CANCELLED)
        if working and parent.status in REJECTED:
            out.append(CHILD_WORKING_AFTER_PARENT_REJECTED)
    filled_children = [c for c in children if c.filled]
    if len(filled_children) > 1:
        exits = sum((c.filled for c in filled_children), ZERO)
        entered = parent.filled if parent is not None else ZERO
        # OCA type 1 cancels the other leg outright; with the reducing types (2, 3) partial fills
        # of both legs are legitimate until together they exceed what the parent bought.
        if any(c.oca_type in (0, 1) for c in filled_children) or exits > entered:
            out.append(BOTH_LEGS_FILLED)
    for c in filled_children:
        assert c.first_fill is not None
        if parent is None or parent.first_fill is None or c.first_fill < parent.first_fill:
            out.append(CHILD_FILLED_BEFORE_PARENT)
            break
    return out


def bracket_state(parent: Member | None, children: list[Member]) -> str:
    if parent is None:
        return "orphaned"
    if not parent.filled:
        if parent.status in CANCELLED:
            return "cancelled"
        if parent.status in REJECTED:
            return "rejected"
        if parent.status.is_working:
            return "working"
        return "new" if parent.status is OrderStatus.NEW else parent.status.value.lower()
    exits = sum((c.filled for c in children), ZERO)
    if exits >= parent.filled:
        return "closed"
    if any(c.status.is_working for c in children):
        return "protected"
    return "unprotected"


def bracket_rows(
    parent_key: str, parent: Member | None, children: list[Member]
) -> list[dict[str, Any]]:
    anomalies = bracket_anomalies(parent, children)
    state = bracket_state(parent, children)
    rows = (
        [] if parent is None else [_row("bracket", parent_key, state, anomalies, "parent", parent)]
    )
    rows += [_row("bracket", parent_key, state, anomalies, "child", c) for c in children]
    return rows


def oca_anomalies(members: list[Member]) -> list[str]:
    filled = [m for m in members if m.filled]
    if len(filled) < 2:
        return []
    total = sum((m.filled for m in filled), ZERO)
    largest = max(m.quantity for m in members)
    if any(m.oca_type in (0, 1) for m in filled) or total > largest:
        return [OCA_MULTIPLE_FILLED]
    return []


def oca_state(members: list[Member]) -> str:
    filled = sum(1 for m in members if m.filled)
    if filled > 1:
        return "filled_many"
    if filled == 1:
        return "filled"
    if any(m.status.is_working for m in members):
        return "working"
    if all(m.status.is_done for m in members):
        return "done"
    return "new"


def oca_rows(group_key: str, members: list[Member]) -> list[dict[str, Any]]:
    anomalies = oca_anomalies(members)
    state = oca_state(members)
    return [_row("oca", group_key, state, anomalies, "member", m) for m in members]
