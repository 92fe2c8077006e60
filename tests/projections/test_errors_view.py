"""The errors view: IB's errors on orders and IB's messages about no order, both clocks, through
the Delta tables, incrementally and after a rebuild."""

from __future__ import annotations

from pathlib import Path

from ordertrail.domain.facts import ErrorReport, SessionError

from .helpers import Desk


def test_session_messages_and_order_errors_are_in_the_errors_view(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    desk.place("OT-E1", limit="10")
    desk.status("OT-E1", "Submitted", 0, 100)
    audit = desk.audit()
    assert audit.errors().height == 0
    desk.trail.record(None, SessionError(1100, "Connectivity lost", req_id=-1, client_id=7))
    desk.trail.record(desk.keys["OT-E1"], ErrorReport(404, "Order held while locating"))
    desk.trail.record(None, SessionError(10147, "Order 99 not found", req_id=99, client_id=7))
    frame = audit.errors()  # an incremental update: only the new events are read
    assert frame["event_type"].to_list() == [
        "SessionMessageRecorded",
        "ErrorReported",
        "SessionMessageRecorded",
    ]
    assert frame["order_key"].to_list() == ["session:7", "coid:OT-E1", "session:7"]
    assert "IB 1100: Connectivity lost" in frame["summary"][0]
    assert "(reqId 99)" in frame["summary"][2]
    assert frame["ts_recorded"].null_count() == 0
    assert frame["symbol"].to_list() == [None, "AAPL", None]
    # Asking for orders of a symbol leaves out what is about no order.
    only = audit.view("errors", symbol="AAPL")
    assert only["event_type"].to_list() == ["ErrorReported"]
    # A rebuild makes the same rows.
    audit.rebuild()
    assert audit.errors().drop("notification_id").equals(frame.drop("notification_id"))
