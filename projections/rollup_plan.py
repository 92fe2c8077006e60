"""Which statements the rollup of ``fills`` answers exactly, and the statement that asks it.

A statement is rewritten only when its answer over the rollup is provably the answer over
``fills`` (ADR 0120): one ``SELECT … FROM fills`` whose

* ``WHERE`` reads only rollup dimensions (every fill of a rollup row has the same values of
  them, so a predicate keeps or drops a rollup row's fills together);
* ``GROUP BY`` lists rollup dimensions (or is absent: one row over every fill);
* aggregates are all ``count(*)``, ``count(measure)`` or ``sum(measure)`` (exact over Decimal
  and integer columns in any grouping, and a sum over only NULLs stays NULL through the
  rollup's counts of non-null values);
* other column names are grouped dimensions or the statement's own output names;
* ``LIMIT``/``OFFSET`` come with an ``ORDER BY`` over every grouped dimension (otherwise which
  rows are kept is not fixed by the statement, on either route).

No joins, subqueries, CTEs, set operations, DISTINCT, windows or QUALIFY. Each covered
aggregate becomes the same aggregate of the rollup's columns, of the same type; the rollup
frame is queried under the name ``fills``, so the rest of the statement runs as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp

from ordertrail.projections.rollup import (
    DIMENSIONS,
    MEASURES,
    PREFIX,
    ROWS,
    count_column,
    sum_column,
)
from ordertrail.projections.schema import FILLS
from ordertrail.projections.sql import _parse, _Polars

_FILLS_COLUMNS = frozenset(FILLS.schema.names)
_REFUSED_SHAPES: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Join, "a join"),
    (exp.Subquery, "a subquery"),
    (exp.Window, "a window function"),
    (exp.Distinct, "DISTINCT"),
    (exp.Qualify, "QUALIFY"),
    (exp.With, "a WITH clause"),
)


class NotCovered(Exception):
    """Why the rollup does not answer a statement (it then runs over ``fills``)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The statement to run over the rollup, or why there is none."""

    sql: str | None
    why_not: str | None = None


def plan(query: str) -> Plan:
    try:
        return Plan(_rewrite(_parse(query)).sql(dialect=_Polars, comments=False))
    except NotCovered as e:
        return Plan(None, str(e))


def _rewrite(tree: exp.Expr) -> exp.Expr:
    if not isinstance(tree, exp.Select):
        raise NotCovered("not one SELECT")
    _check_shape(tree)
    _check_from(tree)
    groups = _groups(tree)
    aliases = _output_names(tree)
    _check_where(tree)
    _check_order_and_limit(tree, groups, aliases)
    for item in tree.expressions:
        _check_names(item, groups, aliases, outputs=False)
        if not groups and item.find(exp.AggFunc) is None:
            # Without GROUP BY, an item that aggregates nothing is one row per fill.
            raise NotCovered(f"{item.sql(dialect=_Polars)!r} is not an aggregate")
    for clause in (tree.args.get("having"), tree.args.get("order")):
        if clause is not None:
            _check_names(clause, groups, aliases, outputs=True)
    tree = tree.copy()
    for node in list(tree.find_all(exp.AggFunc)):
        node.replace(_covered(node))
    return tree


def _check_shape(tree: exp.Select) -> None:
    for kind, what in _REFUSED_SHAPES:
        if tree.find(kind) is not None:
            raise NotCovered(f"it has {what}")
    if tree.args.get("distinct") or tree.args.get("with_"):
        raise NotCovered("it has DISTINCT or WITH")
    for ident in tree.find_all(exp.Identifier):
        if ident.name.lower().startswith(PREFIX):
            raise NotCovered(f"it names {ident.name!r}, a name the rollup keeps for itself")
    for aggregate in tree.find_all(exp.AggFunc):
        if aggregate.find_ancestor(exp.AggFunc) is not None:
            raise NotCovered("it nests aggregates")
    for select in tree.find_all(exp.Select):
        if select is not tree:
            raise NotCovered("it has a subquery")


def _check_from(tree: exp.Select) -> None:
    source = tree.args.get("from_") or tree.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name != FILLS.name or table.alias:
        raise NotCovered("it does not read fills alone, unaliased")
    if table.args.get("db") or table.args.get("catalog") or tree.args.get("joins"):
        raise NotCovered("it does not read fills alone")


def _bare(node: exp.Expr) -> str | None:
    """The column's name when ``node`` is an unqualified column."""
    if isinstance(node, exp.Column) and not node.table and isinstance(node.this, exp.Identifier):
        return str(node.name)
    return None


