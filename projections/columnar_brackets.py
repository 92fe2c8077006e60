"""The rebuild's brackets and OCA groups computed from columns
(docs/adr/0113-groups-and-orders-in-fewer-plans.md).

The orders pass keeps every member of a group as a row of ``GROUPED`` (the members' columns,
with when the order was created and which bracket and OCA group it is in), in the order it
finished them. The groups' rows are then one polars plan per kind: each bracket's children
and each OCA group's members, in the order they were created, with the group's state and
anomalies as ``brackets.bracket_rows`` and ``brackets.oca_rows`` decide them. Those functions
stay the reference: a group whose values the columns cannot hold exactly (a quantity with more
than 10 decimals or written in exponent form, a value so large that a group's sum could leave
int64, a filled member without a first fill) gets its rows from them, and so does every group
when two members share an order key (the fold keeps the last of them under the key).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.domain.status import DONE, WORKING, OrderStatus
from ordertrail.projections.brackets import (
    BOTH_LEGS_FILLED,
    CANCELLED,
    CHILD_FILLED_BEFORE_PARENT,
    CHILD_WORKING_AFTER_PARENT_CANCELLED,
    CHILD_WORKING_AFTER_PARENT_REJECTED,
    OCA_MULTIPLE_FILLED,
    REJECTED,
    Member,
    bracket_rows,
    oca_rows,
)
from ordertrail.projections.columnar_values import decimals, scaled
from ordertrail.projections.member_spill import MEMBERS
from ordertrail.projections.schema import BRACKETS, arrow_table

# A group member: what its group needs of the order, when it was created (the notification id
# of its creation: members are listed in that order), its bracket's parent key and its OCA
# group's key ("" where it is in none).
GROUPED = pa.schema(
    [
        *MEMBERS.schema,
        ("created_nid", pa.int64()),
        ("parent_key", pa.string()),
        ("oca_key", pa.string()),
    ]
)
# |scaled value| below this: a group of up to _MOST members sums inside int64.
_SAFE = 10**16
_MOST = 900
# Lookup of parents that are in no group themselves: order keys → MEMBERS rows.
Find = Callable[[Collection[str]], pa.Table]


class GroupedMembers:
    """The members of brackets and OCA groups, in the order the pass finished them: Arrow
    tables from the columns, rows from the fold."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.rows: list[tuple[Any, ...]] = []

    def add(self, m: Member, created_nid: int, parent_key: str, oca_key: str) -> None:
        ff = m.first_fill
        self.rows.append((
            m.order_key, m.status.value, str(m.quantity), str(m.filled), m.oca_type,
            None if ff is None else ff[0], None if ff is None else ff[1],
            created_nid, parent_key, oca_key,
        ))  # fmt: skip

    def add_table(self, table: pa.Table) -> None:
        self._flush()
        self.tables.append(table)

    def _flush(self) -> None:
        if self.rows:
            self.tables.append(arrow_table(GROUPED, self.rows))
            self.rows = []

    def table(self) -> pa.Table:
        self._flush()
        return pa.concat_tables(self.tables) if self.tables else GROUPED.empty_table()

    def clear(self) -> None:
        self.tables, self.rows = [], []


def _flags(column: str, statuses: Collection[OrderStatus]) -> pl.Expr:
    names = {s.value: s in statuses for s in OrderStatus}
    return pl.col(column).replace_strict(names, default=False, return_dtype=pl.Boolean)


def _plain_zero(text: pa.ChunkedArray) -> pa.Array:
    """Zero written in exponent form (``str`` of a scaled zero is ``0E-10``) as ``0``."""
    return pc.replace_substring_regex(text, r"^-?0E[-+]?[0-9]+$", "0")


def _with_values(frame: pl.DataFrame, table: pa.Table) -> pl.DataFrame:
    """The member's quantity and filled quantity scaled (``q``, ``f``), and whether the
    columns hold both exactly and small enough for a group's sums (``sure``)."""
    q, q_valid, q_refused = scaled(_plain_zero(table.column("quantity")))
    f, f_valid, f_refused = scaled(_plain_zero(table.column("filled")))
    sure = q_valid & f_valid & ~q_refused & ~f_refused
    sure &= (np.abs(q) < _SAFE) & (np.abs(f) < _SAFE)
    return frame.with_columns(pl.Series("q", q), pl.Series("f", f), pl.Series("sure", sure))


