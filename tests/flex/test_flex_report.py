"""The reconciliation report: options exercised, assigned and expired, FX conversions as cash
balances, live fills against the statement's, and --fail-on for scheduled jobs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app
from ordertrail.adapters.flex.statement import read_flex_file
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.values import (
    Side,
)

from .builders import record_live_fill, statement_xml, stock_trade, write
from .conftest import DATA, WEEK1, WEEK2

OPTIONS_FX = DATA / "activity_2025-09-15_19_options_fx.xml"
runner = CliRunner()
D = Decimal


def run(data: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["import-flex", *args, "--data", str(data), "--format", "json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_exercise_assignment_expiry_and_fx_reconcile(tmp_path: Path) -> None:
    code, doc, err = run(tmp_path, str(OPTIONS_FX))
    assert code == 0, err
    assert err == ""  # the OptionEAE section agrees with the book entries: no warning
    positions = {
        (r["con_id"], r["derived"], r["statement"], r["verdict"]) for r in doc["reconciliation"]
    }
    assert positions == {
        (265598, "200", "200", "match"),  # 2 calls exercised: 200 AAPL at the strike
        (272093, "100", "100", "match"),  # 1 short put assigned: 100 MSFT
        (38811, "10", "10", "match"),  # Nestle, bought in CHF
        (800000001, "0", "0", "match"),  # opening 2 calls - 2 exercised
        (800000002, "0", "0", "match"),  # opening -1 put + 1 assigned
        (800000003, "0", "0", "match"),  # opening 1 put - 1 expired
    }
    # The conversion is no position: USD.CHF (conid 12087817) is not in the position checks.
    cash = {
        (r["currency"], r["derived"], r["statement"], r["stated_by"], r["verdict"])
        for r in doc["cash"]
    }
    assert cash == {
        ("CHF", "3045", "3045", "FxPositions", "match"),  # +4000 converted, -955 Nestle
        # 150000 - 5000 converted - 2 commission - 46000 - 50000 + 12.50 dividend
        ("USD", "49010.5", "49010.5", "CashReport", "match"),
    }
    assert doc["imported"]["executions_recorded"] == 7
    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    book = {
        x.exec_id: (x.side, x.shares, x.price)
        for s in trail.states().values()
        for x in s.executions.values()
    }
    assert book["FLEX-T7004"] == (Side.BOUGHT, D(200), D(230))
    assert book["FLEX-T7003"] == (Side.SOLD, D(2), D(0))


def test_an_option_eae_section_that_disagrees_is_reported(tmp_path: Path) -> None:
    text = OPTIONS_FX.read_text().replace(
        'transactionType="Expiration" quantity="-1"', 'transactionType="Expiration" quantity="-3"'
    )
    path = tmp_path / "eae.xml"
    path.write_text(text)
    code, doc, _ = run(tmp_path / "data", str(path))
    assert code == 0
    (warning,) = doc["warnings"]
    assert "OptionEAE moves conid 800000003 by -3 but the Trades section books -1" in warning


def test_cash_without_a_stated_opening_is_an_implied_opening(tmp_path: Path) -> None:
    text = OPTIONS_FX.read_text().replace('startingCash="0"', 'startingCash=""')
    path = tmp_path / "no_opening.xml"
    path.write_text(text)
    _, doc, _ = run(tmp_path / "data", str(path))
    chf = next(r for r in doc["cash"] if r["currency"] == "CHF")
    assert (chf["verdict"], chf["implied_opening"]) == ("match", None)
    text = text.replace('quantity="3045" costPrice', 'quantity="3145" costPrice')
    path.write_text(text)
    _, doc, _ = run(tmp_path / "data2", str(path))
    chf = next(r for r in doc["cash"] if r["currency"] == "CHF")
    assert (chf["verdict"], chf["implied_opening"]) == ("opening_balance_unknown", "100")


def test_fail_on_mismatch_and_unknown(tmp_path: Path) -> None:
    # Week 1 has a position held before the period (unknown); week 2 a mismatch.
    code, _, _ = run(tmp_path / "a", str(WEEK1), "--fail-on", "mismatch")
    assert code == 0
    code, _, err = run(tmp_path / "b", str(WEEK1), "--fail-on", "unknown")
    assert code == 3
    assert "reconciliation failed" in err
    code, _, _ = run(tmp_path / "c", str(WEEK1), str(WEEK2), "--fail-on", "mismatch")
    assert code == 3
    code, _, _ = run(tmp_path / "d", str(OPTIONS_FX), "--fail-on", "unknown")
    assert code == 0


def test_live_fills_against_the_statement(tmp_path: Path) -> None:
    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    # The statement's first AAPL fill, recorded live at another price and commission.
    record_live_fill(
        trail,
        "0000e0d5.6891a001.01.01",
        order_id=5,
        shares="60",
        price="210.05",
        at=datetime(2025, 8, 5, 14, 15, tzinfo=UTC),
        commission="0.30",
    )
    # A fill the live record has and IB's books do not.
    record_live_fill(
        trail,
        "0000e0d5.ffff0001.01.01",
        order_id=6,
        shares="60",
        price="209.00",
        at=datetime(2025, 8, 6, 14, 15, tzinfo=UTC),
        commission="0.10",
    )
    code, doc, err = run(tmp_path, str(WEEK1))
    assert code == 0, err
    # Same execId, another price: the statement's version is kept beside the live one.
    assert doc["imported"]["execution_conflicts"] == 1
    (cmp,) = doc["live_fills"]
    assert (cmp["compared_from"], cmp["compared_to"]) == ("2025-08-05", "2025-08-06")
    assert cmp["paired"] == 1
    found = {(c["verdict"], c["exec_id"]): c["detail"] for c in cmp["checks"]}
    assert found == {
        ("differs", "0000e0d5.6891a001.01.01"): "live 0000e0d5.6891a001.01.01: "
        "price 210.05 live vs 210.10; commission 0.30 live vs 0.35",
        # The statement's other fills of the 5th and 6th were not recorded live.
        ("missing_live", "0000e0d5.6891a002.01.01"): "not in the live record",
        ("missing_live", "0000e0d5.6891a003.01.01"): "not in the live record",
        ("missing_live", "0000e0d5.6891a004.01.01"): "not in the live record",
        ("missing_in_statement", "0000e0d5.ffff0001.01.01"): "recorded live, not in the statement",
    }
    code, _, _ = run(tmp_path, str(WEEK1), "--fail-on", "mismatch")
    assert code == 3


def test_a_corporate_action_counts_once_though_ib_writes_it_twice(tmp_path: Path) -> None:
    split = {"accountId": "U1234567", "symbol": "AAPL", "conid": "265598", "actionID": "81"}
    other = {"accountId": "U1234567", "symbol": "AAPL", "conid": "265598", "actionID": "82"}
    xml = statement_xml(
        [stock_trade(ibExecID="E1.01", ibOrderID="1")],
        sections={
            "CorporateActions": [
                # A 2:1 split: IB states it as a SUMMARY row and a DETAIL row, same actionID.
                ("CorporateAction", {**split, "levelOfDetail": "SUMMARY", "quantity": "100"}),
                ("CorporateAction", {**split, "levelOfDetail": "DETAIL", "quantity": "100"}),
                # A stock dividend written only as a SUMMARY row.
                ("CorporateAction", {**other, "levelOfDetail": "SUMMARY", "quantity": "5"}),
            ],
            "OpenPositions": [
                (
                    "OpenPosition",
                    {
                        "accountId": "U1234567",
                        "symbol": "AAPL",
                        "conid": "265598",
                        "position": "205",
                        "levelOfDetail": "SUMMARY",
                    },
                ),
            ],
        },
    )
    code, doc, err = run(tmp_path / "data", str(write(tmp_path, "ca.xml", xml)))
    assert code == 0, err
    (check,) = doc["reconciliation"]
    assert (check["derived"], check["statement"], check["verdict"]) == ("205", "205", "match")
    assert doc["imported"]["quantity_moves"] == 2


def test_cash_of_a_row_without_net_cash_counts_the_multiplier(tmp_path: Path) -> None:
    option = stock_trade(
        ibExecID="E1.01",
        assetCategory="OPT",
        conid="790000001",
        multiplier="100",
        quantity="2",
        tradePrice="1.25",
        ibCommission="-1.30",
    )
    (st,) = read_flex_file(write(tmp_path, "o.xml", statement_xml([option]))).statements
    assert [(c.currency, c.amount) for c in st.cash_flows] == [("USD", D("-251.30"))]


def test_cash_that_no_section_states_has_nothing_to_compare(tmp_path: Path) -> None:
    text = re.sub(r"<CashReport>.*</CashReport>\n", "", OPTIONS_FX.read_text(), flags=re.S)
    path = tmp_path / "fx_only.xml"
    path.write_text(text)
    _, doc, _ = run(tmp_path / "data", str(path))
    verdicts = {r["currency"]: (r["verdict"], r["stated_by"]) for r in doc["cash"]}
    # FxPositions states non-base currencies only; without CashReport, USD is not stated. CHF
    # has no stated opening now: its derived balance is the week's flows, and they agree.
    assert verdicts == {"CHF": ("match", "FxPositions"), "USD": ("nothing_to_compare", None)}
