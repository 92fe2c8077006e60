"""The session log: what IB said about no order, per client id and UTC day.

Connectivity (1100/1101/1102), farm status (2103–2110, 2157/2158), a client id in use (326), not
connected (502/504), an error whose reqId names no order this store can ever know (a cancel of an
id IB does not know), a global cancel: facts too, so they are recorded — here, with both clocks —
rather than dropped. One aggregate a client id a day keeps each small; an entry is recognised
again by its recording time (a replay of a tape reuses the tape's times), so re-recording the
same session changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ordertrail.domain.facts import SessionError
from ordertrail.domain.identity import NAMESPACE


def session_log_id(client_id: int, day: date) -> UUID:
    return uuid5(NAMESPACE, f"session:{client_id}:{day.isoformat()}")


class SessionLogOpened(Aggregate.Created):
    client_id: int
    day: str

    def apply(self, aggregate: Any) -> None:
        aggregate.client_id = self.client_id
        aggregate.day = self.day
        aggregate.seen = set()


class SessionMessageRecorded(Aggregate.Event):
    """An IB message about no order, as IB sent it."""

    ts_event: datetime | None
    client_id: int
    code: int
    message: str
    req_id: int
    advanced_reject: str | None

    @property
    def ts_recorded(self) -> datetime:
        return self.timestamp

    def apply(self, aggregate: Any) -> None:
        aggregate.seen.add(_identity(self.timestamp, self.code, self.req_id, self.message))


def _identity(ts: datetime, code: int, req_id: int, message: str) -> tuple[str, int, int, str]:
    return (ts.isoformat(), code, req_id, message)


class SessionLog(Aggregate):
    client_id: int
    day: str
    seen: set[tuple[str, int, int, str]]

    def __init__(self) -> None:
        pass

    @classmethod
    def open(cls, *, client_id: int, day: date, ts_recorded: datetime) -> SessionLog:
        return cls._create(
            SessionLogOpened,
            id=session_log_id(client_id, day),
            timestamp=ts_recorded,
            client_id=client_id,
            day=day.isoformat(),
        )

    def record(self, fact: SessionError, *, ts_recorded: datetime) -> bool:
        """False when this very message was recorded already."""
        if _identity(ts_recorded, fact.code, fact.req_id, fact.message) in self.seen:
            return False
        self.trigger_event(
            SessionMessageRecorded,
            timestamp=ts_recorded,
            ts_event=fact.ts_event,
            client_id=fact.client_id,
            code=fact.code,
            message=fact.message,
            req_id=fact.req_id,
            advanced_reject=fact.advanced_reject,
        )
        return True


SESSION_EVENT_TYPES: tuple[type[Aggregate.Event], ...] = (SessionLogOpened, SessionMessageRecorded)