def group_table(members: pa.Table, find: Find) -> pa.Table:
    """The brackets' and OCA groups' rows of these members (``GROUPED``), parents in no
    group looked up by ``find``."""
    if not members.num_rows:
        return BRACKETS.schema.empty_table()
    frame = pl.from_arrow(members)
    assert isinstance(frame, pl.DataFrame)
    if frame.get_column("order_key").is_duplicated().any():
        return _reference_rows(members, find)
    frame = _with_values(frame.with_row_index("seq"), members)
    frame = frame.with_columns(
        _flags("status", WORKING).alias("working"),
        _flags("status", DONE).alias("done"),
        pl.col("oca_type").is_in([0, 1]).alias("cancels_all"),
    )
    brackets, unsure_brackets = _brackets(frame, find)
    ocas, unsure_ocas = _ocas(frame)
    parts = [brackets, ocas]
    if unsure_brackets or unsure_ocas:
        parts.append(_reference_rows(members, find, unsure_brackets, unsure_ocas))
    return pa.concat_tables(parts)


def _parents(frame: pl.DataFrame, children: pl.DataFrame, find: Find) -> pl.DataFrame:
    """Each bracket's parent among the members, else looked up among the orders in no group
    (the last row of a key, as a dict of them keeps it)."""
    wanted = set(children.get_column("parent_key").unique().to_list())
    held = frame.filter(pl.col("order_key").is_in(list(wanted)))
    missing = wanted - set(held.get_column("order_key").to_list())
    columns = list(MEMBERS.schema.names)
    parents = held.select(*columns, "q", "f", "sure")
    found = find(missing) if missing else MEMBERS.schema.empty_table()
    if found.num_rows:
        others = pl.from_arrow(found)
        assert isinstance(others, pl.DataFrame)
        others = _with_values(others, found).unique("order_key", keep="last", maintain_order=True)
        parents = pl.concat([parents, others.select(parents.columns)])
    return parents.with_columns(
        _flags("status", CANCELLED).alias("cancelled"),
        _flags("status", REJECTED).alias("rejected"),
        _flags("status", WORKING).alias("working"),
    ).rename(lambda c: f"p_{c}")


def _brackets(frame: pl.DataFrame, find: Find) -> tuple[pa.Table, set[str]]:
    """The brackets' rows whose values the columns hold exactly, and the keys of the others."""
    children = frame.filter(pl.col("parent_key").fill_null("") != "")
    if not children.height:
        return BRACKETS.schema.empty_table(), set()
    parents = _parents(frame, children, find)
    filled = pl.col("f") != 0
    ff, ff_nid = pl.col("first_fill"), pl.col("first_fill_nid")
    per = children.group_by("parent_key").agg(
        pl.col("seq").min().alias("first_seq"),
        pl.len().alias("n"),
        pl.col("sure").all().alias("sure"),
        (filled & ff_nid.is_null()).any().alias("unfirsted"),
        pl.col("working").any().alias("any_working"),
        filled.sum().alias("n_filled"),
        pl.col("f").sum().alias("exits"),
        (filled & pl.col("cancels_all")).any().alias("filled_cancels_all"),
        # The earliest first fill of a filled child, by (time, notification id).
        pl.struct(ff, ff_nid).filter(filled).sort().first().alias("earliest"),
    )
    per = per.join(parents, left_on="parent_key", right_on="p_order_key", how="left")
    per = per.with_columns(
        pl.col("p_status").is_not_null().alias("has_parent"),
        (pl.col("p_f").fill_null(0) == 0).alias("p_zero"),
        pl.col("earliest").struct.field("first_fill").alias("e_ff"),
        pl.col("earliest").struct.field("first_fill_nid").alias("e_nid"),
    )
    unsure = ~pl.col("sure") | pl.col("unfirsted") | (pl.col("n") > _MOST)
    unsure = unsure | (pl.col("has_parent") & ~pl.col("p_sure").fill_null(False))
    per = per.with_columns(unsure.alias("unsure"))
    unsure_keys = set(per.filter(pl.col("unsure")).get_column("parent_key").to_list())
    per = per.filter(~pl.col("unsure")).with_columns(
        _bracket_anomalies().alias("anomalies"), _bracket_state().alias("group_state")
    )
    return _bracket_members(children, per), unsure_keys


