"""``ordertrail import-flex`` end to end, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail

from .conftest import BROKEN, CONFIRM, MISSING, WEEK1, WEEK2, event_count

runner = CliRunner()


def run(data: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["import-flex", *args, "--data", str(data)])
    return result.exit_code, result.stdout, result.stderr


def run_json(data: Path, *args: str) -> dict[str, Any]:
    code, out, err = run(data, *args, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def verdicts(doc: dict[str, Any]) -> list[tuple[str, str, int, str, str | None, str]]:
    return [
        (r["file"][:14], r["account"], r["con_id"], r["derived"], r["statement"], r["verdict"])
        for r in doc["reconciliation"]
    ]


def test_reconciliation_verdicts_and_json_shape(tmp_path: Path) -> None:
    doc = run_json(tmp_path, str(WEEK1), str(WEEK2), str(CONFIRM))
    assert set(doc) == {"reconciliation", "cash", "live_fills", "imported", "warnings", "errors"}
    assert verdicts(doc) == [
        # Bought 60 + 40 in the week; the statement agrees.
        ("activity_2025-", "U1234567", 265598, "100", "100", "match"),
        # Sold 50 from a position held before the period: not a mismatch, say what it implies.
        ("activity_2025-", "U1234567", 272093, "-50", "150", "opening_balance_unknown"),
        # Bought 2 calls, expired (BookTrade at 0): flat, and the statement omits it.
        ("activity_2025-", "U1234567", 790000001, "0", "0", "match"),
        # Opening 100 (the statement's own MTM figure) - 40 busted + 40 replaced - 30 sold = 70.
        ("activity_2025-", "U1234567", 265598, "70", "75", "mismatch"),
        ("activity_2025-", "U1234567", 272093, "150", "150", "match"),
        # Transferred in: counted though it is no trade.
        ("activity_2025-", "U1234567", 208813719, "10", "10", "match"),
        # A Trade Confirmation has no OpenPositions section.
        ("confirm_2025-0", "U1234567", 4815747, "25", None, "nothing_to_compare"),
    ]
    msft = doc["reconciliation"][1]
    assert msft["implied_opening"] == "200"
    assert msft["symbol"] == "MSFT"
    mismatch = doc["reconciliation"][3]
    assert (mismatch["opening"], mismatch["difference"]) == ("100", "5")
    assert doc["imported"]["files"] == 3
    assert doc["imported"]["executions_recorded"] == 9
    assert doc["imported"]["cancels_applied"] == 1
    assert doc["errors"] == []


def test_reimport_records_nothing_and_reconciles_the_same(tmp_path: Path) -> None:
    first = run_json(tmp_path, str(WEEK1), str(WEEK2), str(CONFIRM))
    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    before = event_count(trail)
    second = run_json(tmp_path, str(WEEK2), str(CONFIRM), str(WEEK1))
    assert event_count(trail) == before
    imported = second["imported"]
    assert imported["executions_recorded"] == imported["orders_created"] == 0
    assert imported["executions_already_recorded"] == 9
    key = lambda r: (r["file"], r["con_id"])  # noqa: E731
    assert sorted(second["reconciliation"], key=key) == sorted(first["reconciliation"], key=key)


def test_a_bad_file_fails_alone_and_records_nothing_of_itself(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, str(MISSING), str(CONFIRM), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["imported"]["files"] == 1
    (message,) = doc["errors"]
    assert "missing_conid.xml" in message
    assert "line 9: <Trade> is missing required attribute 'conid'" in message
    assert "nothing from this file was recorded" in err
    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    # Only the confirmation's NVDA order: not the valid first TSLA fill of the bad file.
    assert {s.contract.symbol for s in trail.states().values()} == {"NVDA"}


def test_malformed_xml_exits_non_zero_with_the_line(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, str(BROKEN))
    assert code == 1
    assert "broken_truncated.xml: line 7, column 1: malformed XML" in " ".join(err.split())
    assert event_count(OrderTrail(StoreConfig.resolve(tmp_path))) == 0


def test_unknown_sections_warn_on_stderr_and_import_anyway(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, str(WEEK1))
    assert code == 0
    assert "<FancyNewSection> unknown section ignored" in " ".join(err.split())
    assert "positions" in out


def test_tz_moves_the_stored_times(tmp_path: Path) -> None:
    run_json(tmp_path, str(CONFIRM), "--tz", "UTC")
    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    (nvda,) = trail.states().values()
    times = sorted(str(x.time) for x in nvda.executions.values())
    assert times[0] == "2025-08-18 14:45:28+00:00"


def test_an_unknown_zone_is_an_error(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, str(CONFIRM), "--tz", "Mars/Olympus")
    assert code == 1
    assert "unknown time zone" in err


def test_quiet_in_pipes(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, str(CONFIRM), "--format", "json")
    assert code == 0
    assert err == ""  # no progress bar, no redraws
    json.loads(out)
