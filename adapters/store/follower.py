"""A follower: a reader of the event log that keeps its own position and reads only what is new.

A subclass says what one event does to its read model (``apply``) and how to forget everything
(``reset``). ``catch_up`` reads the events appended since the last one it read. It remembers
that last event's mark, so when the store was replaced under it (emptied and recorded again,
another file or database under the same name) it resets and reads the new store from the start
instead of folding a foreign history on top of the old one.
"""

from __future__ import annotations

from ordertrail.adapters.store.eventlog import EventLog, LogEntry, entry_mark


class Follower:
    """Subclasses override ``apply`` and ``reset``; ``payload = False`` reads stored bytes
    without decoding them."""

    payload = True

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.position = 0
        self.resets = 0
        self._mark: str | None = None

    def apply(self, entry: LogEntry) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def catch_up(self, limit: int | None = None) -> int:
        """Apply the events after this follower's position (at most ``limit``); returns how
        many. If ``apply`` raises, the position stays after the last event applied."""
        if self.position and self.log.mark(self.position) != self._mark:
            self.reset()
            self.resets += 1
            self.position, self._mark = 0, None
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
        return count
