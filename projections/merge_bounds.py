"""The key range a keyed table's merge may touch, written into the merge's predicate.

A merge joins the target on the key alone, and the join reads every file of the table: the
cost of an update grew with the history (at 10,000,000 fills one merge of a few new fills
took over a minute). A row of the target can only match a source row whose key lies between
the source's least and greatest keys, so bounds on each key column change no match, insert or
delete; but they are predicates on the target alone, which the merge uses to skip the files
whose statistics lie outside them (the keyed tables are written sorted by key).
"""

from __future__ import annotations

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]


def _literal(value: object) -> str | None:
    """The value as an SQL literal of the merge's predicate; None for a type left unbounded."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def key_bounds(source: pa.Table, keys: tuple[str, ...], alias: str = "t") -> list[str]:
    """``alias.key >= least AND alias.key <= greatest`` for each key column of ``source``
    whose type has a literal here (strings and integers); none for an empty or all-null
    column."""
    out: list[str] = []
    for key in keys:
        column = source.column(key)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                or pa.types.is_integer(column.type)):  # fmt: skip
            continue
        bounds = pc.min_max(column).as_py()
        low, high = _literal(bounds["min"]), _literal(bounds["max"])
        if low is None or high is None:
            continue
        out += [f"{alias}.{key} >= {low}", f"{alias}.{key} <= {high}"]
    return out
