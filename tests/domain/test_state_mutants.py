"""An order's state before IB has said anything about it: what callers read off a state
(``if state.why_held:``) must not invent what IB never sent."""

from __future__ import annotations

from datetime import timedelta

from ordertrail.domain.facts import StatusReport
from tests.domain.orders import T0, submitted


def test_an_order_is_held_for_nothing_until_ib_says_why() -> None:
    o = submitted("OT-state-1")
    assert not o.state.why_held
    o.record(StatusReport("PreSubmitted", why_held="locate"), ts_recorded=T0 + timedelta(seconds=1))
    assert o.state.why_held == "locate"
    # IB's empty whyHeld is the hold lifted: the state reads as before the hold.
    o.record(StatusReport("Submitted"), ts_recorded=T0 + timedelta(seconds=2))
    assert not o.state.why_held
