"""Events on their way into the store: each encoded and sealed with its chain link once, and
that link handed to the recorder's checkpoint beside the bytes instead of parsed back out of
them (docs/adr/0085-writing-events-in-one-pass.md).

eventsourcing's ``EventStore.put`` builds three frozen dataclasses per event written (the
stored event, its notification and the recording), each assigning its fields one by one
through ``object.__setattr__``; here each is made with its attributes in one assignment, in
the order the dataclass's ``__init__`` would give them, so each is equal to the one
eventsourcing makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import EventStore, Notification, Recording, StoredEvent

_new = object.__new__
_put = object.__setattr__


@dataclass(frozen=True)
class SealedEvent(StoredEvent):
    """A stored event as ``EventMapper`` sealed it, with the link it sealed it with
    (``digest``; None: a placeholder the recorder completes). The row written is the
    ``StoredEvent`` part alone."""

    digest: bytes | None


def sealed_digest(stored: StoredEvent) -> bytes | None:
    """The chain link the mapper sealed ``stored`` with, if it was sealed in this process
    (None: read it from the bytes)."""
    return stored.digest if type(stored) is SealedEvent else None


def _recording(domain_event: Any, stored: StoredEvent, notification_id: int) -> Recording[UUID]:
    notification: Notification = _new(Notification)
    _put(
        notification,
        "__dict__",
        {
            "originator_id": stored.originator_id,
            "originator_version": stored.originator_version,
            "topic": stored.topic,
            "state": stored.state,
            "id": notification_id,
        },
    )
    recording: Recording[UUID] = _new(Recording)
    _put(recording, "__dict__", {"domain_event": domain_event, "notification": notification})
    return recording


class LogEventStore(EventStore[UUID]):
    """eventsourcing's event store, writing as it does, with its per-event objects made in
    one step each; ``append`` writes without making recordings at all."""

    def append(
        self, domain_events: Sequence[Any], **kwargs: Any
    ) -> tuple[list[StoredEvent], Sequence[int]]:
        """Write the events (``kwargs`` for the recorder, as ``put`` takes them); the rows
        written and their notification ids (none: the recorder gave none)."""
        mapper = self.mapper
        to_stored_events = getattr(mapper, "to_stored_events", None)
        stored_events: list[StoredEvent] = (
            [mapper.to_stored_event(e) for e in domain_events]
            if to_stored_events is None
            else to_stored_events(domain_events)
        )
        ids = self.recorder.insert_events(stored_events, **kwargs)
        return stored_events, ids or ()

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[UUID]]:
        stored_events, ids = self.append(domain_events, **kwargs)
        if not ids:
            return []
        assert len(ids) == len(stored_events)
        return list(map(_recording, domain_events, stored_events, ids))


__all__ = ["LogEventStore", "SealedEvent", "sealed_digest"]
