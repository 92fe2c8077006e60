"""``ordertrail place | cancel | bracket | close | twap``: dry run, and against the simulator
over a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.simulator import Scenario
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.order import Order
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus

from .conftest import LISTED, Served, serve

runner = CliRunner()


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, list(args))
    out = result.stdout.strip().splitlines()
    return result.exit_code, json.loads(out[-1]) if out else {}, result.stderr


def ids(row: dict[str, Any]) -> list[str]:
    return [str(c) for c in row["order_ids"]]


def recorded(data: Path, coid: str) -> OrderState:
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        return trail.get(Order.id_for(client_order_id=coid)).state
    finally:
        trail.close()


def status(data: Path, coid: str) -> OrderStatus:
    return recorded(data, coid).status


def test_dry_run_commands(tmp_path: Path) -> None:
    d = ["--dry-run", "--data", str(tmp_path)]
    code, row, _ = run("place", "AAPL", "--action", "BUY", "--qty", "10", "--limit", "150", *d)
    assert code == 0
    assert row["action"] == "DRY_RUN"
    (coid,) = ids(row)
    assert coid.startswith("DRY_OT-")
    assert status(tmp_path, coid) is OrderStatus.FILLED

    stop = ("place", "AAPL", "--action", "SELL", "--qty", "10", "--type", "STP", "--stop", "140")
    code, row, _ = run(*stop, *d)
    assert code == 0
    (stop_id,) = ids(row)
    code, row, _ = run("cancel", stop_id, "--data", str(tmp_path))
    assert (code, row["action"]) == (0, "DRY_RUN")
    assert status(tmp_path, stop_id) is OrderStatus.CANCELLED

    bracket = (
        "bracket",
        "AAPL",
        "--action",
        "BUY",
        "--qty",
        "5",
        "--entry",
        "149",
        "--take-profit",
        "152",
        "--stop-loss",
        "147",
    )
    code, row, _ = run(*bracket, *d)
    assert code == 0
    assert len(row["order_ids"]) == 3

    code, row, _ = run("close", "AAPL", "--position", "10", "--mark", "150", *d)
    assert code == 0
    twap = (
        "twap",
        "AAPL",
        "--action",
        "BUY",
        "--qty",
        "13",
        "--limit",
        "150",
        "--slices",
        "5",
        "--duration",
        "0",
    )
    code, row, _ = run(*twap, *d)
    assert code == 0
    assert row["filled"] == "13"
    assert len(row["order_ids"]) == 5


def test_refusals_exit_non_zero_with_the_rule(tmp_path: Path) -> None:
    d = ["--dry-run", "--data", str(tmp_path)]
    code, row, err = run("place", "AAPL", "--action", "BUY", "--qty", "1", "--type", "MKT", *d)
    assert code == 1
    assert row["success"] is False
    assert "no_market_orders" in err
    code, _, err = run(
        "place",
        "AAPL",
        "--action",
        "BUY",
        "--qty",
        "500",
        "--limit",
        "150",
        "--max-quantity",
        "100",
        *d,
    )
    assert code == 1
    assert "max_order_quantity" in err
    code, _, err = run("close", "AAPL", "--position", "10", *d)
    assert code == 1
    assert "mark" in err
    code, _, err = run("place", "AAPL", "--action", "BUY", "--qty", "-1", "--limit", "1", *d)
    assert code == 1
    assert "quantity" in err
    code, _, err = run("cancel", "OT-live-1", "--dry-run", "--data", str(tmp_path))
    assert code == 1
    assert "live order" in err


def test_place_and_cancel_against_the_simulator(tmp_path: Path, simulator_port: int) -> None:
    conn = ["--port", str(simulator_port), "--client-id", "7", "--data", str(tmp_path)]
    code, row, err = run("place", "AAPL", "--action", "BUY", "--qty", "10", "--limit", "140", *conn)
    assert code == 0, err
    assert row["action"] == "PLACED"
    (coid,) = ids(row)
    assert status(tmp_path, coid) is OrderStatus.SUBMITTED
    # A new process, a new session: the order is found again through IB's open orders.
    code, row, err = run("cancel", coid, *conn)
    assert code == 0, err
    assert status(tmp_path, coid) is OrderStatus.CANCELLED
    code, row, err = run("place", "AAPL", "--action", "BUY", "--qty", "10", "--limit", "151", *conn)
    assert code == 0, err
    assert status(tmp_path, str(row["order_ids"][0])) is OrderStatus.FILLED


def test_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run(
        "place",
        "AAPL",
        "--action",
        "BUY",
        "--qty",
        "1",
        "--limit",
        "150",
        "--port",
        "1",
        "--data",
        str(tmp_path),
    )
    assert code == 1
    assert "cannot connect" in err


@pytest.fixture
def absurd_market_port() -> Iterator[int]:
    """A simulator whose AAPL trades at 1e300: any marketable order fills at a price the
    recorder must refuse (no real price comes near; it would break every later read)."""
    yield from serve(Scenario(prices={"AAPL": Decimal("1e300")}, contracts=list(LISTED)))


def test_a_placed_order_whose_facts_were_refused_exits_non_zero(
    tmp_path: Path, absurd_market_port: int
) -> None:
    conn = ["--port", str(absurd_market_port), "--client-id", "7", "--data", str(tmp_path)]
    code, row, err = run(
        "place", "AAPL", "--action", "SELL", "--qty", "10", "--limit", "140", *conn
    )
    # The order was placed (the JSON row says so) but IB's execution could not be recorded:
    # the store does not say what IB did, and the exit code tells the script.
    assert row["action"] == "PLACED"
    assert code == 1
    assert "could not record" in err
    assert "price" in err, err
    (coid,) = ids(row)
    assert status(tmp_path, coid) is not OrderStatus.FILLED


def resting_buy(conn: list[str]) -> str:
    """A BUY limit below the market (AAPL at 150): it works, unfilled."""
    code, row, err = run("place", "AAPL", "--action", "BUY", "--qty", "10", "--limit", "140", *conn)
    assert code == 0, err
    (coid,) = ids(row)
    return coid


def test_modify_changes_a_working_order_at_the_broker_and_in_the_record(
    tmp_path: Path, served: Served
) -> None:
    conn = ["--port", str(served.port), "--client-id", "7", "--data", str(tmp_path)]
    coid = resting_buy(conn)
    # Another process, no --client-id: the modify goes out as client 7, which placed it.
    where = ["--port", str(served.port), "--data", str(tmp_path)]
    code, row, err = run("modify", coid, "--limit", "145", "--qty", "12", *where)
    assert code == 0, err
    assert row["action"] == "MODIFIED"
    at_broker = served.control(lambda sim: sim.order_by_ref(coid).ticket)
    assert (at_broker.lmt_price, at_broker.total_quantity) == (Decimal(145), Decimal(12))
    state = recorded(tmp_path, coid)
    assert (state.spec.limit_price, state.spec.quantity) == (Decimal(145), Decimal(12))
    assert state.status is OrderStatus.SUBMITTED


def test_a_modify_ib_refuses_exits_non_zero_and_the_order_keeps_its_terms(
    tmp_path: Path, served: Served
) -> None:
    conn = ["--port", str(served.port), "--client-id", "7", "--data", str(tmp_path)]
    coid = resting_buy(conn)
    served.control(lambda sim: sim.refuse_modify(sim.order_by_ref(coid), 201, "margin"))
    code, row, err = run("modify", coid, "--limit", "141", *conn)
    assert code == 1
    assert row["success"] is False
    assert "IB refused the modify" in err
    assert "error 201" in err
    state = recorded(tmp_path, coid)
    assert state.spec.limit_price == Decimal(140)
    assert state.status is OrderStatus.SUBMITTED
    assert state.modifications_refused == 1


def test_modify_refuses_what_it_cannot_send(tmp_path: Path) -> None:
    d = ["--data", str(tmp_path)]
    code, _, err = run("modify", "OT-nowhere-1", "--limit", "1", *d)
    assert code == 1
    assert "no order OT-nowhere-1" in err
    code, row, _ = run(
        "place", "AAPL", "--action", "BUY", "--qty", "10", "--limit", "150", "--dry-run", *d
    )
    (filled,) = ids(row)
    code, _, err = run("modify", filled, *d)
    assert code == 1
    assert "nothing to change" in err
    code, _, err = run("modify", filled, "--limit", "149", *d)
    assert code == 1
    assert "Filled" in err
    code, row, _ = run(
        "place",
        "AAPL",
        "--action",
        "SELL",
        "--qty",
        "10",
        "--type",
        "STP",
        "--stop",
        "140",
        "--dry-run",
        *d,
    )
    (stop_id,) = ids(row)
    code, row, err = run("modify", stop_id, "--stop", "138", "--max-quantity", "100", *d)
    assert (code, row["action"]) == (0, "DRY_RUN"), err
    assert recorded(tmp_path, stop_id).spec.stop_price == Decimal(138)
    code, _, err = run("modify", stop_id, "--qty", "500", "--max-quantity", "100", *d)
    assert code == 1
    assert "max_order_quantity" in err
    assert recorded(tmp_path, stop_id).spec.quantity == Decimal(10)
