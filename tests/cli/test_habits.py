"""The CLI as a person uses it: ids and prices never cut, filters on every view, Parquet out,
a clear error for a store that is not there, settings from a config file, and ib_async's
expected messages kept out of the error stream."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli.common import ExpectedIbMessages, fit, setup_logging
from ordertrail.adapters.cli.main import app
from ordertrail.domain.values import ContractRef, OrderAction
from tests.projections.helpers import Desk, at

MSFT = ContractRef(272093, "MSFT")
LONG_ID = "OT-strategy-momentum-2026-12-04-0001"


@pytest.fixture
def data(tmp_path: Path) -> str:
    desk = Desk(tmp_path / "data")
    desk.place(LONG_ID, quantity=100, limit="187.2345", reference="187.2")
    desk.status(LONG_ID, "Submitted", 0, 100)
    desk.fill(LONG_ID, "0000e0d5.6571e6e2.01.01", 100, "187.2345", at=at(1), commission="1")
    desk.place("OT-2", OrderAction.SELL, quantity=5, limit="410.5", contract=MSFT, account="U2")
    desk.error("OT-2", 201, "Order rejected - reason: margin")
    return str(desk.config.data_dir)


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env or None)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", ["orders", "fills", "positions", "brackets", "errors"])
def test_piped_tables_print_ids_and_prices_whole(data: str, command: str) -> None:
    code, out, _ = run(command, "--data", data)
    assert code == 0
    assert "…" not in out
    if command in ("orders", "fills"):
        assert LONG_ID in out
        assert "187.2345" in out


def test_a_narrow_terminal_leaves_columns_out_and_says_which(data: str) -> None:
    code, out, err = run("orders", "--data", data, FORCE_COLOR="1", COLUMNS="90")
    assert code == 0
    assert LONG_ID in out
    assert "…" not in out
    assert "\x1b[" in out  # coloured status on a terminal
    assert "not shown at this width:" in " ".join(err.split())
    assert max(len(line) for line in _plain(out).splitlines()) <= 90


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_fit_keeps_the_columns_that_matter_and_never_cuts() -> None:
    columns = ["client_order_id", "symbol", "status", "updated_recorded", "anomalies"]
    widths = [36, 4, 9, 32, 40]
    shown = fit(columns, widths, 80)
    assert [columns[i] for i in shown] == ["client_order_id", "symbol", "status", "anomalies"]
    assert fit(columns, widths, 10) == [0]  # one column is always shown, whole


@pytest.mark.parametrize("command", ["orders", "fills", "positions", "brackets", "errors"])
def test_every_view_speaks_parquet(data: str, command: str) -> None:
    result = CliRunner().invoke(app, [command, "--data", data, "--format", "parquet"])
    assert result.exit_code == 0, result.stderr
    frame = pl.read_parquet(io.BytesIO(result.stdout_bytes))
    code, out, _ = run(command, "--data", data, "--format", "json")
    assert code == 0
    assert frame.height == len(json.loads(out))


def test_filters_on_the_views(data: str) -> None:
    def rows(*args: str) -> list[dict[str, str]]:
        code, out, err = run(*args, "--data", data, "--format", "json")
        assert code == 0, err
        return json.loads(out)  # type: ignore[no-any-return]

    assert [r["client_order_id"] for r in rows("orders", "--symbol", "MSFT")] == ["OT-2"]
    assert [r["client_order_id"] for r in rows("orders", "--status", "filled")] == [LONG_ID]
    both = rows("orders", "--account", "U1,U2")
    assert [r["client_order_id"] for r in both] == [LONG_ID, "OT-2"]
    assert rows("orders", "--origin", "discovered") == []
    # The desk's events are recorded on 2024-03-15 from 13:30 UTC: 22:30 in Tokyo, same day.
    assert len(rows("orders", "--since", "2024-03-15", "--until", "2024-03-15",
                    "--tz", "Asia/Tokyo")) == 2  # fmt: skip
    assert rows("orders", "--since", "2024-03-16", "--tz", "Asia/Tokyo") == []
    assert len(rows("fills", "--since", "2024-03-15T13:30:00Z", "--symbol", "AAPL")) == 1
    errors = rows("errors")
    assert [(e["client_order_id"], e["event_type"]) for e in errors] == [("OT-2", "ErrorReported")]
    assert "201" in errors[0]["summary"]


def test_reading_a_store_that_is_not_there_fails_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "x"
    for command in (["positions"], ["orders"], ["timeline", "OT-1"], ["sql", "SELECT 1"],
                    ["rebuild"], ["compact"], ["vacuum"], ["report"]):  # fmt: skip
        code, _, err = run(*command, "--data", str(missing))
        assert code == 1, command
        assert f"no event store at {missing / 'events.sqlite'}" in " ".join(err.split())
        assert not missing.exists()


def test_settings_come_from_the_config_file(data: str, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[defaults]\ndata = "{data}"\n\n[orders]\nsymbol = "MSFT"\n')
    code, out, err = run("orders", "--format", "json", ORDERTRAIL_CONFIG=str(cfg))
    assert code == 0, err
    assert [r["client_order_id"] for r in json.loads(out)] == ["OT-2"]
    # The command line wins over the file.
    code, out, _ = run("orders", "--format", "json", "--symbol", "AAPL", ORDERTRAIL_CONFIG=str(cfg))
    assert [r["client_order_id"] for r in json.loads(out)] == [LONG_ID]
    cfg.write_text('[defaults]\nhots = "10.0.0.5"\n')
    code, _, err = run("orders", ORDERTRAIL_CONFIG=str(cfg))
    assert code == 1
    assert "names no option of any command: hots" in " ".join(err.split())
    cfg.write_text("[defaults\n")
    code, _, err = run("orders", ORDERTRAIL_CONFIG=str(cfg))
    assert code == 1
    assert f"config file {cfg}" in " ".join(err.split())


def test_expected_ib_messages_are_not_errors(tmp_path: Path) -> None:
    log_file = tmp_path / "ordertrail.log"
    setup_logging(False, str(log_file))
    ib = logging.getLogger("ib_async.wrapper")
    ib.error("Error 202, reqId 7: Order Canceled - reason:")
    ib.error("Error 201, reqId 8: Order rejected - reason: margin")
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2
    assert " INFO    ib_async.wrapper: Error 202" in lines[0]
    assert " ERROR   ib_async.wrapper: Error 201" in lines[1]
    assert lines[0][:4].isdigit()  # timestamped
    keep = ExpectedIbMessages(logging.WARNING)
    record = logging.LogRecord("ib_async.wrapper", logging.ERROR, "", 0,
                               "Error 202, reqId 7: Order Canceled", None, None)  # fmt: skip
    assert keep.filter(record) is False  # not on the console without --verbose


def test_version_flag_and_completion() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.startswith("ordertrail ")
    code, out, _ = run("--help")
    assert "--install-completion" in out


def test_help_texts_are_whole_paragraphs() -> None:
    from ordertrail.adapters.cli.main import app as the_app

    for info in the_app.registered_commands:
        assert info.help, info.name
        for paragraph in info.help.split("\n\n"):
            assert "\n" not in paragraph, info.help
