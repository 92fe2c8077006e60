"""Identifiers past 64 bits, end to end: IB documents no width for a permId, a conId or a
Flex ibOrderID, and each is a fact to keep whole. A Flex statement, a live session against
the simulator, and that session's tape replayed: every one records the value exactly, a rerun
records nothing twice, and the Delta tables (int64 columns) refuse it in one line."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path

from ib_async import LimitOrder, Stock
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.simulator import Scenario
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.testing.harness import IbErrorLog, run_with_simulator
from ordertrail.adapters.trail import OrderTrail
from tests.flex.conftest import WEEK1, WEEK2
from tests.tape.sessions import Live, record_live

runner = CliRunner()
HUGE = 2**70 + 12345  # past orjson's 64 bits and pyarrow's int64 alike
PROJECTION_REFUSED = re.compile(r"projection refused: \w+ \d+ of .* does not fit .* left out")


def states(data: Path) -> dict[object, object]:
    trail = OrderTrail(StoreConfig.resolve(data))
    try:
        return dict(trail.states())
    finally:
        trail.close()


def test_a_flex_statement_with_a_huge_order_id_and_conid_imports_and_round_trips(
    tmp_path: Path,
) -> None:
    text = WEEK1.read_text()
    order_id = re.search(r'ibOrderID="(\d+)"', text)
    conid = re.search(r'conid="(\d+)"', text)
    assert order_id is not None
    assert conid is not None
    big = tmp_path / "big.xml"
    big.write_text(
        text.replace(f'ibOrderID="{order_id[1]}"', f'ibOrderID="{HUGE}"').replace(
            f'conid="{conid[1]}"', f'conid="{HUGE + 1}"'
        )
    )
    data = str(tmp_path / "data")
    first = runner.invoke(app, ["import-flex", str(big), "--data", data])
    assert first.exit_code == 0, first.output
    found = states(tmp_path / "data")
    assert any(s.perm_id == HUGE for s in found.values())  # type: ignore[attr-defined]
    assert any(s.contract.con_id == HUGE + 1 for s in found.values())  # type: ignore[attr-defined]
    again = runner.invoke(app, ["import-flex", str(big), "--data", data])
    assert again.exit_code == 0, again.output
    assert states(tmp_path / "data") == found
    assert runner.invoke(app, ["verify", "--data", data]).exit_code == 0
    rebuilt = runner.invoke(app, ["rebuild", "--data", data])
    assert rebuilt.exit_code == 1
    assert PROJECTION_REFUSED.search(rebuilt.stderr), rebuilt.stderr
    assert "Traceback" not in rebuilt.output
    # Only the rows that hold the huge values are left out: every other order of the week is
    # in the tables, and the huge order's events are in the events table, whole.
    fitting = [
        s
        for s in found.values()
        if HUGE not in (s.perm_id, s.contract.con_id - 1)  # type: ignore[attr-defined]
    ]
    assert 0 < len(fitting) < len(found)
    sql = ["sql", "SELECT count(*) AS n FROM orders", "--data", data, "--format", "csv"]
    orders = runner.invoke(app, sql)
    assert orders.exit_code == 0, orders.output
    assert orders.stdout.split() == ["n", str(len(fitting))]
    events = runner.invoke(
        app, ["sql", "SELECT payload FROM events", "--data", data, "--format", "csv"]
    )
    assert str(HUGE) in events.stdout
    # The next statement busts a fill whose row was left out: the update, which restores only
    # what the new events touch, cannot find it, so the tables are recomputed from the log.
    later = tmp_path / "later.xml"
    later.write_text(WEEK2.read_text().replace(f'conid="{conid[1]}"', f'conid="{HUGE + 1}"'))
    assert runner.invoke(app, ["import-flex", str(later), "--data", data]).exit_code == 0
    shown = runner.invoke(app, ["positions", "--data", data, "--format", "csv"])
    assert shown.exit_code == 1
    assert PROJECTION_REFUSED.search(shown.stderr), shown.stderr
    assert "Traceback" not in shown.output
    assert "MSFT" in shown.stdout


HUGE_STOCK = Stock("AAPL", "SMART", "USD", conId=HUGE + 1)


async def huge_session(s: Live) -> None:
    trade = s.ib.placeOrder(HUGE_STOCK, LimitOrder("BUY", 10, 150, orderRef="t-huge"))
    await s.until(lambda: trade.orderStatus.status == "Submitted")
    s.h.sim.fill(trade.order.orderId, 10, 150)
    await s.until(lambda: trade.orderStatus.status == "Filled")


def test_a_live_session_and_its_tape_with_a_huge_perm_id_and_con_id(tmp_path: Path) -> None:
    tape, errors = tmp_path / "huge.tape", IbErrorLog()
    scenario = Scenario(prices={"AAPL": Decimal(150)}, auto_fill=False, first_perm_id=HUGE)

    async def body(h: object) -> None:
        await record_live(h, tmp_path / "live", tape, huge_session)  # type: ignore[arg-type]

    asyncio.run(run_with_simulator(body, errors, scenario))
    assert not errors.unexpected()
    live = states(tmp_path / "live")
    (order,) = live.values()
    assert order.perm_id >= HUGE  # type: ignore[attr-defined]
    assert order.contract.con_id == HUGE + 1  # type: ignore[attr-defined]
    assert order.status.value == "Filled"  # type: ignore[attr-defined]
    assert f'"{order.perm_id}"' in tape.read_text()  # type: ignore[attr-defined]

    data = str(tmp_path / "replayed")
    replayed = runner.invoke(app, ["replay", str(tape), "--data", data])
    assert replayed.exit_code == 0, replayed.output
    (again,) = states(tmp_path / "replayed").values()
    assert again.perm_id == order.perm_id  # type: ignore[attr-defined]
    assert again.contract.con_id == HUGE + 1  # type: ignore[attr-defined]
    assert again.filled == Decimal(10)  # type: ignore[attr-defined]
    rerun = runner.invoke(app, ["replay", str(tape), "--data", data])
    assert rerun.exit_code == 0, rerun.output
    assert "0 events recorded" in rerun.output
