"""The guards a trader relies on, through the real ib_async client against the simulator:
client ids that coexist with a recorder, connect failures named, contracts qualified before
sending, positions from IB rather than a typed guess, and the paper/live guard."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from ordertrail.adapters.ib.session import ConnectFailed, IbSession, trading_mode
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.identity import order_uuid
from ordertrail.domain.planning import PositionLeg
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

from .conftest import live, priced
from .test_cli import run

D = Decimal
BY_SYMBOL = ContractRef(0, "AAPL")


def limit(action: OrderAction, qty: int, price: str) -> OrderSpec:
    return OrderSpec(action, D(qty), OrderType.LIMIT, limit_price=D(price))


def test_a_duplicate_client_id_fails_at_once_naming_error_326(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"326", r"Peer closed", r"API connection failed", r"Make sure API")
        await h.connect(1)  # e.g. `ordertrail record --client-id 1`
        with pytest.raises(ConnectFailed) as refused:
            await IbSession(trail).connect("127.0.0.1", h.sim.port, 1, timeout=30)
        text = str(refused.value)
        assert "as client id 1" in text
        assert "IB error 326" in text
        assert "\n" not in text
        with pytest.raises(ConnectFailed, match="connection refused"):
            await IbSession(trail).connect("127.0.0.1", 1, 5)

    sim_run(body, priced())


def test_the_order_commands_default_to_a_client_id_the_recorder_does_not_use(
    sim_run: Any, tmp_path: Any
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 202")
        await h.connect(1)  # the README's recorder
        conn = ["--port", str(h.sim.port), "--data", str(tmp_path)]
        code, row, err = await asyncio.to_thread(
            run, "place", "AAPL", "--action", "BUY", "--qty", "5", "--limit", "140", *conn
        )
        assert code == 0, err
        (coid,) = row["order_ids"]
        # cancel without --client-id: the store knows which client placed it.
        code, row, err = await asyncio.to_thread(run, "cancel", coid, *conn)
        assert code == 0, err
        assert row["action"] == "CANCELLED"
        code, _, err = await asyncio.to_thread(run, "cancel", coid, *conn, "--client-id", "9")
        assert code == 1
        assert "placed by client id 2" in err
        assert "--client-id 2" in err

    sim_run(body, priced())


def test_orders_typed_by_symbol_are_qualified_to_ibs_contract(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        h.errors.expect(r"Error 200")
        s = await live(h, trail)
        by_symbol = await s.engine.place_order(BY_SYMBOL, limit(OrderAction.BUY, 10, "140"))
        assert by_symbol.success, by_symbol
        assert s.state(by_symbol.order_ids[0]).contract.con_id == 265598
        ambiguous = ContractRef(0, "ES", "FUT", "CME", multiplier=D(50))
        before = len(trail.states())
        r = await s.engine.place_order(ambiguous, limit(OrderAction.BUY, 1, "5000"))
        assert not r.success
        assert "ambiguous, 2 contracts match" in (r.error or "")
        assert "495512557" in (r.error or "")
        assert "495512563" in (r.error or "")
        unknown = await s.engine.place_order(ContractRef(0, "ZZZZ"), limit(OrderAction.BUY, 1, "1"))
        assert "IB knows no contract ZZZZ" in (unknown.error or "")
        assert len(trail.states()) == before  # nothing recorded, nothing sent

    sim_run(body, priced())


def test_close_takes_ibs_position_and_refuses_a_typed_figure_that_grows_it(
    sim_run: Any, tmp_path: Any
) -> None:
    async def body(h: Any) -> None:
        conn = ["--port", str(h.sim.port), "--data", str(tmp_path)]
        code, _, err = await asyncio.to_thread(
            run, "place", "AAPL", "--action", "SELL", "--qty", "1300", "--limit", "149", *conn
        )
        assert code == 0, err  # filled: short 1,300
        code, row, err = await asyncio.to_thread(
            run, "close", "AAPL", "--position", "500", "--mark", "150", *conn
        )
        assert code == 1
        assert "rule reduces_position" in err
        assert "from -1300 to -1800" in err
        code, row, err = await asyncio.to_thread(run, "close", "AAPL", "--mark", "150", *conn)
        assert code == 0, err
        saved = OrderTrail(StoreConfig.resolve(tmp_path))
        (coid,) = row["order_ids"]
        state = saved.get(order_uuid(client_order_id=coid)).state
        assert (state.spec.action, state.spec.quantity) == (OrderAction.BUY, D(1300))
        assert state.status is OrderStatus.FILLED

    sim_run(body, priced())


def test_the_engine_refuses_a_close_the_recorded_fills_contradict(
    sim_run: Any, trail: OrderTrail
) -> None:
    async def body(h: Any) -> None:
        s = await live(h, trail)
        bought = await s.engine.place_order(BY_SYMBOL, limit(OrderAction.BUY, 100, "151"))
        await h.wait_until(lambda: s.state(bought.order_ids[0]).status is OrderStatus.FILLED)
        aapl = s.state(bought.order_ids[0]).contract
        assert await s.engine.position(BY_SYMBOL) == D(100)
        flipped = await s.engine.close_position(PositionLeg(aapl, D(300), D(150)))
        assert "rule reduces_position" in (flipped.error or "")
        closed = await s.engine.close_position(PositionLeg(aapl, D(100), D(150)))
        assert closed.success, closed

    sim_run(body, priced())


def test_a_live_account_needs_live(sim_run: Any, tmp_path: Any) -> None:
    async def body(h: Any) -> None:
        conn = ["--port", str(h.sim.port), "--data", str(tmp_path)]
        order = ("place", "AAPL", "--action", "BUY", "--qty", "1", "--limit", "140")
        code, _, err = await asyncio.to_thread(run, *order, *conn)
        assert code == 1
        assert "is a live session" in err
        assert "U7654321" in err
        assert "--live" in err
        code, row, err = await asyncio.to_thread(run, *order, *conn, "--live")
        assert code == 0, err
        assert row["action"] == "PLACED"
        # The record says which mode approved it, and the timeline shows it.
        trail = OrderTrail(StoreConfig.resolve(tmp_path))
        try:
            placed = [st for st in trail.states().values() if st.origin == "placed"]
            assert [st.mode for st in placed] == ["live"]
        finally:
            trail.close()
        code, _, err = await asyncio.to_thread(run, *order, *conn, "--dry-run")
        assert code == 0, err
        trail = OrderTrail(StoreConfig.resolve(tmp_path))
        try:
            modes = sorted(str(st.mode) for st in trail.states().values())
            assert modes == ["dry_run", "live"]
        finally:
            trail.close()

    sim_run(body, priced(accounts=["U7654321"]))


def test_live_ports_and_accounts_are_live() -> None:
    assert trading_mode(7497, ["DU1234567"]) == "paper"
    assert trading_mode(4002, ["DU1", "DU2"]) == "paper"
    assert trading_mode(7496, ["DU1234567"]) == "live"
    assert trading_mode(4001, []) == "live"
    assert trading_mode(7497, ["DU1", "U2"]) == "live"
