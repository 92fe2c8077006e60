"""The clock that makes a replay record exactly what the live run recorded.

``OrderTrail(clock=...)`` stamps every event's ``ts_recorded``. Live and in replay the recorder
only records while ib_async's decoder interprets an incoming message, so both runs read the
same value here: the tape timestamp of that message. Outside a message (a command typed by a
user of the same process) the clock falls back to the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


class TapeClock:
    def __init__(self, fallback: Callable[[], datetime] = utc_now) -> None:
        self.current: datetime | None = None
        self.fallback = fallback

    def __call__(self) -> datetime:
        return self.current if self.current is not None else self.fallback()
