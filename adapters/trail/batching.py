"""The trail service's unit of work for bulk facts (docs/adr/0008-batched-facts.md,
docs/adr/0060-replay-decodes-once.md): ``with trail.batch():`` loads each order once, keeps it
in memory, and appends every new event in one transaction at the end — and hands what it
loaded to the next batch when nobody wrote to the log in between."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ordertrail.adapters.trail.indexes import OrderIndex
from ordertrail.adapters.trail.unit_of_work import Batch, BatchNotSaved, Carried, carried_after
from ordertrail.adapters.trail.waiting import WaitingRoom
from ordertrail.domain.values import CommissionReport


class Batching:
    """Mixed into ``OrderTrail``: loading (through the batch's identity map when one is open)
    and the batch itself. The attributes are the service's."""

    repository: Any
    events: Any
    recorder: Any
    waiting: WaitingRoom
    _aliases: dict[tuple[int, int], UUID]
    _pending_commissions: dict[str, CommissionReport]
    _index: OrderIndex
    _batch: Batch | None
    _carried: Carried | None

    def _load(self, aggregate_id: UUID) -> Any:
        batch = self._batch
        if batch is None:
            return self.repository.get(aggregate_id)
        found = batch.loaded.get(aggregate_id)
        if found is None:
            if aggregate_id in batch.absent:
                raise AggregateNotFoundError(aggregate_id)
            try:
                found = batch.loaded[aggregate_id] = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                batch.absent.add(aggregate_id)
                raise
        return found

    def exists(self, aggregate_id: UUID) -> bool:
        batch = self._batch
        if batch is None:
            return aggregate_id in self.repository
        if (
            self._index.position == batch.head
            and aggregate_id not in batch.loaded
            and aggregate_id not in self._index.ids
        ):
            # The index has read every event up to the head this batch began at: an id it has
            # not seen is not in the store (one written by another process since is found by
            # the save's conflict, as for any order this batch found absent).
            batch.absent.add(aggregate_id)
            return False
        try:
            self._load(aggregate_id)  # a batch keeps what it loads: the fact that asked wants it
        except AggregateNotFoundError:
            return False
        return True

    @contextmanager
    def batch(self) -> Iterator[None]:
        """A unit of work for bulk facts. Inside it an aggregate is loaded once and kept in
        memory, nothing is committed per fact, and at the end all the new events are appended in
        the order they were decided, in one transaction. If the block raises, or the append
        loses an optimistic-concurrency race to another writer, nothing of the batch is
        recorded, the session memory (aliases, waiting facts) is put back as it was, and the
        error propagates (a conflict as :class:`BatchNotSaved`). A batch inside a batch joins it."""
        if self._batch is not None:
            yield
            return
        batch = self._batch = self._begin_batch()
        written = None
        try:
            yield
            if batch.broken is not None:
                raise BatchNotSaved(batch.broken)
            if batch.events:
                try:
                    # What ``save`` does, minus its per-event Protocol checks (~10 µs an event),
                    # its hooks for snapshots and followers, which this application has not,
                    # and the recording objects nothing here reads (``LogEventStore.append``).
                    # ``save(*orders)`` would group the events by order: the log keeps the
                    # order they were decided in, as when each fact is saved as it comes.
                    written = self.events.append(batch.events)
                except IntegrityError as e:
                    raise BatchNotSaved(
                        f"another writer changed these orders first ({e})", conflict=True
                    ) from e
        except BaseException:
            self._forget_batch(batch)
            raise
        finally:
            self._batch = None
        # Saved: what this batch knew of the store is handed on.
        ids = None if written is None else written[1]
        self._carried = carried_after(batch, ids)
        if self._carried is not None and written and ids and self._index.position == batch.head:
            # The index learned each of these orders as they changed: it has read the log up
            # to the batch's last event without reading it back.
            self._index.read_to(ids[-1], written[0][-1])

    def _begin_batch(self) -> Batch:
        """A new batch; it starts from what the last saved batch held if nothing was written
        to the log since (a batch's orders span the next batch: reloading each of them from
        the store would cost more than deciding their facts)."""
        head = int(self.recorder.max_notification_id() or 0)
        batch = Batch(
            dict(self._aliases), dict(self._pending_commissions), self.waiting.copy(), head=head
        )
        carried, self._carried = self._carried, None
        if carried is not None and carried.head == head:
            batch.loaded.update(carried.loaded)
            batch.absent.update(carried.absent)
        return batch

    def _forget_batch(self, batch: Batch) -> None:
        self._aliases = batch.aliases
        self._pending_commissions = batch.pending_commissions
        self.waiting = batch.waiting
        # The permId and execId indexes follow the log: read again from it on the next miss.
        self._index.forget()
