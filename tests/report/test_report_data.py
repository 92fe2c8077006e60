"""The report's figures, from a desk whose every number is known: PnL and commissions add up,
latencies follow the recorded clock, outcomes count what was ordered and filled, and the
filters cut the window in the reader's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app
from ordertrail.adapters.report import collect, write_report
from ordertrail.adapters.report.data import latencies, lifelines, outcomes, pnl_curve, problems
from ordertrail.projections.filters import Filters
from tests.conftest import EPOCH
from tests.projections.helpers import Desk, at


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    d = Desk(tmp_path / "data")
    d.place("OT-1", quantity=100, limit="10", reference="9.95")
    d.status("OT-1", "Submitted", 0, 100)
    d.fill("OT-1", "a1.01", 60, "10", at=at(1), commission="1")
    d.fill("OT-1", "a2.01", 40, "9.98", at=at(2), commission="0.5")
    d.status("OT-1", "Filled", 100, 0)
    from ordertrail.domain.values import OrderAction

    d.place("OT-2", OrderAction.SELL, quantity=100, limit="11")
    d.status("OT-2", "Submitted", 0, 100)
    d.fill("OT-2", "b.01", 100, "11", at=at(3), commission="1")
    d.place("OT-3", quantity=500, limit="10")
    d.error("OT-3", 201, "Order rejected - reason: margin")
    return d


def test_pnl_curve_ends_at_the_positions_realized_pnl(desk: Desk) -> None:
    data = collect(desk.audit(), Filters.build(tz="UTC"))
    curve = pnl_curve(data)
    # bought 60@10 and 40@9.98 (avg 9.992), sold 100@11: FIFO realized 100.8, commissions 2.5
    assert curve["cum_pnl"].to_list()[-1] == pytest.approx(100.8)
    assert curve["cum_commission"].to_list() == pytest.approx([1.0, 1.5, 2.5])
    position = desk.audit().positions().row(0, named=True)
    assert Decimal(str(curve["cum_pnl"][-1])) == position["realized_pnl"].normalize()


def test_outcomes_count_orders_fills_and_slippage_cost(desk: Desk) -> None:
    row = outcomes(collect(desk.audit(), Filters.build(tz="UTC"))).row(0, named=True)
    assert (row["orders"], row["orders_filled"]) == (3, 2)
    assert row["ordered"] == 700
    assert row["filled"] == 200
    assert row["shares"] == 200
    assert row["fill_rate"] == pytest.approx(200 / 700)
    # vs reference 9.95: 60 × 0.05 + 40 × 0.03 = 4.2 paid above what the strategy meant
    assert row["slippage_reference"] == Decimal("4.2")
    # vs limit: 60 × 0 + 40 × -0.02 (bought below) + 100 × 0 (sold at the limit) = -0.8
    assert row["slippage_limit"] == Decimal("-0.8")


def test_latency_is_measured_from_submission_on_the_recorded_clock(desk: Desk) -> None:
    lat = latencies(collect(desk.audit(), Filters.build(tz="UTC")))
    by = {r["label"]: r for r in lat.iter_rows(named=True)}
    # The desk's clock moves one second per recorded event: submit, status, fill.
    assert by["OT-1"]["ack_ms"] == 1000.0
    assert by["OT-1"]["first_fill_ms"] == 2000.0
    assert by["OT-3"]["first_fill_ms"] is None  # rejected, never filled


def test_lifelines_follow_status_changes_and_errors_link_to_their_order(desk: Desk) -> None:
    data = collect(desk.audit(), Filters.build(tz="Europe/Berlin"))
    spans = lifelines(data).filter(order_key="coid:OT-1")
    assert spans["status"].to_list() == ["New", "PendingSubmit", "Submitted", "Filled"]
    assert spans["start"].dtype.time_zone == "Europe/Berlin"  # type: ignore[attr-defined]
    assert (spans["end"] >= spans["start"]).all()
    p = problems(data)
    assert p["label"].to_list() == ["OT-3"]
    assert p["event_type"].to_list() == ["ErrorReported"]
    assert p["anchor"][0] == "order-coid_OT-3"


def test_a_date_is_the_whole_local_day(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-1")
    # EPOCH is 13:30 UTC; in Tokyo (UTC+9) that is 22:30 the same day.
    local_day = (EPOCH + timedelta(hours=9)).date().isoformat()
    next_day = (EPOCH + timedelta(hours=9, days=1)).date().isoformat()
    inside = collect(desk.audit(), Filters.build(since=local_day, until=local_day, tz="Asia/Tokyo"))
    outside = collect(desk.audit(), Filters.build(since=next_day, tz="Asia/Tokyo"))
    assert inside.orders.height == 1
    assert outside.orders.height == 0
    f = Filters.build(since=local_day, until=local_day, tz="Asia/Tokyo")
    assert f.since == datetime.fromisoformat(local_day).replace(tzinfo=UTC) - timedelta(hours=9)
    assert f.until == f.since + timedelta(days=1)  # type: ignore[operator]


def test_written_page_names_every_order_and_links_each_problem(desk: Desk, tmp_path: Path) -> None:
    path = write_report(desk.audit(), tmp_path / "r.html", Filters.build(tz="UTC"))
    page = path.read_text()
    ids = set(re.findall(r"id='(order-[^']+)'", page))
    assert ids == {"order-coid_OT-1", "order-coid_OT-2", "order-coid_OT-3"}
    assert set(re.findall(r"href='#(order-[^']+)'", page)) <= ids
    assert "IB error 201: Order rejected - reason: margin" in page
    assert "<script src=" not in page
    assert "<link " not in page


def test_report_command_fails_clearly_and_writes_nothing(desk: Desk, tmp_path: Path) -> None:
    data = str(desk.config.data_dir)
    out = tmp_path / "r.html"
    for args, words in (
        (["--data", str(tmp_path / "nowhere")], "no event store at"),
        (["--data", data, "--since", "yesterday"], "'yesterday' is neither a date"),
        (["--data", data, "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--data", data, "--since", "2024-03-02", "--until", "2024-03-01"], "is not after"),
    ):
        result = CliRunner().invoke(app, ["report", *args, "--out", str(out)])
        assert result.exit_code == 1, args
        assert words in " ".join(result.stderr.split()), result.stderr
        assert not out.exists()
    assert not (tmp_path / "nowhere").exists()
    result = CliRunner().invoke(app, ["report", "--data", data, "--out", str(out), "--tz", "UTC"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"report written to {out}"
