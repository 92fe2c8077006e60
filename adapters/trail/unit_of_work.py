"""The unit of work every entrance shares (live recording, tape replay, Flex import, dry runs,
the execution engine): outside a batch each fact is one transaction; ``with trail.batch():``
widens it to many (docs/adr/0008-batched-facts.md, docs/adr/0011-one-front-door.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ordertrail.adapters.trail.waiting import WaitingRoom
from ordertrail.domain.values import CommissionReport

# Orders (and ids found absent) a saved batch hands to the next one at most: beyond it the
# next batch loads afresh, so a long replay's memory stays bounded.
CARRY_LIMIT = 100_000


class BatchNotSaved(Exception):
    """A batch recorded nothing: another writer changed one of its orders first (``conflict``),
    or a fact failed half way through deciding, leaving an order it cannot save."""

    def __init__(self, reason: str, *, conflict: bool = False) -> None:
        super().__init__(f"batch not saved, nothing of it was recorded: {reason}")
        self.conflict = conflict


@dataclass(slots=True)
class Batch:
    """Every aggregate loaded or created since the batch began (an identity map), the new
    events in the order they were decided (the log keeps that order, as when each fact is saved
    as it comes), and the session memory to put back if the batch is not saved."""

    aliases: dict[tuple[int, int], UUID]
    pending_commissions: dict[str, CommissionReport]
    waiting: WaitingRoom
    loaded: dict[UUID, Aggregate] = field(default_factory=dict)
    absent: set[UUID] = field(default_factory=set)  # not in the store when the batch looked
    events: list[Any] = field(default_factory=list)
    indexed: bool = False  # the log was read into the indexes during this batch
    broken: str | None = None
    head: int = 0  # the log's last notification id when the batch began

    def keep(self, aggregate: Aggregate) -> None:
        self.loaded[aggregate.id] = aggregate
        self.collect(aggregate)

    def collect(self, aggregate: Aggregate) -> None:
        """The new events of an aggregate this batch holds already (loaded through it)."""
        # What ``collect_events`` does, without popping the pending events one at a time
        # from the front of their list.
        pending = aggregate.pending_events
        self.events.extend(pending)
        pending.clear()


@dataclass(frozen=True, slots=True)
class Carried:
    """What a saved batch knew of the store, handed to the next batch if the log's head has
    not moved since (nobody, this process included, wrote in between): its orders as saved and
    the ids it found absent. Any other write in between and the next batch loads afresh."""

    head: int
    loaded: dict[UUID, Aggregate]
    absent: set[UUID]


def carried_after(batch: Batch, ids: Sequence[int] | None) -> Carried | None:
    """What a saved batch hands to the next, or None. Only when nobody else wrote while it ran:
    its events (their notification ``ids``; None when it had none) follow the head it began at
    directly, so every order it loaded is still as the store has it."""
    if ids is None:
        head = batch.head
    elif ids and ids[0] == batch.head + 1:
        head = ids[-1]
    else:
        return None
    if len(batch.loaded) + len(batch.absent) > CARRY_LIMIT:
        return None
    return Carried(head, batch.loaded, batch.absent)
