"""Read-only SQL over the projection tables (polars SQL).

polars' SQLContext can itself create, drop, truncate and insert into its registered frames, and
can read arbitrary files through table functions; an audit tool must do none of that. A query
is accepted only when it is one statement that starts with SELECT or WITH and names no writing
keyword outside string literals, quoted identifiers and comments.
"""

from __future__ import annotations

import re

import polars as pl

# Words that make a statement write, change the catalogue or reach outside the tables.
FORBIDDEN = frozenset(
    {
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "UPSERT",
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "RENAME",
        "COPY",
        "ATTACH",
        "DETACH",
        "INSTALL",
        "LOAD",
        "PRAGMA",
        "VACUUM",
        "OPTIMIZE",
        "GRANT",
        "REVOKE",
        "CALL",
        "EXEC",
        "EXECUTE",
        "SET",
        "RESET",
        "EXPORT",
        "IMPORT",
        "INTO",
        "REPLACE",
        "COMMIT",
        "ROLLBACK",
        "BEGIN",
        "READ_CSV",
        "READ_PARQUET",
        "READ_JSON",
        "READ_IPC",
        "READ_NDJSON",
        "READ_DELTA",
    }
)

_LITERAL = re.compile(
    r"""'(?:[^']|'')*'      # string literal
      | "(?:[^"]|"")*"      # quoted identifier
      | `[^`]*`             # backtick identifier
      | --[^\n]*            # line comment
      | /\*.*?\*/           # block comment
    """,
    re.VERBOSE | re.DOTALL,
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ReadOnlyViolation(ValueError):
    """The query would write, or is not a single SELECT."""


def _replace_calls_allowed(code: str) -> set[int]:
    """Positions of REPLACE used as the string function ``replace(...)``, which reads only."""
    return {m.start() for m in re.finditer(r"(?i)\breplace\s*\(", code)}


def check_read_only(query: str) -> str:
    """The query, stripped of a trailing semicolon, or ReadOnlyViolation saying why not."""
    code = _LITERAL.sub(" ", query)
    statements = [s for s in code.split(";") if s.strip()]
    if not statements:
        raise ReadOnlyViolation("empty query")
    if len(statements) > 1:
        raise ReadOnlyViolation("only one statement is allowed (found a ';' between two)")
    words = list(_WORD.finditer(code))
    first = words[0].group().upper() if words else ""
    if first not in ("SELECT", "WITH"):
        raise ReadOnlyViolation(f"only SELECT (or WITH … SELECT) is allowed, not {first or '?'}")
    allowed_replace = _replace_calls_allowed(code)
    for m in words:
        word = m.group().upper()
        if word in FORBIDDEN and not (word == "REPLACE" and m.start() in allowed_replace):
            raise ReadOnlyViolation(f"the query is read-only: {word} is not allowed")
    return query.strip().rstrip(";").strip()


def run_sql(frames: dict[str, pl.LazyFrame], query: str) -> pl.DataFrame:
    sql = check_read_only(query)
    ctx = pl.SQLContext(frames=frames)
    result: pl.DataFrame = ctx.execute(sql, eager=True)
    return result
