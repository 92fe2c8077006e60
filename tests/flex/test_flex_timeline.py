"""Time travel over imported history: the timeline names each fact's Flex source, and as-of
queries on IB's clock see the statement's trade times."""

from __future__ import annotations

from datetime import UTC, datetime

from ordertrail.adapters.trail import OrderTrail
from ordertrail.projections.api import Audit

from .conftest import WEEK1, import_path


def test_timeline_shows_the_flex_file_and_line_of_each_imported_fact(trail: OrderTrail) -> None:
    import_path(trail, WEEK1)
    timeline = Audit(trail.config).timeline("OT-aapl-1")
    sources = dict(zip(timeline["event_type"], timeline["source"], strict=False))
    assert sources["OrderCreated"].startswith(f"flex {WEEK1.name}:")
    executions = timeline.filter(timeline["event_type"] == "ExecutionRecorded")["source"]
    assert all(
        s.startswith(f"flex {WEEK1.name}:") and s.endswith("Trade/EXECUTION") for s in executions
    )


def test_positions_as_of_on_ibs_clock_follow_the_statement_trade_times(
    trail: OrderTrail,
) -> None:
    import_path(trail, WEEK1)
    audit = Audit(trail.config)
    before = audit.positions(as_of=datetime(2025, 8, 4, tzinfo=UTC), clock="ib")
    after = audit.positions(as_of=datetime(2025, 8, 9, tzinfo=UTC), clock="ib")
    assert before.filter(before["symbol"] == "AAPL").height == 0
    assert after.filter(after["symbol"] == "AAPL")["quantity"].to_list() != []