def _groups(tree: exp.Select) -> frozenset[str]:
    group = tree.args.get("group")
    if group is None:
        return frozenset()
    if set(group.args) - {"expressions"} and any(
        group.args.get(k) for k in group.args if k != "expressions"
    ):
        raise NotCovered("GROUP BY has ROLLUP, CUBE, GROUPING SETS or ALL")
    names = [_bare(e) for e in group.expressions]
    if not names or any(n not in DIMENSIONS for n in names):
        raise NotCovered(f"GROUP BY is not over rollup dimensions ({', '.join(DIMENSIONS)})")
    return frozenset(n for n in names if n is not None)


def _output_names(tree: exp.Select) -> dict[str, exp.Expr]:
    """The statement's output names given by AS, and what each names."""
    out: dict[str, exp.Expr] = {}
    for item in tree.expressions:
        if isinstance(item, exp.Alias):
            out[item.alias] = item.this
    return out


def _check_where(tree: exp.Select) -> None:
    where = tree.args.get("where")
    if where is None:
        return
    if where.find(exp.AggFunc) is not None:
        raise NotCovered("WHERE has an aggregate")
    for column in where.find_all(exp.Column):
        name = _bare(column)
        if name not in DIMENSIONS:
            raise NotCovered(f"WHERE reads {column.sql()!r}, not a rollup dimension")


def _outside_aggregates(node: exp.Expr) -> Iterable[exp.Column]:
    for column in node.find_all(exp.Column):
        if column.find_ancestor(exp.AggFunc) is None:
            yield column


def _check_names(node: exp.Expr, groups: frozenset[str], aliases: dict[str, exp.Expr],
                 *, outputs: bool) -> None:  # fmt: skip
    """Every column read outside an aggregate is a grouped dimension, or (in HAVING and
    ORDER BY) an output name that names nothing in fills."""
    for star in node.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise NotCovered("it selects * (the rollup holds groups, not fills)")
    for column in _outside_aggregates(node):
        name = _bare(column)
        if name is None:
            raise NotCovered(f"{column.sql()!r} is qualified")
        alias = aliases.get(name)
        plain_group = name in groups and (alias is None or _bare(alias) == name)
        own_output = outputs and alias is not None and name not in _FILLS_COLUMNS
        if not (plain_group or own_output):
            raise NotCovered(f"{name!r} is neither a grouped dimension nor an output name")


def _order_keys(tree: exp.Select, aliases: dict[str, exp.Expr]) -> set[str]:
    """The dimensions the ORDER BY sorts by, directly, by output name or by position."""
    order = tree.args.get("order")
    keys: set[str] = set()
    for ordered in order.expressions if order is not None else ():
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int:
            n = int(key.name)
            items = tree.expressions
            key = items[n - 1] if 0 < n <= len(items) else key
            key = key.this if isinstance(key, exp.Alias) else key
        name = _bare(key)
        if name in aliases:
            name = _bare(aliases[name])
        if name is not None:
            keys.add(name)
    return keys


def _check_order_and_limit(tree: exp.Select, groups: frozenset[str],
                           aliases: dict[str, exp.Expr]) -> None:  # fmt: skip
    limited = tree.args.get("limit") is not None or tree.args.get("offset") is not None
    if limited and groups and not groups <= _order_keys(tree, aliases):
        raise NotCovered("LIMIT/OFFSET without an ORDER BY over every grouped dimension")


def _measure(node: exp.Expr) -> str:
    name = _bare(node)
    if name not in MEASURES:
        raise NotCovered(f"{node.sql()!r} is not a rollup measure ({', '.join(MEASURES)})")
    assert name is not None
    return name


def _covered(node: exp.Expr) -> exp.Expr:
    """The aggregate over the rollup that gives ``node``'s value over fills, of its type."""
    arg = node.this
    if type(node) is exp.Count:
        if isinstance(arg, exp.Star):
            return _counted(ROWS)
        return _counted(count_column(_measure(arg)))
    if type(node) is exp.Sum:
        return exp.Sum(this=exp.column(sum_column(_measure(arg))))
    raise NotCovered(f"{node.sql(dialect=_Polars)!r} is not count(*), count(col) or sum(col)")


def _counted(column: str) -> exp.Expr:
    # count(*) over no fill is 0, where a sum over no rollup row is NULL.
    return exp.Coalesce(this=exp.Sum(this=exp.column(column)), expressions=[exp.Literal.number(0)])
