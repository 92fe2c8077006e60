"""Read-only SQL over the projection tables: a parser-based gate in front of polars SQL.

polars' SQLContext runs whatever its own parser accepts: table functions that read any local
file (``read_csv``, ``read_parquet``, ``read_json``, ``read_ipc``, …), statements that create,
drop or insert into its registered frames. It has no switch that turns file access off. So a
query is parsed here (sqlglot, DuckDB's grammar, the nearest to polars') and allowed only when
it is one SELECT (CTEs, joins, subqueries, set operations, aggregates and window functions
included) built from an allow-list of syntax and functions, reading only the registered tables
and its own CTEs. What polars executes is the SQL *generated from the checked tree*, without
comments, never the text the user typed: a quirk where the two parsers read one text
differently (comment nesting, quoting, escapes) cannot smuggle a call past the check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.generators.duckdb import DuckDBGenerator

from ordertrail.projections.schema import TABLES

# A statement longer than this is refused before it is parsed.
MAX_QUERY_CHARS = 100_000

# Syntax that only reads: anything else (INTO, table functions, PRAGMA, COPY, placeholders,
# LATERAL, VALUES, …) is refused, whatever it is called, because it is not on this list.
_SYNTAX: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery,
    exp.From, exp.Join, exp.Table, exp.TableAlias, exp.Where, exp.Group, exp.Having,
    exp.Qualify, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Distinct,
    exp.Window, exp.WindowSpec, exp.Column, exp.Identifier, exp.Star, exp.Literal,
    exp.Boolean, exp.Null, exp.Alias, exp.Paren, exp.Tuple, exp.In, exp.Between, exp.Like,
    exp.ILike, exp.Is, exp.Not, exp.And, exp.Or, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT,
    exp.LTE, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam, exp.Var,
    exp.Exists, exp.Any, exp.Interval, exp.Bracket,
)  # fmt: skip

# Functions by the name polars knows them under (what ``ordertrail sql`` documents), each with
# the node sqlglot parses it into. Deny by default: a function not here is refused.
FUNCTIONS: dict[str, type[exp.Expr]] = {
    # aggregates
    "count": exp.Count, "sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max,
    "median": exp.Median, "stddev": exp.Stddev, "stddev_samp": exp.StddevSamp,
    "variance": exp.Variance, "var_samp": exp.Variance, "first": exp.First, "last": exp.Last,
    "array_agg": exp.ArrayAgg, "string_agg": exp.GroupConcat, "corr": exp.Corr,
    "covar_samp": exp.CovarSamp, "covar_pop": exp.CovarPop,
    "quantile_cont": exp.PercentileCont, "quantile_disc": exp.PercentileDisc,
    # numbers
    "abs": exp.Abs, "ceil": exp.Ceil, "ceiling": exp.Ceil, "floor": exp.Floor,
    "round": exp.Round, "sqrt": exp.Sqrt, "cbrt": exp.Cbrt, "exp": exp.Exp, "ln": exp.Ln,
    "log2": exp.Log, "log10": exp.Log, "pow": exp.Pow, "power": exp.Pow, "sign": exp.Sign,
    "pi": exp.Pi, "mod": exp.Mod, "degrees": exp.Degrees, "radians": exp.Radians,
    "sin": exp.Sin, "cos": exp.Cos, "tan": exp.Tan, "asin": exp.Asin, "acos": exp.Acos,
    "atan": exp.Atan, "atan2": exp.Atan2, "cot": exp.Cot,
    # text
    "upper": exp.Upper, "lower": exp.Lower, "length": exp.Length, "char_length": exp.Length,
    "bit_length": exp.BitLength, "substr": exp.Substring, "substring": exp.Substring,
    "trim": exp.Trim, "ltrim": exp.Trim, "rtrim": exp.Trim, "concat": exp.Concat,
    "concat_ws": exp.ConcatWs, "replace": exp.Replace, "left": exp.Left, "right": exp.Right,
    "initcap": exp.Initcap, "reverse": exp.Reverse, "starts_with": exp.StartsWith,
    "ends_with": exp.EndsWith, "strpos": exp.StrPosition, "regexp_like": exp.RegexpLike,
    "split_part": exp.SplitPart, "lpad": exp.Pad, "rpad": exp.Pad, "normalize": exp.Normalize,
    # conditions and types
    "coalesce": exp.Coalesce, "ifnull": exp.Coalesce, "greatest": exp.Greatest,
    "least": exp.Least, "nullif": exp.Nullif, "if": exp.If, "cast": exp.Cast,
    "try_cast": exp.TryCast,
    # time
    "extract": exp.Extract, "date_trunc": exp.TimestampTrunc, "strftime": exp.TimeToStr,
    "strptime": exp.StrToTime, "date": exp.Date, "timestamp": exp.Timestamp,
    "current_date": exp.CurrentDate, "current_timestamp": exp.CurrentTimestamp,
    # window functions
    "row_number": exp.RowNumber, "rank": exp.Rank, "dense_rank": exp.DenseRank,
    "percent_rank": exp.PercentRank, "cume_dist": exp.CumeDist, "ntile": exp.Ntile,
    "lag": exp.Lag, "lead": exp.Lead, "first_value": exp.FirstValue,
    "last_value": exp.LastValue, "nth_value": exp.NthValue,
}  # fmt: skip
# Functions sqlglot has no node for: allowed by exact (case-insensitive) name.
NAMED_FUNCTIONS = frozenset({"log1p", "octet_length", "date_part", "now"})

_NODES = frozenset(_SYNTAX) | frozenset(FUNCTIONS.values())


class _Polars(DuckDB):
    """DuckDB's grammar, written back with the names polars' SQL knows where DuckDB's differ."""

    # Where polars puts NULLs when a query does not say: last ascending, first descending.
    # DuckDB puts them last both ways, so with DuckDB's setting the parse took a plain DESC as
    # NULLS LAST and wrote an explicit DESC NULLS LAST back as plain DESC, which polars then
    # sorted NULLs first: the opposite of what the query asked.
    NULL_ORDERING = "nulls_are_large"

    class Generator(DuckDBGenerator):
        TRANSFORMS = {  # noqa: RUF012 - sqlglot's extension point is this class attribute
            **DuckDBGenerator.TRANSFORMS,
            exp.RegexpLike: lambda self, e: self.func("REGEXP_LIKE", e.this, e.expression),
            exp.Initcap: lambda self, e: self.func("INITCAP", e.this),
        }


