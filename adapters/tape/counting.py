"""An ``OrderTrail`` that counts the events it appended itself, for replay's summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper, StoredEvent

from ordertrail.adapters.store.sealed import LogEventStore
from ordertrail.adapters.trail import OrderTrail


class _CountingEventStore(LogEventStore):
    def __init__(self, mapper: Mapper[UUID], recorder: AggregateRecorder) -> None:
        super().__init__(mapper, recorder)
        self.appended = 0

    def append(
        self, domain_events: Sequence[Any], **kwargs: Any
    ) -> tuple[list[StoredEvent], Sequence[int]]:
        written = super().append(domain_events, **kwargs)
        self.appended += len(domain_events)
        return written


class CountingTrail(OrderTrail):
    """The replay's trail, counting the events it appended itself: the log's head also moves
    for every other process writing to the same store meanwhile (a live recorder, another
    replay), so the difference of two heads is not this replay's count."""

    def construct_event_store(self) -> EventStore[UUID]:
        return _CountingEventStore(self.mapper, self.recorder)

    @property
    def appended(self) -> int:
        events = self.events
        return events.appended if isinstance(events, _CountingEventStore) else 0
