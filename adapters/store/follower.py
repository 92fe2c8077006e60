"""A follower: a reader of the event log that keeps its own position and reads only what is new.

A subclass says what one event does to its read model (``apply``) and how to forget everything
(``reset``). ``catch_up`` reads the events appended since the last one it read. It remembers
that last event's mark, so when the store was replaced under it (emptied and recorded again,
another file or database under the same name) it resets and reads the new store from the start
instead of folding a foreign history on top of the old one.

Given ``checkpoints`` (``checkpoints.py``), a subclass that can give its read model as JSON-able
data (``state``) and take it back (``restore``) starts from the state saved by an earlier
process instead of the log's first event, and saves its own after reading ``save_every`` events
(docs/adr/0158-follower-state-saved-in-the-store.md). A saved state is used only when the log
still holds, at its position, the event it was saved after, and only when it parses: anything
else is read from the log as if nothing were saved.
"""

from __future__ import annotations

import json
from typing import Any

from ordertrail.adapters.store.checkpoints import Checkpoints, SavedState
from ordertrail.adapters.store.eventlog import EventLog, LogEntry, entry_mark

# Events read between two saves. A process that starts from a saved state reads at most this
# many more than what was recorded since (the state is saved by whichever process reads that
# many); a save costs about what reading forty events does (measured, ADR 0158).
SAVE_EVERY = 10_000


class Follower:
    """Subclasses override ``apply`` and ``reset``; ``payload = False`` reads stored bytes
    without decoding them. One that overrides ``state`` and ``restore`` names its saved states
    (``name``) and their layout (``state_version``)."""

    payload = True
    name = ""
    state_version = 1

    def __init__(
        self,
        log: EventLog,
        checkpoints: Checkpoints | None = None,
        *,
        save_every: int = SAVE_EVERY,
    ) -> None:
        self.log = log
        self.position = 0
        self.resets = 0
        self._mark: str | None = None
        self.checkpoints = checkpoints
        self.save_every = save_every
        self.restored_from = 0  # the position of the saved state this follower started from
        self.saves = 0
        self._unsaved = 0
        self._look_for_saved = checkpoints is not None

    def apply(self, entry: LogEntry) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> Any:
        """The read model as JSON-able data (for ``restore`` in another process)."""
        raise NotImplementedError

    def restore(self, data: Any, position: int) -> None:
        """Take back what ``state`` gave at log position ``position``; raise anything when the
        data does not fit (the follower then starts from the log)."""
        raise NotImplementedError

    def catch_up(self, limit: int | None = None) -> int:
        """Apply the events after this follower's position (at most ``limit``); returns how
        many. If ``apply`` raises, the position stays after the last event applied."""
        if self.position and self.log.mark(self.position) != self._mark:
            self.reset()
            self.resets += 1
            self.position, self._mark = 0, None
            self._look_for_saved = self.checkpoints is not None
        if self._look_for_saved and not self.position:
            self._look_for_saved = False
            self._start_from_saved()
        count = 0
        last: LogEntry | None = None
        try:
            for entry in self.log.after(self.position, limit, payload=self.payload):
                self.apply(entry)
                self.position = entry.id
                last = entry
                count += 1
        finally:
            if last is not None:
                self._mark = entry_mark(last.originator_id, last.originator_version, last.state)
            self._unsaved += count
        if self.checkpoints is not None and self._unsaved >= self.save_every:
            self._save(self.checkpoints)
        return count

    def _start_from_saved(self) -> None:
        assert self.checkpoints is not None
        saved = self.checkpoints.load(self.name)
        if saved is None or saved.version != self.state_version or saved.position <= 0:
            return
        if self.log.mark(saved.position) != saved.mark:
            return  # saved from another store, or this one before it was replaced
        try:
            self.restore(json.loads(saved.state), saved.position)
        except Exception:
            # A state that does not parse or does not fit the log is not an error that stops
            # a trader: the log has everything, it is read from the start.
            self.reset()
            return
        self.position, self._mark, self.restored_from = saved.position, saved.mark, saved.position

    def _save(self, checkpoints: Checkpoints) -> None:
        assert self._mark is not None
        text = json.dumps(self.state(), separators=(",", ":"))
        saved = SavedState(self.name, self.state_version, self.position, self._mark, text)
        # A save the store did not take is tried again after as many events, not at every
        # check: a store that is read-only stays so.
        self._unsaved = 0
        if checkpoints.save(saved):
            self.saves += 1
