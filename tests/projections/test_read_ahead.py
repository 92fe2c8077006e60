"""Chunks of the log as the rebuild reads them: whole orders, each chunk cut at the size asked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ordertrail.adapters.bench_workload import populate
from ordertrail.adapters.store.columnar_log import decoded_chunks
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog


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
