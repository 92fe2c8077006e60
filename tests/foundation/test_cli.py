"""The ``ordertrail`` command: the installed script, ``diagram`` drawn from the definition, and
``orders`` in every format on a store filled through OrderTrail."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import CommissionReported, ErrorReport, ExecutionReport, StatusReport
from ordertrail.domain.machine import ALL_STATES, machine_transitions
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)
from tests.conftest import EPOCH, Clock

runner = CliRunner()


def script() -> list[str]:
    """The installed console script (next to this interpreter), as a user would run it."""
    path = Path(sys.executable).with_name("ordertrail")
    if path.exists():
        return [str(path)]
    found = shutil.which("ordertrail")
    assert found, "the ordertrail console script is not installed"
    return [found]


def test_version_from_the_installed_script() -> None:
    result = subprocess.run([*script(), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"ordertrail {version('ordertrail')}"


def test_help_lists_the_foundation_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("diagram", "orders"):
        assert command in result.output


@pytest.mark.parametrize("anomalies", [False, True])
def test_diagram_is_generated_from_the_definition(anomalies: bool) -> None:
    args = ["diagram", "--anomalies"] if anomalies else ["diagram"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "stateDiagram" in text
    for state in ALL_STATES:
        assert re.search(rf"\b{state.value}\b", text), state
    drawn = {
        (m.group(1), m.group(2))
        for m in re.finditer(r"^\s*(\w+) --> (\w+):", text, flags=re.MULTILINE)
    }
    defined = {(t["source"], t["dest"]) for t in machine_transitions(with_anomalies=anomalies)}
    assert drawn == defined
    labels = sum(
        len(m.group(1).split(" | "))
        for m in re.finditer(r"-->\s*\w+: (.+)$", text, flags=re.MULTILINE)
    )
    assert labels == len(machine_transitions(with_anomalies=anomalies))


COIDS = ("OT-cli-filled", "OT-cli-open", "OT-cli-cancelled")


@pytest.fixture
def filled_store(tmp_path: Path, clock: Clock) -> Path:
    """A data directory with three orders recorded through OrderTrail."""
    data = tmp_path / "data"
    trail = OrderTrail(StoreConfig.resolve(data), clock=clock)
    spec = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("50.25"))
    for n, coid in enumerate(COIDS, start=1):
        oid = trail.place(client_order_id=coid, contract=ContractRef(4391, "AMD"), spec=spec)
        trail.submit(oid, client_id=1, order_id=n)
        trail.record(
            FactKey(order_ref=coid, perm_id=9000 + n),
            StatusReport(
                raw_status="Submitted",
                filled=Decimal(0),
                remaining=Decimal(100),
                avg_fill_price=None,
                perm_id=FactKey(order_ref=coid, perm_id=9000 + n).perm_id,
            ),
        )
    x = Execution(
        "0001f4e8.65f1a2b3.01.01", EPOCH, "DU1", "ISLAND", Side.BOUGHT, Decimal(100),
        Decimal("50.20"), perm_id=9001, order_ref=COIDS[0],
    )  # fmt: skip
    trail.record(FactKey(order_ref=COIDS[0]), ExecutionReport(x))
    trail.record(None, CommissionReported(CommissionReport(x.exec_id, Decimal("1.25"), "USD")))
    trail.record(
        FactKey(order_ref=COIDS[2]), ErrorReport(code=202, message="Order Canceled - reason:")
    )
    trail.close()
    return data


EXPECTED_STATUS = {"OT-cli-filled": "Filled", "OT-cli-open": "Submitted",
                   "OT-cli-cancelled": "Cancelled"}  # fmt: skip


def _row_for(rows: list[dict[str, object]], coid: str) -> dict[str, object]:
    matches = [r for r in rows if coid in {str(v) for v in r.values()}]
    assert len(matches) == 1, (coid, rows)
    return matches[0]


def test_orders_json(filled_store: Path) -> None:
    result = runner.invoke(app, ["orders", "--data", str(filled_store), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == len(COIDS)
    for coid, status in EXPECTED_STATUS.items():
        row = _row_for(rows, coid)
        assert status in {str(v) for v in row.values()}, row
    filled = _row_for(rows, "OT-cli-filled")
    assert any(Decimal(str(v)) == Decimal("50.20") for v in filled.values() if _is_number(v))


def _is_number(v: object) -> bool:
    try:
        Decimal(str(v))
    except ArithmeticError:
        return False
    return v is not None and not isinstance(v, bool)


def test_orders_csv(filled_store: Path) -> None:
    result = runner.invoke(app, ["orders", "--data", str(filled_store), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(COIDS)
    for coid, status in EXPECTED_STATUS.items():
        assert status in _row_for(rows, coid).values()  # type: ignore[arg-type]


def test_orders_table(filled_store: Path) -> None:
    result = runner.invoke(
        app, ["orders", "--data", str(filled_store), "--format", "table"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    for coid, status in EXPECTED_STATUS.items():
        line = next(line for line in result.stdout.splitlines() if coid in line)
        assert status in line


def test_orders_on_a_missing_data_dir_fails_and_creates_nothing(tmp_path: Path) -> None:
    # A mistyped --data must not create an empty store and answer "no orders".
    result = runner.invoke(app, ["orders", "--data", str(tmp_path / "none"), "--format", "json"])
    assert result.exit_code == 1
    assert "no event store at" in result.stderr
    assert not (tmp_path / "none").exists()


def test_orders_refuses_a_store_that_is_not_postgresql(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["orders", "--data", str(tmp_path), "--store", "mysql://x", "--format", "json"]
    )
    assert result.exit_code == 1
    assert "postgresql://" in result.output