def _bracket_anomalies() -> pl.Expr:
    parent, zero, working = pl.col("has_parent"), pl.col("p_zero"), pl.col("any_working")
    before = (
        ~parent
        | pl.col("p_first_fill_nid").is_null()
        | (pl.col("e_ff") < pl.col("p_first_fill"))
        | ((pl.col("e_ff") == pl.col("p_first_fill"))
           & (pl.col("e_nid") < pl.col("p_first_fill_nid")))
    )  # fmt: skip
    entered = pl.when(parent).then(pl.col("p_f")).otherwise(0)
    both = (pl.col("n_filled") > 1) & (pl.col("filled_cancels_all") | (pl.col("exits") > entered))
    flags = [
        (parent & zero & working & pl.col("p_cancelled"), CHILD_WORKING_AFTER_PARENT_CANCELLED),
        (parent & zero & working & pl.col("p_rejected"), CHILD_WORKING_AFTER_PARENT_REJECTED),
        (both, BOTH_LEGS_FILLED),
        ((pl.col("n_filled") > 0) & before, CHILD_FILLED_BEFORE_PARENT),
    ]
    return pl.concat_str(
        [pl.when(c.fill_null(False)).then(pl.lit(name)) for c, name in flags],
        separator=",",
        ignore_nulls=True,
    )


def _bracket_state() -> pl.Expr:
    status = pl.col("p_status")
    return (
        pl.when(~pl.col("has_parent")).then(pl.lit("orphaned"))
        .when(pl.col("p_zero") & pl.col("p_cancelled")).then(pl.lit("cancelled"))
        .when(pl.col("p_zero") & pl.col("p_rejected")).then(pl.lit("rejected"))
        .when(pl.col("p_zero") & pl.col("p_working")).then(pl.lit("working"))
        # IB's status in lower case, as the fold writes it ("New" is "new").
        .when(pl.col("p_zero")).then(status.str.to_lowercase())
        .when(pl.col("exits") >= pl.col("p_f")).then(pl.lit("closed"))
        .when(pl.col("any_working")).then(pl.lit("protected"))
        .otherwise(pl.lit("unprotected"))
    )  # fmt: skip


def _bracket_members(children: pl.DataFrame, per: pl.DataFrame) -> pa.Table:
    """Each sure bracket's parent row (when its parent is known), then its children in the
    order they were created."""
    group = per.select("parent_key", "first_seq", "group_state", "anomalies")
    kids = children.join(group, on="parent_key", how="inner").select(
        pl.lit("child").alias("role"), pl.lit(1).alias("rank"), "parent_key", "first_seq",
        "group_state", "anomalies", "order_key", "status", "q", "f", "first_fill", "created_nid",
    )  # fmt: skip
    parents = per.filter(pl.col("has_parent")).select(
        pl.lit("parent").alias("role"), pl.lit(0).alias("rank"), "parent_key", "first_seq",
        "group_state", "anomalies", pl.col("parent_key").alias("order_key"),
        pl.col("p_status").alias("status"), pl.col("p_q").alias("q"), pl.col("p_f").alias("f"),
        pl.col("p_first_fill").alias("first_fill"), pl.lit(0, pl.Int64).alias("created_nid"),
    )  # fmt: skip
    rows = pl.concat([parents, kids.cast(parents.schema)])
    rows = rows.sort("first_seq", "rank", "created_nid", maintain_order=True)
    return _rows("bracket", rows.rename({"parent_key": "group_key"}))


