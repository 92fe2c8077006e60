"""The simulator's account of its connections and orders.

``ordertrail simulate`` shows it (a person watching their own IB program against the simulator
wants to see each connection and order); a simulator started in-process — the demo, the
benchmarks, the tests — keeps quiet unless its caller turns it on.
"""

from __future__ import annotations

import logging

activity = logging.getLogger("ordertrail.simulator.activity")
activity.setLevel(logging.WARNING)


def show_activity() -> None:
    activity.setLevel(logging.INFO)
