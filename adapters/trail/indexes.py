"""The trail's lookups by permId and execId: a follower of the event log.

IB names an order by permId alone after a restart (completed orders, a Flex statement) and a
commission report names only its execId: the service must find the order either points to,
whoever recorded it. The index reads the log from where it last stopped — never the whole
history again — and the trail service writes into it the orders this process changes as it
changes them.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ordertrail.adapters.store.eventlog import EventLog, LogEntry, entry_mark
from ordertrail.adapters.store.follower import Follower
from ordertrail.domain.events import ExecutionCorrected, ExecutionRecorded


class OrderIndex(Follower):
    def __init__(self, log: EventLog) -> None:
        super().__init__(log)
        self.perm: dict[int, UUID] = {}
        self.execs: dict[str, UUID] = {}
        # Every aggregate in the log up to ``position`` (orders and session logs): a batch asks
        # here before it asks the store whether an id exists.
        self.ids: set[UUID] = set()

    def apply(self, entry: LogEntry) -> None:
        event = entry.event
        oid = entry.originator_id
        self.ids.add(oid)
        if isinstance(event, ExecutionRecorded | ExecutionCorrected):
            self.execs.setdefault(event.execution.base_id, oid)
        perm = getattr(event, "perm_id", None)
        if perm:
            self.perm.setdefault(perm, oid)

    def reset(self) -> None:
        self.perm.clear()
        self.execs.clear()
        self.ids.clear()

    def read_to(self, last_id: int, last: StoredEvent) -> None:
        """The log up to ``last`` (written at ``last_id``) is known without reading it: this
        process wrote it, right after the position, and learned each order it changed."""
        self.position = last_id
        oid = last.originator_id
        oid = oid if isinstance(oid, UUID) else UUID(oid)
        self._mark = entry_mark(oid, last.originator_version, last.state)

    def forget(self) -> None:
        """Drop everything (a batch that was not saved): the next miss reads the log again."""
        self.reset()
        self.position = 0
