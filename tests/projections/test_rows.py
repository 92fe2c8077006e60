"""Keyed rows go to Arrow in chunks, so their Python tuples never all exist at once: the chunked
tables have the same contents as one conversion."""

from __future__ import annotations

from typing import Any

import pytest

from ordertrail.adapters.bench_workload import _order_events
from ordertrail.projections import rows
from ordertrail.projections.fold import Projection


def events(orders: range) -> list[tuple[int, Any]]:
    """The benchmark's workload (fills, corrections, commissions, OCA children of a bracket
    parent), numbered as a log from 1."""
    return list(enumerate((e for i in orders for e in _order_events(i)), start=1))


def test_rows_go_to_arrow_in_chunks_with_the_same_contents(monkeypatch: pytest.MonkeyPatch) -> None:
    projection = Projection()
    for nid, event in events(range(30)):
        projection.feed(nid, event)
    whole = {name: b.table for name, b in projection.batches({}).items()}
    monkeypatch.setattr(rows, "ROWS_PER_CHUNK", 3)
    chunked = {name: b.table for name, b in projection.batches({}).items()}
    for name, table in whole.items():
        assert chunked[name].num_rows == table.num_rows > 0, name
        assert chunked[name].equals(table), name
