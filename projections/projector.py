"""Bring the Delta tables up to the end of the notification log: incrementally, or rebuilt.

Each table remembers the last notification id it committed (its Delta app transaction). An
update starts the fold from its snapshot when the snapshot is no further than every table (else
from the beginning of the log), feeds every later event, and writes each table only the rows
its own position has not committed yet. Append-only tables (events, position_history) are
written every ``batch_size`` rows so memory stays bounded; the keyed tables once, at the end
(their rows are only built then: each is the final state of what changed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from deltalake.exceptions import CommitFailedError
from eventsourcing.persistence import ApplicationRecorder

from ordertrail.adapters.store.rebuild import cyclic_gc_paused, stored_events_with_payload
from ordertrail.projections.fold import Changes, Projection
from ordertrail.projections.schema import TABLES
from ordertrail.projections.tables import DeltaTables

Progress = Callable[[int, int], None]
BATCH = 25_000
RETRIES = 3


def log_events(recorder: ApplicationRecorder, start: int) -> Iterator[tuple[int, Any, str]]:
    """(notification id, event, stored JSON) after ``start``, in log order."""
    return stored_events_with_payload(recorder, start)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    start: int
    head: int
    events: int
    rebuilt: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "head": self.head,
            "events": self.events,
            "rebuilt": self.rebuilt,
        }


class Projector:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        tables: DeltaTables,
        *,
        batch_size: int = BATCH,
        snapshot: bool = True,
    ) -> None:
        self.recorder = recorder
        self.tables = tables
        self.batch_size = batch_size
        self.snapshot = snapshot

    def log_head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def update(self, progress: Progress | None = None) -> UpdateResult:
        """Fold what the log gained since the tables' last commits."""
        for attempt in range(RETRIES):
            try:
                return self._run(full=False, progress=progress)
            except CommitFailedError:
                # Another process committed the same projection first: start again from its
                # position (what it wrote is never written twice).
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def rebuild(self, progress: Progress | None = None) -> UpdateResult:
        """Recompute every table from the first event."""
        return self._run(full=True, progress=progress)

    def _run(self, *, full: bool, progress: Progress | None) -> UpdateResult:
        with cyclic_gc_paused():
            return self._fold(full=full, progress=progress)

    def _fold(self, *, full: bool, progress: Progress | None) -> UpdateResult:
        committed = self.tables.committed_all()
        head = self.log_head()
        if not full and all(v is not None and v >= head for v in committed.values()):
            return UpdateResult(head, head, 0, rebuilt=False)
        since = {name: 0 if full or v is None else v for name, v in committed.items()}
        overwrite = {name: full or v is None for name, v in committed.items()}
        projection: Projection | None = None
        if not full and self.snapshot:
            snap = self.tables.load_snapshot()
            if snap is not None and snap.head <= min(since.values()):
                projection = snap
        if projection is None:
            projection = Projection()
        start = projection.head
        total = max(head - start, 0)
        count = 0
        if progress is not None:
            progress(0, total)
        for nid, event, payload in log_events(self.recorder, start):
            projection.feed(nid, event, payload)
            count += 1
            if projection.changes.size >= self.batch_size:
                self._flush(projection, since, overwrite, final=False)
            if progress is not None and count % 10_000 == 0:
                progress(count, max(total, count))
        self._flush(projection, since, overwrite, final=True)
        if self.snapshot:
            self.tables.save_snapshot(projection)
        if progress is not None:
            progress(count, max(total, count))
        return UpdateResult(start, projection.head, count, rebuilt=full)

    def _flush(
        self,
        projection: Projection,
        since: dict[str, int],
        overwrite: dict[str, bool],
        *,
        final: bool,
    ) -> None:
        for spec in TABLES:
            if not (final or spec.append_only):
                continue
            name = spec.name
            if projection.head <= since[name] and not overwrite[name]:
                continue
            # One table's rows at a time: only its Arrow table is alive while it is written.
            batch = projection.batches(since, (name,))[name]
            self.tables.write(spec, batch, projection.head, overwrite=overwrite[name])
            del batch
            overwrite[name] = False
            since[name] = projection.head
        if final:
            projection.changes = Changes()
        else:
            projection.changes.clear_appends()
