"""The hand-off between the rebuild's orders pass and the thread writing the ``events`` files:
tables come out in the order they went in, then the tail's; the pass waits while ``ahead``
tables wait; either side's abandoning releases the other, the writer's with its error; the
tables are never taken on the pass's own thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from ordertrail.projections.handoff import Abandoned, HandOff
from ordertrail.projections.sorted_spill import SortedParts


def table(n: int) -> pa.Table:
    return pa.table({"n": [n]})


class Tail:
    """Parts taken one by one, as a ``SortedParts`` gives them."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    def take(self) -> tuple[int, pa.Table] | None:
        return (0, table(self.values.pop(0))) if self.values else None


class Writer(threading.Thread):
    """The writing thread: runs ``work`` on the hand-off and keeps what it returned or
    raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__()
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as e:
            self.error = e

    def done(self) -> Writer:
        self.join(10)
        assert not self.is_alive()
        return self


def taken(handed: HandOff) -> list[tuple[int, int]]:
    """Every table taken, on another thread, as (number, value)."""

    def drain() -> list[tuple[int, int]]:
        out = []
        while (got := handed.take()) is not None:
            out.append((got[0], got[1]["n"][0].as_py()))
        return out

    writer = Writer(drain)
    writer.start()
    writer.done()
    assert writer.error is None, writer.error
    return list(writer.result)


def test_tables_come_out_in_order_then_the_tail() -> None:
    handed = HandOff(ahead=5)
    for n in (7, 8, 9):
        handed.put(table(n))
    handed.end(Tail(1, 2))
    assert taken(handed) == [(0, 7), (1, 8), (2, 9), (3, 1), (4, 2)]
    assert taken(handed) == []


def test_an_empty_tail_and_no_tail_end_at_once() -> None:
    for tail in (None, SortedParts(list, [("n", "ascending")])):
        handed = HandOff()
        handed.put(table(1))
        handed.end(tail)
        assert taken(handed) == [(0, 1)]


def test_a_waiting_writer_gets_the_next_table() -> None:
    handed = HandOff()
    writer = Writer(handed.take)
    writer.start()
    writer.join(0.2)
    assert writer.is_alive()  # nothing handed yet
    handed.put(table(5))
    number, got = writer.done().result
    assert (number, got["n"][0].as_py()) == (0, 5)


def test_the_pass_waits_while_ahead_tables_wait() -> None:
    handed = HandOff(ahead=2)
    handed.put(table(1))
    handed.put(table(2))
    third = threading.Thread(target=handed.put, args=(table(3),))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # a third table waits for the writer
    one = Writer(handed.take)
    one.start()
    assert one.done().result[1]["n"][0].as_py() == 1  # the writer takes one
    third.join(10)
    assert not third.is_alive()
    handed.end()
    assert [n for _, n in taken(handed)] == [2, 3]


def test_the_pass_abandoning_releases_a_waiting_writer() -> None:
    handed = HandOff(ahead=1)
    writer = Writer(handed.take)
    writer.start()
    writer.join(0.2)
    assert writer.is_alive()  # nothing handed yet
    handed.abandon()
    assert isinstance(writer.done().error, Abandoned)


def test_a_failed_writer_stops_the_pass_with_its_error() -> None:
    handed = HandOff(ahead=1)
    handed.put(table(1))
    blocked = Writer(lambda: handed.put(table(2)))  # the queue is full: it waits
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()
    handed.abandon(OSError("disk full"))
    assert str(blocked.done().error) == "disk full"
    with pytest.raises(OSError, match="disk full"):
        handed.put(table(3))


def test_the_tables_are_not_taken_on_the_passs_thread() -> None:
    handed = HandOff()
    with pytest.raises(RuntimeError, match="another thread"):
        handed.take()
    with pytest.raises(RuntimeError, match="another thread"):
        list(handed)
