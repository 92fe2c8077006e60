"""The rebuild's groups computed in columns (``columnar_brackets.group_table``) against the
fold's own functions (``brackets.bracket_rows`` and ``oca_rows`` over the members as the fold
keeps them), on random members: every status, filled and unfilled legs of each OCA type,
first fills at the same time, parents among the members, among the orders in no group or
unknown, values the columns cannot hold (exponent forms, more than 10 decimals, past int64's
sums), and order keys held twice."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.domain.status import OrderStatus
from ordertrail.projections.columnar_brackets import GROUPED, group_table, reference_rows
from ordertrail.projections.member_spill import MEMBERS
from ordertrail.projections.schema import BRACKETS

T0 = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
KEYS = [f"coid:OT-{i}" for i in range(12)]

# Decimals as the members' text holds them: plain, zero in exponent form, more decimals than
# the tables keep, exponent forms, and values whose sums leave int64 when scaled.
plain = st.sampled_from(["0", "10", "40", "50", "100", "0E-10", "12.5", "0.0000000001"])
amounts = st.one_of(
    plain,
    plain,
    plain,
    st.integers(0, 300).map(str),
    st.sampled_from(["7.123456789012", "1E+2", "3E-7", "99999999", "5000000", "123456789012"]),
)


@st.composite
def members(draw: st.DrawFn) -> tuple[pa.Table, pa.Table]:
    """(group members as the orders pass keeps them, orders in no group)."""
    n = draw(st.integers(0, 12))
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=n, max_size=n, unique=draw(st.booleans())))
    nids = draw(st.permutations(list(range(1, n + 1))))
    rows = []
    for key, nid in zip(keys, nids, strict=True):
        filled = draw(amounts)
        parent = draw(st.sampled_from(["", "", *KEYS, "coid:OT-gone"]))
        oca = draw(st.sampled_from(["", "DU1/A", "DU1/B", "None/A"]))
        if not parent and not oca:
            oca = "DU1/A"
        rows.append((*_row(draw, key, filled), nid, parent, oca))
    others = [_row(draw, k, draw(amounts)) for k in draw(st.lists(st.sampled_from(KEYS)))]
    return _table(GROUPED, rows), _table(MEMBERS.schema, others)


def _table(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema)


def _row(draw: st.DrawFn, key: str, filled: str) -> tuple[Any, ...]:
    status = draw(st.sampled_from(list(OrderStatus))).value
    # A filled order has a first fill; an unfilled one may have had one corrected away.
    first = draw(st.booleans()) or Decimal(filled) != 0
    at = T0 + timedelta(seconds=draw(st.integers(0, 3)))
    nid = draw(st.integers(1, 40))
    return (key, status, draw(amounts), filled, draw(st.sampled_from([0, 1, 2, 3, 2, 3])),
            at if first else None, nid if first else None)  # fmt: skip


def _finder(others: pa.Table) -> Any:
    def find(keys: Collection[str]) -> pa.Table:
        return others.filter(pa.compute.is_in(others.column("order_key"), pa.array(list(keys))))

    return find


@settings(max_examples=300, deadline=None)
@given(members())
def test_groups_in_columns_are_the_folds(case: tuple[pa.Table, pa.Table]) -> None:
    grouped, others = case
    find = _finder(others)
    columns = group_table(grouped, find).to_pylist()
    expected = [
        dict(zip(BRACKETS.schema.names, r, strict=True)) for r in reference_rows(grouped, find)
    ]
    assert sorted(columns, key=repr) == sorted(expected, key=repr)


def test_a_bracket_and_its_oca_group_in_columns() -> None:
    """A filled parent whose take-profit filled and whose stop was cancelled: the bracket is
    closed, the OCA group filled once; each member's row in creation order."""
    fill = T0 + timedelta(seconds=1)
    grouped = _table(GROUPED, [
        ("coid:SL", "Cancelled", "100", "0E-10", 1, None, None, 3, "coid:P", "DU1/X"),
        ("coid:TP", "Filled", "100", "100", 1, fill, 9, 2, "coid:P", "DU1/X"),
    ])  # fmt: skip
    others = _table(MEMBERS.schema, [("coid:P", "Filled", "100", "100", 0, T0, 5)])
    rows = group_table(grouped, _finder(others)).to_pylist()
    summary = [(r["group_kind"], r["role"], r["order_key"], r["group_state"]) for r in rows]
    assert summary == [
        ("bracket", "parent", "coid:P", "closed"),
        ("bracket", "child", "coid:TP", "closed"),
        ("bracket", "child", "coid:SL", "closed"),
        ("oca", "member", "coid:TP", "filled"),
        ("oca", "member", "coid:SL", "filled"),
    ]
    assert {r["anomalies"] for r in rows} == {""}
    assert rows[2]["filled"] == Decimal(0)
    assert rows[1]["first_fill"] == fill
