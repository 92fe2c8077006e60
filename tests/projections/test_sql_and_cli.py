"""Read-only SQL, and the audit commands end to end (formats, exit codes)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.projections.sql import ReadOnlyViolation, check_read_only
from tests.projections.helpers import Desk, at

REFUSED = [
    "INSERT INTO fills VALUES (1)",
    "update orders set status = 'Filled'",
    "DELETE FROM fills",
    "CREATE TABLE x AS SELECT * FROM fills",
    "DROP TABLE fills",
    "ALTER TABLE fills ADD COLUMN x INT",
    "COPY fills TO '/tmp/x.csv'",
    "ATTACH 'x.db' AS x",
    "TRUNCATE fills",
    "SELECT * INTO copy FROM fills",
    "SELECT 1; DROP TABLE fills",
    "SELECT 1; SELECT 2",
    "WITH x AS (SELECT 1) DELETE FROM fills",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "EXPLAIN SELECT 1",
    "",
]
ACCEPTED = [
    "SELECT * FROM fills",
    "select count(*) from orders;",
    "WITH f AS (SELECT * FROM fills) SELECT symbol, sum(quantity) FROM f GROUP BY symbol",
    "SELECT 'DROP TABLE fills; DELETE' AS text",  # words inside a string literal
    'SELECT "update" FROM (SELECT 1 AS "update")',  # a quoted identifier
    "SELECT replace(symbol, 'A', 'B') FROM fills -- DELETE in a comment",
    "SELECT updated_recorded, deleted_at FROM orders",
]


@pytest.mark.parametrize("query", REFUSED)
def test_writing_statements_are_refused(query: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        check_read_only(query)


@pytest.mark.parametrize("query", ACCEPTED)
def test_reading_statements_pass(query: str) -> None:
    check_read_only(query)


@pytest.fixture
def data(tmp_path: Path) -> str:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=100, limit="10", reference="9.9")
    desk.status("OT-1", "Submitted", 0, 100)
    desk.fill("OT-1", "a.01", 100, "10", at=at(1), commission="1")
    desk.place("OT-2", quantity=5, limit="10", account="U2")
    return str(desk.config.data_dir)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", ["orders", "fills", "positions", "brackets"])
def test_every_listing_speaks_json_csv_and_table(data: str, command: str) -> None:
    code, out, _ = run(command, "--data", data, "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert isinstance(rows, list)
    code, out, _ = run(command, "--data", data, "--format", "csv")
    assert code == 0
    assert len(list(csv.DictReader(io.StringIO(out)))) == len(rows)
    code, out, _ = run(command, "--data", data)
    assert code == 0


def test_orders_json_and_account_filter(data: str) -> None:
    code, out, _ = run("orders", "--data", data, "--format", "json", "--account", "U2")
    assert code == 0
    rows = json.loads(out)
    assert [r["client_order_id"] for r in rows] == ["OT-2"]
    assert rows[0]["quantity"] == "5"  # Decimals print plainly, never as floats


def test_positions_as_of_on_the_ib_clock(data: str) -> None:
    code, out, _ = run(
        "positions",
        "--data",
        data,
        "--as-of",
        at(0.5).isoformat(),
        "--clock",
        "ib",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out) == []
    code, out, _ = run(
        "positions", "--data", data, "--as-of", "2099-01-01", "--clock", "ib", "--format", "json"
    )
    assert [r["quantity"] for r in json.loads(out)] == ["100"]


def test_bad_options_fail_clearly(data: str) -> None:
    code, _, err = run("positions", "--data", data, "--clock", "wall")
    assert code == 1
    assert "--clock" in err
    code, _, err = run("orders", "--data", data, "--as-of", "yesterday")
    assert code == 1
    assert "ISO 8601" in err


def test_timeline_by_client_order_id_and_perm_id(data: str) -> None:
    code, out, _ = run("timeline", "OT-1", "--data", data, "--format", "json")
    assert code == 0
    events = [r["event_type"] for r in json.loads(out)]
    assert events[0] == "OrderCreated"
    assert "ExecutionRecorded" in events
    code, _, err = run("timeline", "OT-404", "--data", data)
    assert code == 1
    assert "no order" in err


def test_sql_reads_and_refuses_writes(data: str) -> None:
    code, out, _ = run(
        "sql",
        "SELECT account, count(*) AS n FROM orders GROUP BY account ORDER BY account",
        "--data",
        data,
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out) == [{"account": "U1", "n": 1}, {"account": "U2", "n": 1}]
    code, out, err = run("sql", "DELETE FROM fills", "--data", data)
    assert code == 1
    assert "SELECT" in err
    assert out == ""
    code, _, err = run("sql", "SELECT 1; DROP TABLE orders", "--data", data)
    assert code == 1
    assert "one statement" in err
    code, _, err = run("sql", "SELECT nope FROM fills", "--data", data)
    assert code == 1
    assert "SQL" in err


def test_rebuild_compact_vacuum(data: str) -> None:
    code, out, err = run("rebuild", "--data", data)
    assert code == 0
    assert "rebuilt" in err
    assert "\x1b" not in err
    assert run("compact", "--data", data)[0] == 0
    assert run("vacuum", "--data", data, "--retention-hours", "0")[0] == 0
    code, out, _ = run("fills", "--data", data, "--format", "json")
    assert [r["exec_id"] for r in json.loads(out)] == ["a.01"]