def _ocas(frame: pl.DataFrame) -> tuple[pa.Table, set[str]]:
    members = frame.filter(pl.col("oca_key").fill_null("") != "")
    if not members.height:
        return BRACKETS.schema.empty_table(), set()
    filled = pl.col("f") != 0
    per = members.group_by("oca_key").agg(
        pl.col("seq").min().alias("first_seq"),
        (pl.col("sure").all() & (pl.len() <= _MOST)).alias("sure"),
        filled.sum().alias("n_filled"),
        pl.col("f").sum().alias("total"),
        pl.col("q").max().alias("largest"),
        (filled & pl.col("cancels_all")).any().alias("filled_cancels_all"),
        pl.col("working").any().alias("any_working"),
        pl.col("done").all().alias("all_done"),
    )
    unsure = set(per.filter(~pl.col("sure")).get_column("oca_key").to_list())
    many = pl.col("n_filled") >= 2
    per = per.filter(pl.col("sure")).with_columns(
        pl.when(many & (pl.col("filled_cancels_all") | (pl.col("total") > pl.col("largest"))))
        .then(pl.lit(OCA_MULTIPLE_FILLED)).otherwise(pl.lit("")).alias("anomalies"),
        pl.when(pl.col("n_filled") > 1).then(pl.lit("filled_many"))
        .when(pl.col("n_filled") == 1).then(pl.lit("filled"))
        .when(pl.col("any_working")).then(pl.lit("working"))
        .when(pl.col("all_done")).then(pl.lit("done"))
        .otherwise(pl.lit("new")).alias("group_state"),
    )  # fmt: skip
    rows = members.join(
        per.select("oca_key", "first_seq", "group_state", "anomalies"), on="oca_key"
    ).sort("first_seq", "created_nid", maintain_order=True)
    rows = rows.with_columns(pl.lit("member").alias("role")).rename({"oca_key": "group_key"})
    return _rows("oca", rows), unsure


def _rows(kind: str, rows: pl.DataFrame) -> pa.Table:
    columns = {
        "group_kind": pa.array(np.full(rows.height, kind, object), pa.string()),
        **{
            name: rows.get_column(name).to_arrow().cast(pa.string())
            for name in ("group_key", "group_state", "anomalies", "role", "order_key", "status")
        },
        "quantity": decimals(rows.get_column("q").to_numpy()),
        "filled": decimals(rows.get_column("f").to_numpy()),
        "first_fill": rows.get_column("first_fill")
        .to_arrow()
        .cast(BRACKETS.schema.field("first_fill").type),
    }
    return pa.Table.from_arrays([columns[n] for n in BRACKETS.schema.names], schema=BRACKETS.schema)


def _member(row: dict[str, Any]) -> Member:
    nid = row["first_fill_nid"]
    return Member(
        row["order_key"],
        OrderStatus(row["status"]),
        Decimal(row["quantity"]),
        Decimal(row["filled"]),
        row["oca_type"],
        None if nid is None else (row["first_fill"], nid),
    )


def _reference_rows(
    members: pa.Table,
    find: Find,
    brackets: Collection[str] | None = None,
    ocas: Collection[str] | None = None,
) -> pa.Table:
    """The groups' rows by ``brackets.bracket_rows`` and ``oca_rows`` over Python members
    (``brackets``/``ocas``: only these groups; None: every group)."""
    return arrow_table(BRACKETS.schema, list(reference_rows(members, find, brackets, ocas)))


def reference_rows(
    members: pa.Table,
    find: Find,
    brackets: Collection[str] | None = None,
    ocas: Collection[str] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The rows the fold's groups give, as tuples in ``BRACKETS`` order: a dict of members by
    key (the last of a key wins), each bracket's children and each OCA group's members in
    creation order."""
    by_key: dict[str, Member] = {}
    created: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    oca: dict[str, list[str]] = {}
    for row in members.to_pylist():
        key = row["order_key"]
        by_key[key] = _member(row)
        created[key] = row["created_nid"]
        if row["parent_key"] and (brackets is None or row["parent_key"] in brackets):
            children.setdefault(row["parent_key"], []).append(key)
        if row["oca_key"] and (ocas is None or row["oca_key"] in ocas):
            oca.setdefault(row["oca_key"], []).append(key)
    missing = [k for k in children if k not in by_key]
    if missing:
        by_key.update((r["order_key"], _member(r)) for r in find(missing).to_pylist())

    def in_log_order(keys: list[str]) -> list[Member]:
        return [by_key[k] for k in sorted(keys, key=lambda k: created[k])]

    names = BRACKETS.schema.names
    for key, kids in children.items():
        for r in bracket_rows(key, by_key.get(key), in_log_order(kids)):
            yield tuple(r[c] for c in names)
    for key, keys in oca.items():
        for r in oca_rows(key, in_log_order(keys)):
            yield tuple(r[c] for c in names)
