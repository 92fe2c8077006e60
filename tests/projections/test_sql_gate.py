"""The read-only SQL gate against hostile statements: a corpus of known bypass shapes, the
legitimate queries it must keep running on real Delta tables, and a fuzz of statement shapes
that never lets a file-reading call through.

Every file-reading shape points at a real file holding a canary string, so a shape that got
through would not only pass the check but print the canary.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.projections import sql as gate
from ordertrail.projections.sql import ReadOnlyViolation, check_read_only, run_sql
from tests.projections.helpers import Desk, at

CANARY = "canary-7f3e9b"
FILE_FUNCTIONS = ("read_csv", "read_parquet", "read_json", "read_ndjson", "read_ipc", "read_delta")
FRAMES_SCHEMA = {"symbol": pl.String, "quantity": pl.Int64}


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("secret") / "secret.csv"
    path.write_text(f"word\n{CANARY}\n")
    return str(path)


def frames() -> dict[str, pl.LazyFrame]:
    fills = pl.DataFrame({"symbol": ["AAPL", "MSFT"], "quantity": [100, 5]}, FRAMES_SCHEMA)
    return {"fills": fills.lazy(), "orders": fills.lazy()}


def bypass_shapes(path: str) -> list[tuple[str, str]]:
    """(statement, what the refusal must name)."""
    p = f"'{path}'"
    return [
        (f"SELECT * FROM read_csv({p})", "read_csv"),
        (f'SELECT * FROM "read_csv"({p})', "read_csv"),
        (f'SELECT * FROM "READ_CSV"({p})', "read_csv"),
        (f"SELECT * FROM ReAd_CsV({p})", "read_csv"),
        (f'SELECT * FROM "read_parquet"({p})', "read_parquet"),
        (f'SELECT * FROM "read_json"({p})', "read_json"),
        (f"SELECT * FROM `read_csv`({p})", "cannot parse"),
        (f"SELECT * FROM `read_json`({p})", "cannot parse"),
        (f"SELECT * FROM read_csv /* a comment */ ({p})", "read_csv"),
        (f"SELECT * FROM read_csv -- line comment\n({p})", "read_csv"),
        (f"SELECT * FROM /* x */ read_ipc({p})", "read_ipc"),
        (f"SELECT * FROM read_ndjson({p}) -- ; DELETE", "read_ndjson"),
        (f"SELECT * FROM ｒead_csv({p})", "\\uff52ead_csv"),  # a fullwidth r, shown escaped
        (f"SELECT * FROM read\u200b_csv({p})", "read\\u200b_csv"),  # a zero-width space
        (f'SELECT * FROM U&"\\0072ead_csv"({p})', "cannot parse"),
        (f"SELECT * FROM {p}", path),  # a replacement scan of a file name
        (f'SELECT * FROM "{path}"', path),
        (f"SELECT * FROM glob({p})", "glob"),
        (f"SELECT * FROM fills WHERE symbol IN (SELECT word FROM read_csv({p}))", "read_csv"),
        (f"SELECT (SELECT max(word) FROM read_csv({p})) AS x FROM fills", "read_csv"),
        (f"SELECT upper(read_csv({p})) FROM fills", "read_csv"),
        (f"SELECT coalesce(NULL, upper(lower(read_json({p})))) FROM fills", "read_json"),
        (f"WITH x AS (SELECT * FROM read_csv({p})) SELECT * FROM x", "read_csv"),
        (f"WITH x AS (SELECT 1) SELECT * FROM x, read_csv({p})", "read_csv"),
        (f"SELECT symbol FROM fills UNION SELECT word FROM read_csv({p})", "read_csv"),
        (f"SELECT symbol FROM fills UNION ALL SELECT * FROM {p}", path),
        (f"SELECT * FROM fills JOIN read_csv({p}) ON true", "read_csv"),
        (f"SELECT * FROM (SELECT * FROM (SELECT * FROM read_delta({p})))", "read_delta"),
        (f"SELECT * FROM fills; SELECT * FROM read_csv({p})", "one statement"),
        (f"SELECT ';' AS x FROM fills; SELECT * FROM read_csv({p})", "one statement"),
        (f"SELECT * FROM main.read_csv({p})", "read_csv"),
        ("SELECT * FROM main.fills", "main.fills"),
        ("SELECT * FROM _snapshot", "_snapshot"),
        ("SELECT * FROM fills, LATERAL (SELECT 1)", "LATERAL"),
        ("PRAGMA database_list", "PRAGMA"),
        ("ATTACH 'x.db' AS x", "ATTACH"),
        (f"COPY fills TO {p}", "COPY"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("SELECT * INTO stolen FROM fills", "INTO"),
        ("CREATE TABLE x AS SELECT * FROM fills", "CREATE"),
        ("WITH x AS (SELECT 1) DELETE FROM fills", "DELETE"),
        ("DROP TABLE fills", "DROP"),
        ("SELECT $1 FROM fills", "PLACEHOLDER"),
        ("SELECT * FROM (VALUES (1))", "VALUES"),
        ("SELECT mean(quantity) FROM fills", "mean"),
        ("SELECT 1" + " " * gate.MAX_QUERY_CHARS, "longer than"),
        ("   -- only a comment", "empty"),
    ]


def test_every_bypass_shape_is_refused_with_a_message_naming_it(secret: str) -> None:
    for query, named in bypass_shapes(secret):
        with pytest.raises(ReadOnlyViolation) as refused:
            check_read_only(query)
        message = str(refused.value)
        assert message.startswith("SQL refused: "), query
        assert "\n" not in message, query
        assert "\x1b" not in message, query
        assert named.lower() in message.lower(), (query, message)


def test_the_engine_would_have_read_the_file(secret: str) -> None:
    """The corpus is not hypothetical: polars itself runs the quoted table function."""
    ctx = pl.SQLContext(frames=frames())
    leaked = ctx.execute(f"SELECT * FROM \"read_csv\"('{secret}')", eager=True)
    assert CANARY in leaked.to_series().to_list()
    with pytest.raises(ReadOnlyViolation):
        run_sql(frames(), f"SELECT * FROM \"read_csv\"('{secret}')")


def test_what_runs_is_the_checked_tree_without_comments() -> None:
    # polars nests block comments like sqlglot does; either way the comment never reaches it.
    assert check_read_only("SELECT 1 /* /* */ , 2 */ AS one FROM fills") == (
        "SELECT 1 AS one FROM fills"
    )
    assert check_read_only("select count(*) from FILLS; ") == "SELECT COUNT(*) FROM FILLS"
    assert check_read_only("SELECT 'a;b' AS s FROM fills -- tail") == "SELECT 'a;b' AS s FROM fills"


LEGITIMATE = [
    "SELECT symbol, sum(quantity) AS q FROM fills GROUP BY symbol ORDER BY symbol",
    "WITH big AS (SELECT * FROM fills WHERE quantity > 1) SELECT count(*) AS n FROM big",
    "SELECT f.symbol, o.status FROM fills f JOIN orders o ON f.order_key = o.order_key",
    "SELECT symbol FROM fills WHERE order_key IN (SELECT order_key FROM orders)",
    "SELECT exec_id, sum(quantity) OVER (PARTITION BY symbol ORDER BY ts_ib) AS running FROM fills",
    "SELECT row_number() OVER (ORDER BY ts_ib) AS n, lag(price) OVER (ORDER BY ts_ib) AS p "
    "FROM fills",
    "SELECT symbol FROM fills UNION SELECT symbol FROM orders",
    "SELECT upper(symbol), coalesce(commission, 0), round(price, 2), "
    "strftime(ts_ib, '%Y-%m-%d'), date_trunc('day', ts_ib), regexp_like(symbol, '^AA'), "
    "CASE WHEN quantity > 50 THEN 'big' ELSE 'small' END, CAST(quantity AS VARCHAR) FROM fills",
    "SELECT 'DROP TABLE fills; read_csv(x)' AS text FROM fills",
    'SELECT "symbol", "read_csv" FROM (SELECT symbol, 1 AS "read_csv" FROM fills)',
    "SELECT replace(symbol, 'A', 'B') FROM fills -- DELETE in a comment",
    "SELECT * FROM positions WHERE quantity <> 0 LIMIT 10",
    "SELECT median(price), stddev(price), quantile_cont(price, 0.5) FROM fills",
]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    desk = Desk(tmp_path_factory.mktemp("gate") / "data")
    desk.place("OT-1", quantity=100, limit="10")
    desk.fill("OT-1", "a.01", 60, "10", at=at(1), commission="1")
    desk.fill("OT-1", "b.01", 40, "10.5", at=at(2), commission="1")
    return desk


@pytest.mark.parametrize("query", LEGITIMATE)
def test_legitimate_queries_run_on_the_real_tables(desk: Desk, query: str) -> None:
    result = desk.audit().sql(query)
    assert result.height >= 1


def test_legitimate_results_are_right(desk: Desk) -> None:
    frame = desk.audit().sql(
        "WITH f AS (SELECT * FROM fills) SELECT symbol, sum(quantity) AS q, "
        "max(price) AS top FROM f GROUP BY symbol"
    )
    assert frame.rows() == [("AAPL", Decimal(100), Decimal("10.5"))]


@pytest.mark.parametrize("name", sorted(gate.FUNCTIONS) + sorted(gate.NAMED_FUNCTIONS))
def test_every_allowed_function_is_one_polars_runs(name: str) -> None:
    """The allow-list is what the documentation promises: each function gets through the gate
    and polars knows the name the gate writes back."""
    df = pl.DataFrame(
        {"q": [1.5, 2.0], "i": [1, 2], "s": ["ab", "cd"], "ts": [dt.datetime(2024, 1, 1)] * 2}
    )
    call = ALLOWED_CALLS.get(name, f"{name}(q)")
    query = f"SELECT {call} AS v FROM t"
    result = run_sql({"t": df.lazy()}, query)
    assert result.columns == ["v"]


ALLOWED_CALLS = {
    "count": "count(*)", "string_agg": "string_agg(s, ',')", "corr": "corr(q, i)",
    "covar_samp": "covar_samp(q, i)", "covar_pop": "covar_pop(q, i)",
    "quantile_cont": "quantile_cont(q, 0.5)", "quantile_disc": "quantile_disc(q, 0.5)",
    "round": "round(q, 1)", "pow": "pow(q, 2)", "power": "power(q, 2)", "pi": "pi()",
    "mod": "mod(i, 2)", "atan2": "atan2(q, i)", "asin": "asin(0.5)", "acos": "acos(0.5)",
    "upper": "upper(s)", "lower": "lower(s)", "length": "length(s)",
    "char_length": "char_length(s)", "bit_length": "bit_length(s)",
    "octet_length": "octet_length(s)", "substr": "substr(s, 1, 1)",
    "substring": "substring(s, 1, 1)", "trim": "trim(s)", "ltrim": "ltrim(s)",
    "rtrim": "rtrim(s)", "concat": "concat(s, 'x')", "concat_ws": "concat_ws('-', s, 'x')",
    "replace": "replace(s, 'a', 'b')", "left": "left(s, 1)", "right": "right(s, 1)",
    "initcap": "initcap(s)", "reverse": "reverse(s)", "starts_with": "starts_with(s, 'a')",
    "ends_with": "ends_with(s, 'b')", "strpos": "strpos(s, 'b')",
    "regexp_like": "regexp_like(s, 'a.')", "split_part": "split_part(s, 'b', 1)",
    "lpad": "lpad(s, 4, '0')", "rpad": "rpad(s, 4, '0')", "normalize": "normalize(s)",
    "coalesce": "coalesce(q, 0)", "ifnull": "ifnull(q, 0)", "greatest": "greatest(q, i)",
    "least": "least(q, i)", "nullif": "nullif(q, 2)", "if": "if(q > 1, 1, 0)",
    "cast": "cast(q AS VARCHAR)", "try_cast": "try_cast(s AS INT)",
    "extract": "extract(year FROM ts)", "date_part": "date_part('year', ts)",
    "date_trunc": "date_trunc('day', ts)", "strftime": "strftime(ts, '%Y')",
    "strptime": "strptime('2024-01-01', '%Y-%m-%d')", "date": "date('2024-01-01')",
    "timestamp": "timestamp('2024-01-01')", "now": "now()", "current_date": "current_date",
    "current_timestamp": "current_timestamp", "log2": "log2(i)", "log10": "log10(i)",
    "log1p": "log1p(i)", "ln": "ln(i)", "sqrt": "sqrt(i)",
    "row_number": "row_number() OVER (ORDER BY q)", "rank": "rank() OVER (ORDER BY q)",
    "dense_rank": "dense_rank() OVER (ORDER BY q)",
    "percent_rank": "percent_rank() OVER (ORDER BY q)",
    "cume_dist": "cume_dist() OVER (ORDER BY q)", "ntile": "ntile(2) OVER (ORDER BY q)",
    "lag": "lag(q) OVER (ORDER BY i)", "lead": "lead(q) OVER (ORDER BY i)",
    "first_value": "first_value(q) OVER (ORDER BY i)",
    "last_value": "last_value(q) OVER (ORDER BY i)",
    "nth_value": "nth_value(q, 1) OVER (ORDER BY i)",
}  # fmt: skip


def test_the_docs_list_exactly_the_allowed_functions() -> None:
    text = (Path(__file__).parents[2] / "docs" / "projections.md").read_text()
    listed = text.split("<!-- sql-functions -->")[1].split("<!-- /sql-functions -->")[0]
    names = {w.strip("` ,.\n") for w in listed.split() if w.startswith("`")}
    assert names == set(gate.FUNCTIONS) | set(gate.NAMED_FUNCTIONS)


def test_the_cli_refuses_a_file_read_in_one_line(desk: Desk, secret: str) -> None:
    result = CliRunner().invoke(
        app,
        ["sql", f"SELECT * FROM \"read_csv\"('{secret}')", "--data", str(desk.config.data_dir)],
    )
    assert result.exit_code == 1
    assert CANARY not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "table function read_csv" in lines[0]


# ---- the fuzz: file-reading calls dressed in every way the grammar allows -------------------

_name_case = st.sampled_from([str.lower, str.upper, str.title, lambda s: s[:3].upper() + s[3:]])
_quote = st.sampled_from(["{}", '"{}"', "{} ", "{}/* c */", "{} --x\n"])
_pad = st.sampled_from(["", " ", "\n", "\t", " /* ; */ "])


@st.composite
def file_call(draw: st.DrawFn, path: str) -> str:
    name = draw(_name_case)(draw(st.sampled_from([*FILE_FUNCTIONS, "glob"])))
    quoted = draw(_quote).format(name)
    argument = draw(st.sampled_from([f"'{path}'", f"['{path}']", f"'{path}', true"]))
    return f"{quoted}({draw(_pad)}{argument}{draw(_pad)})"


@st.composite
def statement_with_a_file_call(draw: st.DrawFn, path: str) -> str:
    call = draw(file_call(path))
    pad = draw(_pad)
    wrap = draw(
        st.sampled_from(
            [
                "SELECT * FROM {c}",
                "SELECT *{p}FROM{p}{c}",
                "SELECT * FROM fills, {c}",
                "SELECT * FROM fills JOIN {c} ON true",
                "SELECT * FROM (SELECT * FROM {c}) AS sub",
                "WITH x AS (SELECT * FROM {c}) SELECT * FROM x",
                "WITH x AS (SELECT * FROM fills) SELECT * FROM x UNION SELECT * FROM {c}",
                "SELECT symbol FROM fills WHERE symbol IN (SELECT * FROM {c})",
                "SELECT {c} FROM fills",
                "SELECT upper(coalesce({c}, symbol)) FROM fills",
                "SELECT count(*) FROM fills GROUP BY symbol HAVING max({c}) > 0",
                "SELECT sum(quantity) OVER (PARTITION BY {c}) FROM fills",
                "SELECT ';' AS s FROM fills{p};{p}SELECT * FROM {c}",
                "SELECT * FROM fills WHERE EXISTS (SELECT 1 FROM {c})",
            ]
        )
    )
    return wrap.format(c=call, p=pad)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_no_file_reading_call_gets_through(data: st.DataObject) -> None:
    query = data.draw(statement_with_a_file_call("/etc/hostname"))
    with pytest.raises(ReadOnlyViolation):
        check_read_only(query)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cut=st.integers(0, 400), insert=st.sampled_from(["", ";", "'", '"', "*/"]))
def test_fuzz_a_mangled_statement_is_refused_or_reads_no_file(
    secret: str, data: st.DataObject, cut: int, insert: str
) -> None:
    """Damage a file-reading statement anywhere (a character dropped or inserted): whatever
    the gate then lets through, running it never shows the file's contents."""
    query = data.draw(statement_with_a_file_call(secret))
    cut = min(cut, len(query))
    mangled = query[:cut] + insert + query[cut + 1 :]
    try:
        result = run_sql(frames(), mangled)
    except ReadOnlyViolation:
        return
    except pl.exceptions.PolarsError:
        return  # polars refused what the gate let through: nothing was read either
    assert CANARY not in str(result.rows())


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("a", [1, 3, None]),
        ("a ASC NULLS LAST", [1, 3, None]),
        ("a NULLS FIRST", [None, 1, 3]),
        ("a DESC", [None, 3, 1]),
        ("a DESC NULLS FIRST", [None, 3, 1]),
        ("a DESC NULLS LAST", [3, 1, None]),
    ],
)
def test_nulls_are_sorted_where_the_query_says(order: str, expected: list[int | None]) -> None:
    # The statement is rewritten from its parsed tree: an explicit NULLS LAST on a descending
    # sort must survive the rewrite (polars' own default puts them first there).
    frame = pl.DataFrame({"a": [1, None, 3]}).lazy()
    query = f"SELECT a FROM fills ORDER BY {order}"
    assert run_sql({"fills": frame}, query)["a"].to_list() == expected
    assert pl.SQLContext(fills=frame).execute(query).collect()["a"].to_list() == expected
