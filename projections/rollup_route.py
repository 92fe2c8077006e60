"""Running a checked statement: over the rollup of ``fills`` when it answers it exactly
(``rollup_plan.py``), otherwise over the tables as before; and saying which route answered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable

from ordertrail.projections import rollup
from ordertrail.projections.rollup_plan import plan
from ordertrail.projections.schema import FILLS
from ordertrail.projections.sql import run_sql, tables_read
from ordertrail.projections.tables import DeltaTables

ROLLUP = "rollup"
TABLES = "tables"


@dataclass(frozen=True, slots=True)
class Answer:
    frame: pl.DataFrame
    # ROLLUP or TABLES, and in words: what was read, or why the rollup was not.
    route: str
    detail: str

    @property
    def explained(self) -> str:
        return f"answered from the {self.route}: {self.detail}"


def _over_tables(query: str, scan: Callable[[str], pl.LazyFrame], why: str,
                 fills: DeltaTable | None = None) -> Answer:  # fmt: skip
    frames = {
        name: pl.scan_delta(fills) if name == FILLS.name and fills is not None else scan(name)
        for name in tables_read(query)
    }
    return Answer(run_sql(frames, query), TABLES, why)


def answer(
    tables: DeltaTables,
    query: str,
    scan: Callable[[str], pl.LazyFrame],
    *,
    catch_up_limit: float = rollup.CATCH_UP_LIMIT,
) -> Answer:
    """``query`` (already checked by the gate) answered from the rollup when the rewrite is
    exact and the rollup can follow ``fills``, otherwise from the tables (``scan``)."""
    chosen = plan(query)
    if chosen.sql is None:
        return _over_tables(query, scan, f"the rollup does not answer it ({chosen.why_not})")
    dt = tables.table(FILLS.name)
    if dt is None:
        return _over_tables(query, scan, "fills does not exist yet")
    why = rollup.followable(tables, dt)
    if why is not None:
        return _over_tables(query, scan, f"the rollup cannot follow fills ({why})", dt)
    kept = rollup.follow(tables, dt, limit=catch_up_limit)
    # The statement over no fill gives the names and types polars gives over fills: the
    # rewritten aggregates are named after the rollup's columns, and a type that differed
    # would be a difference in the answer, so the tables answer instead.
    empty = pl.from_arrow(pa.schema(dt.schema().to_arrow()).empty_table())
    assert isinstance(empty, pl.DataFrame)
    expected = run_sql({FILLS.name: empty.lazy()}, query)
    ctx = pl.SQLContext(frames={FILLS.name: kept.frame.lazy()}, register_globals=False)
    got: pl.DataFrame = ctx.execute(chosen.sql, eager=True)
    if got.dtypes != expected.dtypes:
        return _over_tables(query, scan, "the rollup's result types differ from fills'", dt)
    detail = (
        f"fills version {kept.mark.version}, {kept.frame.height:,} rollup rows "
        f"({kept.how}{f', {kept.files_read} files read' if kept.how != 'current' else ''})"
    )
    got.columns = expected.columns
    return Answer(got, ROLLUP, detail)
