"""Dry runs stay apart and keep every fill: each CLI call is its own process-like run on one
store, so identities must come from the store, not from a counter that restarts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ordertrail.adapters.cli import app
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.identity import order_uuid
from ordertrail.domain.status import OrderStatus

from .test_cli import run, runner

D = Decimal


def test_separate_dry_runs_keep_every_fill_and_a_bracket_honours_its_oca_group(
    tmp_path: Path,
) -> None:
    d = ["--dry-run", "--data", str(tmp_path)]
    bracket = ("bracket", "AAPL", "--action", "BUY", "--qty", "5", "--entry", "149")
    legs = ("--take-profit", "152", "--stop-loss", "147")
    code, first, err = run(*bracket, *legs, *d)
    assert code == 0, err
    code, second, err = run(*bracket, *legs, *d)
    assert code == 0, err
    twap = ("twap", "AAPL", "--action", "BUY", "--qty", "13", "--limit", "150")
    code, _, err = run(*twap, "--slices", "5", "--duration", "0", *d)
    assert code == 0, err
    code, closed, err = run("close", "AAPL", "--mark", "150", *d)
    assert code == 0, err

    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    states = list(trail.states().values())
    filled = [s for s in states if s.status is OrderStatus.FILLED]
    executions = [x for s in states for x in s.executions.values()]
    # 2 parents + 2 take-profits + 5 slices + 1 close, each filled once, none replaced.
    assert len(filled) == 10
    assert len(executions) == 10
    assert len({x.exec_id for x in executions}) == 10
    orders = [alias for s in states for alias in s.aliases]
    assert len(set(orders)) == len(orders)  # no (clientId, orderId) reused across runs

    for row in (first, second):
        parent, take, stop = (
            trail.get(order_uuid(client_order_id=c)).state for c in row["order_ids"]
        )
        assert (parent.status, take.status) == (OrderStatus.FILLED, OrderStatus.FILLED)
        assert stop.status is OrderStatus.CANCELLED  # its OCA group, not a leftover
        assert not stop.cancel_requested

    # Long 5 + 5 (bought) - 5 - 5 (take-profits) + 13 (twap) = 13; the close sold exactly that.
    (close_id,) = closed["order_ids"]
    close = trail.get(order_uuid(client_order_id=close_id)).state
    assert (close.spec.action.value, close.spec.quantity) == ("SELL", D(13))


def test_audit_views_leave_dry_runs_out_unless_asked(tmp_path: Path) -> None:
    d = ["--data", str(tmp_path)]
    buy = ("place", "AAPL", "--con-id", "265598", "--action", "BUY", "--qty", "7", "--limit", "150")
    code, _, err = run(*buy, "--dry-run", *d)
    assert code == 0, err
    for view in ("orders", "fills"):
        code, out, err = run_text(view, "--format", "csv", *d)
        assert code == 0, err
        assert "dry-run" not in out  # nothing but dry runs recorded: an empty view
    code, out, err = run_text("fills", "--format", "csv", "--origin", "dry-run", *d)
    assert code == 0, err
    header, row = out.strip().splitlines()
    fill = dict(zip(header.split(","), row.split(","), strict=True))
    assert (fill["origin"], fill["con_id"], fill["quantity"]) == ("dry-run", "265598", "7")
    code, out, err = run_text("fills", "--format", "csv", "--origin", "all", *d)
    assert code == 0, err
    assert out.count("dry-run") == 1
    code, out, err = run_text("orders", "--format", "csv", "--origin", "live,dry-run", *d)
    assert code == 0, err
    assert out.count("dry-run") == 1


def run_text(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr
