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
        # The first events of an open batch, sealed while its fate was not yet known, and the
        # batch's own list of events they begin (see ``seal_ahead``).
        self._ahead: list[StoredEvent] = []
        self._ahead_of: list[Any] | None = None

    def seal_ahead(self, domain_events: list[Any]) -> None:
        """Seal the batch's events so far now, not when it is saved: a speculative replay
        saves its batch only once the checking process's verdict is in, and what is done
        before then is done while that process still works."""
        if domain_events is not self._ahead_of:
            self._ahead, self._ahead_of = [], domain_events
        done = len(self._ahead)
        if len(domain_events) > done:
            self._ahead += self._seal(domain_events[done:])

    def _seal(self, domain_events: Sequence[Any]) -> list[StoredEvent]:
        # The store's mapper seals a batch in one loop, each event linked to the one before.
        seal = self.mapper.to_stored_events  # type: ignore[attr-defined]
        sealed: list[StoredEvent] = seal(domain_events)
        return sealed

    def append(
        self, domain_events: Sequence[Any], **kwargs: Any
    ) -> tuple[list[StoredEvent], Sequence[int]]:
        ahead, of = self._ahead, self._ahead_of
        self._ahead, self._ahead_of = [], None
        if of is domain_events and ahead:
            # The batch only grew since: its first events are sealed already, in order.
            stored = ahead + self._seal(domain_events[len(ahead) :])
            ids = self.recorder.insert_events(stored, **kwargs)
            written: tuple[list[StoredEvent], Sequence[int]] = (stored, ids or ())
        else:
            written = super().append(domain_events, **kwargs)
        self.appended += len(domain_events)
        return written


class CountingTrail(OrderTrail):
    """The replay's trail, counting the events it appended itself: the log's head also moves
    for every other process writing to the same store meanwhile (a live recorder, another
    replay), so the difference of two heads is not this replay's count."""

    def construct_event_store(self) -> EventStore[UUID]:
        return _CountingEventStore(self.mapper, self.recorder)

    def seal_ahead(self) -> None:
        """The open batch's events so far sealed now (``_CountingEventStore.seal_ahead``)."""
        events, batch = self.events, self._batch
        if batch is not None and isinstance(events, _CountingEventStore):
            events.seal_ahead(batch.events)

    @property
    def appended(self) -> int:
        events = self.events
        return events.appended if isinstance(events, _CountingEventStore) else 0
