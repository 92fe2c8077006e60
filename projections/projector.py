"""Bring the Delta tables up to the end of the notification log: incrementally, or rebuilt.

Each table's commits record its position (the last notification id its rows include) and its
source (a fingerprint of the store's first event and of the event at that position). An update:

* rebuilds every table when any was built from another store, or from a log that is now
  shorter or different at its position (the store was replaced or truncated under them);
* when every table is at one position and few events are new, restores only the state those
  events touch (``restore.py``), folds them, and writes what changed;
* otherwise (a table missing or behind the others after a crash, a large backlog) folds from
  the first event and writes each table only what it has not committed.

Every commit is made against the table version the update read (``tables.py``): when another
process commits first, the update starts again from what that process wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake.exceptions import CommitFailedError

from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.rebuild import Source as LogSource
from ordertrail.adapters.store.rebuild import cyclic_gc_paused, stored_events_with_payload
from ordertrail.projections.file_writes import commit_rebuilt
from ordertrail.projections.fold import Changes, Projection
from ordertrail.projections.positions import MissingStoredFill
from ordertrail.projections.rebuild import Rebuild
from ordertrail.projections.restore import LogEvent, Restorer
from ordertrail.projections.schema import TABLES, refusing_rows
from ordertrail.projections.tables import DeltaTables, Source, TableState, unfinished
from ordertrail.projections.upkeep import SMALL_FILES_LIMIT, merge_small_files

Progress = Callable[[int, int], None]
BATCH = 25_000
# Concurrent updaters each lose a commit at most once per winner's commit: a few attempts.
RETRIES = 8
# An update of more new events than this folds from the first event instead (restoring that
# many keys one lookup at a time would cost more than reading the whole log once).
RESTORE_LIMIT = 50_000
# Arrow bytes of rows a rebuild's commit takes from its table's chunks. deltalake holds a
# commit's rows and their Parquet in memory until it commits, so this bounds the commit's
# memory: a wide table's chunk (an ``events`` chunk of ``spill.WRITE_ROWS`` rows is about 11
# MiB) is a commit of its own, a narrow table's chunks share one. Each commit costs some
# milliseconds besides its rows (its log entry, a checkpoint every tenth); one streamed commit
# per table would keep a file of every ``day`` partition in memory at once (ADR 0109).
COMMIT_BYTES = 16 << 20


def commit_parts(chunks: Iterator[pa.Table]) -> Iterator[list[pa.Table]]:
    """The chunks in consecutive runs of at most ``COMMIT_BYTES`` (a larger chunk alone), one
    commit each; at least one run, empty when there are no chunks."""
    held: list[pa.Table] = []
    size = 0
    for chunk in chunks:
        if held and size + chunk.nbytes > COMMIT_BYTES:
            yield held
            held, size = [], 0
        held.append(chunk)
        size += chunk.nbytes
    yield held


def log_events(log: LogSource, start: int) -> Iterator[LogEvent]:
    """(notification id, event, stored JSON) after ``start``, in log order."""
    return stored_events_with_payload(log, start)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    start: int
    head: int
    events: int
    rebuilt: bool
    # Rows left out of their table, each named once (an identifier past 64 bits).
    refused: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "head": self.head,
            "events": self.events,
            "rebuilt": self.rebuilt,
            "refused": list(self.refused),
        }


class Projector:
    def __init__(self, log: EventLog, tables: DeltaTables, *, batch_size: int = BATCH) -> None:
        self.log = log
        self.tables = tables
        # Small files a table may hold before an update merges them (``upkeep.py``).
        self.small_files_limit = SMALL_FILES_LIMIT
        self.batch_size = batch_size
        tables.drop_legacy_snapshot()

    def log_head(self) -> int:
        return self.log.head()

    def update(self, progress: Progress | None = None) -> UpdateResult:
        """Fold what the log gained since the tables' last commits."""
        return self._attempts(lambda: self._update(progress))

    def rebuild(self, progress: Progress | None = None) -> UpdateResult:
        """Recompute every table from the first event."""
        return self._attempts(lambda: self._rebuild(self.tables.states(), progress))

    @staticmethod
    def _attempts(run: Callable[[], UpdateResult]) -> UpdateResult:
        for attempt in range(RETRIES):
            try:
                with cyclic_gc_paused(), refusing_rows() as refused:
                    return replace(run(), refused=tuple(refused))
            except CommitFailedError:
                # Another process committed to a table first: start again from what it wrote
                # (nothing is ever committed twice).
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # ---- deciding ----------------------------------------------------------------------------

    def _update(self, progress: Progress | None) -> UpdateResult:
        states = self.tables.states()
        head = self.log.head()
        if not self._same_log(states, head):
            return self._rebuild(states, progress)
        positions = {s.position for s in states.values()}
        if None not in positions and min(p for p in positions if p is not None) >= head:
            return UpdateResult(head, head, 0, rebuilt=False)
        low = positions.pop() if len(positions) == 1 else None
        if low is not None and head - low <= RESTORE_LIMIT:
            try:
                return self._incremental(states, low, progress)
            except MissingStoredFill:
                return self._rebuild(self.tables.states(), progress)
        return self._fold(states, False, progress)

    def _same_log(self, states: dict[str, TableState], head: int) -> bool:
        """Whether every table was built, with this code's columns, from this store's log as
        it still is."""
        store = self.log.first_fingerprint() or 0
        heads: dict[int, int | None] = {}
        for state in states.values():
            if not state.current_schema:
                return False
            src = state.source
            if src is None or src.position == 0:
                continue
            if src.position > head or src.store != store:
                return False
            if src.position not in heads:
                heads[src.position] = self.log.fingerprint_at(src.position)
            if heads[src.position] != src.head:
                return False
        return True

    def _source(self, position: int) -> Source:
        return Source(
            self.log.first_fingerprint() or 0,
            position,
            self.log.fingerprint_at(position) or 0,
        )

    # ---- an update that costs what is new ----------------------------------------------------

    def _incremental(
        self, states: dict[str, TableState], low: int, progress: Progress | None
    ) -> UpdateResult:
        events = list(log_events(self.log, low))
        if progress is not None:
            progress(0, len(events))
        restorer = Restorer(self.log, states, low)
        projection = restorer.projection(events)
        for nid, event, payload in events:
            projection.feed(nid, event, payload)
        restorer.journal_rows(projection)
        source = self._source(projection.head)
        since = dict.fromkeys(states, low)
        written = []
        for spec in TABLES:
            batch = projection.batches(since, (spec.name,))[spec.name]
            written.append(self.tables.write(states[spec.name], batch, source, overwrite=False))
        merge_small_files(written, self.small_files_limit)
        if progress is not None:
            progress(len(events), len(events))
        return UpdateResult(low, projection.head, len(events), rebuilt=False)

    # ---- rebuilding every table -------------------------------------------------------------

    def _rebuild(self, states: dict[str, TableState], progress: Progress | None) -> UpdateResult:
        """Every table recomputed from the first event, streamed (``rebuild.py``)."""
        head = self.log.head()
        if progress is not None:
            progress(0, head)
        source = self._source(head)
        tick = None if progress is None else (lambda n: progress(n, max(head, n)))
        root = self.tables.root
        local = self.tables.local
        run = Rebuild(self.log, head, None if "://" in root else Path(root), events_beside=local)
        if local:
            # Each table's files written beside the passes as soon as its rows are final,
            # then every table committed (ADR 0117). The writes end before the spill goes.
            with run.spilled(tick) as tables:
                commit_rebuilt(self.tables, states, tables, source)
        else:
            with run.spilled(tick) as tables:
                for spec, chunks in tables:
                    self._replace(states[spec.name], chunks, source)
        if progress is not None:
            progress(run.events, max(head, run.events))
        return UpdateResult(0, head, run.events, rebuilt=True)

    def _replace(self, state: TableState, chunks: Iterable[pa.Table], source: Source) -> None:
        """A table's rows on an object store, in as few commits as ``COMMIT_BYTES`` allows:
        all but the last say the table is unfinished, the last gives its source."""
        parts = commit_parts(iter(chunks))
        last = next(parts)
        first = True
        for part in parts:
            mark = unfinished(source.position)
            if first:
                state = self.tables.replace(state, last, mark)
            else:
                state = self.tables.append(state, last, mark)
            first, last = False, part
        if first:
            self.tables.replace(state, last or [state.spec.schema.empty_table()], source)
        else:
            self.tables.append(state, last, source)

    # ---- folding from the first event --------------------------------------------------------

    def _fold(
        self, states: dict[str, TableState], full: bool, progress: Progress | None
    ) -> UpdateResult:
        """Fold the whole log; write each table what it lacks (everything when ``full``)."""
        since = {n: 0 if full or s.position is None else s.position for n, s in states.items()}
        overwrite = {n: full or s.position is None for n, s in states.items()}
        states = dict(states)
        head = self.log.head()
        projection = Projection()
        count = 0
        if progress is not None:
            progress(0, head)
        for nid, event, payload in log_events(self.log, 0):
            projection.feed(nid, event, payload)
            count += 1
            if projection.changes.size >= self.batch_size:
                self._flush(projection, states, since, overwrite, final=False)
            if progress is not None and count % 10_000 == 0:
                progress(count, max(head, count))
        self._flush(projection, states, since, overwrite, final=True)
        if progress is not None:
            progress(count, max(head, count))
        return UpdateResult(0, projection.head, count, rebuilt=full)

    def _flush(
        self,
        projection: Projection,
        states: dict[str, TableState],
        since: dict[str, int],
        overwrite: dict[str, bool],
        *,
        final: bool,
    ) -> None:
        source = self._source(projection.head)
        for spec in TABLES:
            if not (final or spec.append_only):
                continue
            name = spec.name
            if projection.head <= since[name] and not overwrite[name]:
                continue
            # One table's rows at a time: only its Arrow table is alive while it is written.
            batch = projection.batches(since, (name,))[name]
            states[name] = self.tables.write(states[name], batch, source, overwrite=overwrite[name])
            del batch
            overwrite[name] = False
            since[name] = projection.head
        if final:
            projection.changes = Changes()
        else:
            projection.changes.clear_appends()
