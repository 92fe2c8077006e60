"""The hand-off between the rebuild's orders pass and the thread writing the ``events`` files:
tables come out in the order they went in, then the tail's; the pass waits while ``ahead``
tables wait; either side's abandoning releases the other."""

from __future__ import annotations

import threading

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.projections.handoff import HandOff
from ordertrail.projections.sorted_spill import SortedParts


def table(n: int) -> pa.Table:
    return pa.table({"n": [n]})


class Tail:
    """Parts taken one by one, as a ``SortedParts`` gives them."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    def take(self) -> tuple[int, pa.Table] | None:
        return (0, table(self.values.pop(0))) if self.values else None


def taken(handed: HandOff) -> list[tuple[int, int]]:
    out = []
    while (got := handed.take()) is not None:
        out.append((got[0], got[1]["n"][0].as_py()))
    return out


def test_tables_come_out_in_order_then_the_tail() -> None:
    handed = HandOff(ahead=5)
    for n in (7, 8, 9):
        handed.put(table(n))
    handed.end(Tail(1, 2))
    assert taken(handed) == [(0, 7), (1, 8), (2, 9), (3, 1), (4, 2)]
    assert handed.take() is None


def test_an_empty_tail_and_no_tail_end_at_once() -> None:
    for tail in (None, SortedParts(list, [("n", "ascending")])):
        handed = HandOff()
        handed.put(table(1))
        handed.end(tail)
        assert taken(handed) == [(0, 1)]


def test_the_pass_waits_while_ahead_tables_wait() -> None:
    handed = HandOff(ahead=2)
    handed.put(table(1))
    handed.put(table(2))
    third = threading.Thread(target=handed.put, args=(table(3),))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # a third table waits for the writer
    assert handed.take() is not None
    third.join(10)
    assert not third.is_alive()
    handed.end()
    assert [n for _, n in taken(handed)] == [2, 3]


def test_abandoning_releases_a_waiting_writer_and_a_waiting_pass() -> None:
    handed = HandOff(ahead=1)
    got: list[object] = []
    writer = threading.Thread(target=lambda: got.append(handed.take()))
    writer.start()
    writer.join(0.2)
    assert writer.is_alive()  # nothing handed yet
    handed.abandon()
    writer.join(10)
    assert got == [None]
    # Once abandoned, a put neither waits nor keeps the table.
    handed.put(table(1))
    handed.put(table(2))
    assert handed.take() is None
