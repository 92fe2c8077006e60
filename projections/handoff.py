"""Tables handed from the pass that makes them to the thread that writes them, as they are made.

The rebuild's ``events`` rows are final as soon as the orders pass has made them, and a
history whose rows fall on a few days can have them written into their day's Parquet file
straight away, by the writing thread, instead of being spilled to a file and read back once
the pass ends: at 1,000,000 events that spill is ~500 MB written and read again
(docs/adr/0161-events-written-beside-the-orders-pass.md). ``HandOff`` is the queue between
the two threads: the pass ``put``s each table, waiting while ``AHEAD`` tables wait for the
writer (so memory holds at most that many); the writer ``take``s them (``file_writes.Parts``),
then, once the pass has ``end``ed, the parts of a ``tail`` (the rows that were spilled after
all). Either side can ``abandon`` it: the other then stops waiting. A writer abandons it with
its error, which the pass's next ``put`` raises, so that a full disk stops the rebuild at once;
a ``take`` after an abandon raises ``Abandoned``, so that the writer never closes a table it
did not get whole. The tables must be taken on a thread other than the one that made the
hand-off (the pass's): taken on the same one, it would wait for rows never put.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Protocol

import pyarrow as pa  # type: ignore[import-untyped]

# Tables the pass may make before the writer has taken the first of them: a table is one
# decoded chunk's rows (~25 MB at 50,000 events).
AHEAD = 2


class Parts(Protocol):
    def take(self) -> tuple[int, pa.Table] | None: ...


class Abandoned(Exception):
    """The hand-off was abandoned: its tables are not whole."""


class HandOff:
    """A queue of tables from one thread to another (see the module docstring)."""

    def __init__(self, ahead: int | None = None) -> None:
        self._waiting: deque[pa.Table] = deque()
        self._ahead = AHEAD if ahead is None else ahead
        self._maker = threading.get_ident()
        self._ended = False
        self._abandoned = False
        self._error: BaseException | None = None
        self._tail: Parts | None = None
        self._taken = 0
        self._ready = threading.Condition()

    def put(self, table: pa.Table) -> None:
        """Hand one table over; waits while ``ahead`` tables wait. Once abandoned, raises the
        writer's error (``Abandoned`` when it gave none)."""
        with self._ready:
            self._ready.wait_for(lambda: len(self._waiting) < self._ahead or self._abandoned)
            if self._abandoned:
                raise self._error or Abandoned("the writer stopped taking rows")
            self._waiting.append(table)
            self._ready.notify_all()

    def end(self, tail: Parts | None = None) -> None:
        """Nothing more will be put; ``tail``'s parts follow, taken on the writer's thread."""
        with self._ready:
            self._ended = True
            self._tail = tail
            self._ready.notify_all()

    def abandon(self, error: BaseException | None = None) -> None:
        """Either side stops (the writer with its ``error``): a waiting ``put`` or ``take``
        raises, and so does every later one."""
        with self._ready:
            self._abandoned = True
            self._error = self._error or error
            self._waiting.clear()
            self._ready.notify_all()

    def take(self) -> tuple[int, pa.Table] | None:
        """(the table's number, the table), in the order handed then the tail's; None once
        every table is taken. ``Abandoned`` once abandoned."""
        if threading.get_ident() == self._maker:
            raise RuntimeError("a hand-off's tables are taken on another thread than the pass's")
        with self._ready:
            self._ready.wait_for(lambda: self._waiting or self._ended or self._abandoned)
            if self._abandoned:
                raise Abandoned("the pass handing rows stopped")
            if self._waiting:
                table = self._waiting.popleft()
                self._ready.notify_all()
                return self._number(), table
            tail = self._tail
        taken = None if tail is None else tail.take()
        if taken is None:
            return None
        with self._ready:
            return self._number(), taken[1]

    def __iter__(self) -> Iterator[pa.Table]:
        """The tables as ``take`` gives them, on a thread other than the one handing them."""
        while (taken := self.take()) is not None:
            yield taken[1]

    def _number(self) -> int:
        self._taken += 1
        return self._taken - 1


__all__ = ["AHEAD", "Abandoned", "HandOff", "Parts"]
