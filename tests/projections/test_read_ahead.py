"""``read_ahead``: items worked on ahead of their use by several threads, used in their order,
each item taken in turn (a page's read starts where the one before ended), what fails raised
where it is used, nothing more read once the user stops; and the log decoded on two or three
threads gives the chunks one thread gives, each cut at the size asked."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ordertrail.adapters.bench_workload import populate
from ordertrail.adapters.store.columnar_log import decoded_chunks
from ordertrail.adapters.store.columnar_read import read_ahead
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog


class Source:
    """Numbered items, noting which thread took each and refusing to be advanced by two
    threads at once (as a generator refuses)."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.taken: list[int] = []
        self.threads: set[int] = set()
        self._busy = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        if not self._busy.acquire(blocking=False):
            raise AssertionError("advanced by two threads at once")
        try:
            i = len(self.taken)
            if i == self.n:
                raise StopIteration
            if i == self.fail_at:
                raise ValueError(f"item {i} is unreadable")
            time.sleep(0.001)
            self.taken.append(i)
            self.threads.add(threading.get_ident())
            return i
        finally:
            self._busy.release()


def slow_square(i: int) -> tuple[int, int]:
    # The later items finish first: their order must come from the turns, not the clock.
    time.sleep(0.004 * (3 - i % 3))
    return i, i * i


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_each_item_is_worked_once_and_used_in_order(threads: int) -> None:
    source = Source(40)
    assert list(read_ahead(source, slow_square, threads)) == [(i, i * i) for i in range(40)]
    assert source.taken == list(range(40))


def test_two_threads_take_items_in_turn() -> None:
    source = Source(60)
    list(read_ahead(source, slow_square, 2))
    assert len(source.threads) == 2  # both threads read, never at once (``Source`` checks)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failure_reading_or_working_is_raised_where_the_item_is_used(threads: int) -> None:
    items = read_ahead(Source(20, fail_at=5), slow_square, threads)
    assert [next(items)[0] for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="item 5 is unreadable"):
        next(items)

    def failing(i: int) -> int:
        if i == 3:
            raise ArithmeticError(f"cannot work item {i}")
        return i

    worked = read_ahead(Source(20), failing, threads)
    assert [next(worked) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ArithmeticError, match="cannot work item 3"):
        next(worked)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_nothing_more_is_read_once_the_user_stops(threads: int) -> None:
    source = Source(1_000)
    items = read_ahead(source, slow_square, threads)
    assert [next(items) for _ in range(5)] == [(i, i * i) for i in range(5)]
    items.close()
    # The items in flight when the user stopped, no more.
    assert len(source.taken) <= 5 + threads
    taken = len(source.taken)
    time.sleep(0.05)
    assert len(source.taken) == taken


def test_the_log_decoded_on_several_threads_gives_the_same_chunks(tmp_path: Path) -> None:
    populate(tmp_path, 3_000)
    with EventLog.open(StoreConfig.resolve(tmp_path)) as log:
        head = log.head()
        one = list(decoded_chunks(log, head, 400, 100, threads=1))
        assert len(one) > 5
        for threads in (2, 3):
            many = list(decoded_chunks(log, head, 400, 100, threads=threads))
            assert [c.log for c in many] == [c.log for c in one]
            assert [c.topics for c in many] == [c.topics for c in one]
            assert [c.fallback for c in many] == [c.fallback for c in one]


def test_a_first_chunk_smaller_than_the_first_order_holds_that_order_alone(
    tmp_path: Path,
) -> None:
    """The first page is read again, twice as long, while one order fills it; the orders
    after that one in the longer page go to the next chunks, not into the first. (The
    second order is cut short here, so that a grown page can hold it whole.)"""
    populate(tmp_path, 600)
    config = StoreConfig.resolve(tmp_path)
    with EventLog.open(config) as log:
        ids = list(dict.fromkeys(r[1] for r in log.rows_by_order(log.head())))
    db = sqlite3.connect(config.sqlite_path)
    db.execute(
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version > 2", (ids[1],)
    )
    db.commit()
    db.close()
    with EventLog.open(config) as log:
        rows = [r[1] for r in log.rows_by_order(log.head())]
        first_order = rows.count(rows[0])
        assert first_order > rows.count(ids[1]) + 2
        for first in range(1, first_order):
            chunks = list(decoded_chunks(log, log.head(), 1_000, first))
            assert len(set(chunks[0].log["order_id"].to_pylist())) == 1, first
            assert chunks[0].log.num_rows == first_order
            assert sum(c.log.num_rows for c in chunks) == len(rows)
