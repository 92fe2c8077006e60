"""Scenario files: the documented schema loads, and bad input names the file and the field."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, LimitOrder, Stock

from ordertrail.adapters.simulator import (
    BehaviourKind,
    CancelError,
    CommissionTiming,
    Instrument,
    ScenarioError,
    SessionMessage,
    load_scenario,
    serve,
)

EXAMPLE = {
    "server_version": 176,
    "accounts": ["DU111", "DU222"],
    "next_order_id": 100,
    "cash": 250000,
    "commission": {"per_share": 0.0035, "minimum": 0.35},
    "auto_fill": True,
    "prices": {"AAPL": 189.5, "MSFT": "410.25"},
    "prices_by_con_id": {"265598": 189.25},
    "behaviours": [
        {"order_ref": "nope", "kind": "reject", "code": 201, "text": "No margin", "inactive": True},
        {
            "order_ref": "slow",
            "kind": "fills",
            "fills": [{"qty": 40}, {"qty": 60, "price": 189}],
            "commission": "late",
        },
        {"order_ref": "hang", "kind": "stuck"},
    ],
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    return path


def test_example_scenario_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, EXAMPLE))
    assert scenario.server_version == 176
    assert scenario.accounts == ["DU111", "DU222"]
    assert scenario.prices == {"AAPL": Decimal("189.5"), "MSFT": Decimal("410.25")}
    assert scenario.price_for(265598, "AAPL") == Decimal("189.25")  # conId wins over symbol
    assert scenario.commission_for(Decimal(10)) == Decimal("0.35")
    assert scenario.commission_for(Decimal(1000)) == Decimal("3.5")
    slow = scenario.behaviour_for("slow")
    assert slow is not None
    assert slow.kind is BehaviourKind.FILLS
    assert [f.qty for f in slow.fills] == [40, 60]
    assert slow.commission_timing is CommissionTiming.LATE


def test_request_and_session_options_load(tmp_path: Path) -> None:
    data = {
        "time_zone": "America/New_York",
        "time_zone_name": "Eastern Standard Time",
        "cancel_error": "before",
        "connect_messages": [{"code": 2104}, {"code": 202, "text": "x", "req_id": 7}],
        "contracts": [
            {"con_id": 265598, "symbol": "AAPL", "primary_exchange": "NASDAQ", "min_tick": 0.01}
        ],
        "behaviours": [
            {"order_ref": "a", "refuse_modify": 110, "refuse_modify_text": "tick"},
            {"order_ref": "b", "defer_cancel": True, "completed_total_quantity": 0},
        ],
    }
    scenario = load_scenario(write(tmp_path, data))
    assert scenario.tws_time_zone.zone == "America/New_York"
    assert scenario.tws_time_zone.name == "Eastern Standard Time"
    assert scenario.cancel_error is CancelError.BEFORE
    assert scenario.connect_messages == [SessionMessage(2104), SessionMessage(202, "x", 7)]
    assert scenario.contracts == [Instrument(265598, "AAPL", primary_exchange="NASDAQ")]
    a, b = scenario.behaviour_for("a"), scenario.behaviour_for("b")
    assert a is not None
    assert b is not None
    assert (a.kind, a.refuse_modify, a.refuse_modify_text) == (BehaviourKind.ACCEPT, 110, "tick")
    assert (b.defer_cancel, b.completed_total_quantity) == (True, 0)


def test_docs_example_is_valid(tmp_path: Path) -> None:
    doc = Path(__file__).parents[2] / "docs" / "simulator.md"
    block = doc.read_text().split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "from-docs.json"
    path.write_text(block)
    assert load_scenario(path).behaviours


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prices": {"AAPL": "abc"}}, "field 'prices.AAPL': expected a number"),
        ({"accounts": []}, "accounts"),
        ({"server_version": 190}, "server_version 190 is outside 157..178"),
        ({"behaviours": [{"order_ref": "x", "kind": "explode"}]}, "'behaviours[0].kind'"),
        ({"behaviours": [{"order_ref": "x", "kind": "fills"}]}, "'behaviours[0].fills'"),
        ({"behaviours": [{"order_ref": "x", "kind": "fills", "fills": [{"qty": "a"}]}]},
         "'behaviours[0].fills[0].qty'"),
        ({"commission": {"per_share": True}}, "'commission.per_share'"),
        ({"pricez": {}}, "field 'pricez': unknown field"),
        ({"prices_by_con_id": {"x1": 1}}, "'prices_by_con_id.x1 (key)'"),
        ({"time_zone": "Mars/Olympus"}, "time_zone: 'Mars/Olympus' is not an IANA time zone"),
        ({"cancel_error": "sometimes"}, "'cancel_error': 'sometimes' is not one of after"),
        ({"connect_messages": [{"code": "x"}]}, "'connect_messages[0].code'"),
        ({"connect_messages": [{"code": 2104, "when": 1}]}, "'connect_messages[0].when'"),
        ({"contracts": [{"symbol": "AAPL"}]}, "'contracts[0].con_id': expected a positive"),
        ({"contracts": [{"con_id": 1}]}, "'contracts[0].symbol'"),
        ({"contracts": [{"con_id": 1, "symbol": "A", "min_tick": "x"}]}, "'contracts[0].min_tick'"),
        ({"behaviours": [{"order_ref": "x", "refuse_modify": "no"}]},
         "'behaviours[0].refuse_modify'"),
        ({"behaviours": [{"order_ref": "x", "defer_cancel": 1}]}, "'behaviours[0].defer_cancel'"),
    ],
)  # fmt: skip
def test_bad_scenarios_name_file_and_field(tmp_path: Path, data: object, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ScenarioError, match=r"bad\.json: not valid JSON"):
        load_scenario(bad)


def test_serve_runs_a_scenario_until_cancelled(tmp_path: Path, ib_errors: Any) -> None:
    scenario = load_scenario(write(tmp_path, EXAMPLE))

    async def main() -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = asyncio.create_task(serve("127.0.0.1", port, scenario))
        await asyncio.sleep(0.05)
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=1)
        assert ib.client.serverVersion() == 176
        assert ib.client.getReqId() >= 100
        trade = ib.placeOrder(Stock("MSFT", "SMART", "USD"), LimitOrder("BUY", 1, 411))
        while trade.orderStatus.status != "Filled":
            await asyncio.sleep(0.01)
        assert trade.fills[0].execution.price == 410.25
        ib.disconnect()
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server

    asyncio.run(asyncio.wait_for(main(), 10))