class ReadOnlyViolation(ValueError):
    """The query is not one read-only SELECT over the registered tables."""

    def __init__(self, why: str) -> None:
        super().__init__(f"SQL refused: {why}")


@contextmanager
def _quiet_parser() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to an opaque command (EXPLAIN, LOAD): the
    refusal says it in one line, so the warning is kept off the user's terminal."""
    logger = logging.getLogger("sqlglot")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _parse(query: str) -> exp.Expr:
    if len(query) > MAX_QUERY_CHARS:
        raise ReadOnlyViolation(f"the statement is longer than {MAX_QUERY_CHARS:,} characters")
    try:
        with _quiet_parser():
            statements = [s for s in sqlglot.parse(query, dialect=_Polars) if s is not None]
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        raise ReadOnlyViolation(
            f"cannot parse the statement{where}: {first.get('description', e)}"
        ) from None
    except TokenError as e:
        raise ReadOnlyViolation(f"cannot read the statement: {e}") from None
    if not statements:
        raise ReadOnlyViolation("empty query")
    if len(statements) > 1:
        raise ReadOnlyViolation(
            f"only one statement is allowed (found {len(statements)} separated by ';')"
        )
    return statements[0]


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper()


def _shown(name: str) -> str:
    """A name as it can be read in one line: look-alike and invisible characters escaped."""
    return name if name.isascii() and name.isprintable() else ascii(name)[1:-1]


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return _shown(str(node.name))
    return node.sql_name() if isinstance(node, exp.Func) else node.key


def _check_node(node: exp.Expr, tables: frozenset[str]) -> None:
    if isinstance(node, exp.Anonymous):
        name = str(node.name)
        if name.lower() not in NAMED_FUNCTIONS or not name.isascii():
            raise ReadOnlyViolation(
                f"function {_shown(name)!r} is not allowed (only the documented read-only "
                "functions)"
            )
        return
    if type(node) not in _NODES:
        if isinstance(node, exp.Func):
            raise ReadOnlyViolation(
                f"function {_function_name(node).lower()!r} is not allowed "
                "(only the documented read-only functions)"
            )
        raise ReadOnlyViolation(f"{_kind(node)} is not allowed in a read-only SELECT")
    if isinstance(node, exp.Table):
        _check_table(node, tables)


def _check_table(node: exp.Table, tables: frozenset[str]) -> None:
    name = node.this
    listed = ", ".join(sorted(tables))
    if isinstance(name, exp.Func):
        raise ReadOnlyViolation(
            f"table function {_function_name(name).lower()}(…) is not allowed: a query reads "
            f"only the tables ({listed})"
        )
    if not isinstance(name, exp.Identifier) or node.args.get("db") or node.args.get("catalog"):
        shown = node.sql(dialect=_Polars)
        raise ReadOnlyViolation(f"{shown!r} is not one of the tables ({listed})")
    if name.name.lower() not in tables:
        raise ReadOnlyViolation(f"'{_shown(name.name)}' is not one of the tables ({listed})")


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def check_read_only(query: str, tables: Iterable[str] | None = None) -> str:
    """The SQL to run for ``query``: generated from its checked parse tree. Raises
    :class:`ReadOnlyViolation` saying why when the query is not one read-only SELECT over
    ``tables`` (default: the projection tables) and its own CTEs."""
    if tables is None:
        tables = (t.name for t in TABLES)
    tree = _parse(query)
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise ReadOnlyViolation(f"only a SELECT is allowed, not {_kind(tree)}")
    known = frozenset(t.lower() for t in tables) | _cte_names(tree)
    for node in tree.walk():
        _check_node(node, known)
    return tree.sql(dialect=_Polars, comments=False)


def tables_read(query: str) -> frozenset[str]:
    """The projection tables ``query`` names (a CTE that shadows one included): the only
    ones worth opening, since opening a Delta table replays its log."""
    named = {t.name.lower() for t in _parse(query).find_all(exp.Table)}
    return frozenset(t.name for t in TABLES if t.name in named)


def run_sql(frames: dict[str, pl.LazyFrame], query: str) -> pl.DataFrame:
    sql = check_read_only(query, frames)
    # register_globals stays off: only the frames given here are tables.
    ctx = pl.SQLContext(frames=frames, register_globals=False)
    result: pl.DataFrame = ctx.execute(sql, eager=True)
    return result
