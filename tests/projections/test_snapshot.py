"""Writing without holding two copies. The fold's snapshot is pickled in self-contained parts,
each with its own memo: loading them back gives a fold that continues exactly as the one that
was saved. Keyed rows go to Arrow in chunks with the same contents."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from ordertrail.adapters.bench_projections import _order_events
from ordertrail.projections import fold, tables
from ordertrail.projections.fold import Projection
from ordertrail.projections.schema import TABLES
from ordertrail.projections.tables import dump_snapshot, load_snapshot_state


def events(orders: range) -> list[tuple[int, Any]]:
    """The benchmark's workload (fills, corrections, commissions, OCA children of a bracket
    parent), numbered as a log from 1; a few corrections of old fills arrive at the end."""
    out = [e for i in orders for e in _order_events(i)]
    late = [e for e in out if type(e).__name__ == "ExecutionCorrected"][:5]
    return list(enumerate(out + late, start=1))


def rows(projection: Projection) -> dict[str, list[Any]]:
    batches = projection.batches({})
    out = {spec.name: sorted(map(repr, batches[spec.name].rows)) for spec in TABLES}
    out["deletes"] = sorted(map(repr, batches["fills"].deletes))
    return out


@pytest.mark.parametrize("part", [3, 2_000])
def test_a_snapshot_in_parts_continues_like_the_fold_it_saved(
    monkeypatch: pytest.MonkeyPatch, part: int
) -> None:
    monkeypatch.setattr(tables, "_PART", part)
    log = events(range(60))
    cut = len(log) * 2 // 3
    whole = Projection()
    for nid, event in log:
        whole.feed(nid, event)

    saved = Projection()
    for nid, event in log[:cut]:
        saved.feed(nid, event)
    loaded = load_snapshot_state(dump_snapshot(saved))
    assert loaded is not None
    assert loaded.head == saved.head == cut
    # Every position is whole again, fill by fill.
    for key, pos in saved.positions.items():
        again = loaded.positions[key]
        assert again.fills == pos.fills
        assert again.effects == pos.effects
        assert again.sort_keys == pos.sort_keys
        assert again.commissions == pos.commissions
        assert again.run.lots == pos.run.lots
    assert loaded.orders == saved.orders
    assert loaded.fills.keys() == saved.fills.keys()
    # Both the saved fold and the loaded one go on to the end of the log: the rows of every
    # table the loaded one touches are those of a fold that never stopped.
    for nid, event in log[cut:]:
        saved.feed(nid, event)
        loaded.feed(nid, event)
    assert rows(saved) == rows(whole)
    loaded_rows, whole_rows = rows(loaded), rows(whole)
    for name, got in loaded_rows.items():
        assert set(got) <= set(whole_rows[name]), name
    # And the loaded fold's full state renders exactly the rows of the whole fold.
    loaded.changes = whole.changes
    assert rows(loaded) == whole_rows


def test_a_snapshot_of_an_empty_fold() -> None:
    loaded = load_snapshot_state(dump_snapshot(Projection()))
    assert loaded is not None
    assert loaded.head == 0
    assert not loaded.orders


def test_parts_share_no_mutable_object() -> None:
    """Objects shared across parts would come back as copies: a lot both in a position's run
    and in its undo log must come back as one object."""
    projection = Projection()
    for nid, event in itertools.islice(events(range(40)), 300):
        projection.feed(nid, event)
    loaded = load_snapshot_state(dump_snapshot(projection))
    assert loaded is not None
    for key, pos in projection.positions.items():
        ids = {id(lot) for lot in pos.run.lots}
        shared = [lot for step in pos.undo for lot, _ in step.touched if id(lot) in ids]
        again = loaded.positions[key]
        ids_again = {id(lot) for lot in again.run.lots}
        shared_again = [
            lot for step in again.undo for lot, _ in step.touched if id(lot) in ids_again
        ]
        assert len(shared_again) == len(shared)


def test_rows_go_to_arrow_in_chunks_with_the_same_contents(monkeypatch: pytest.MonkeyPatch) -> None:
    projection = Projection()
    for nid, event in events(range(30)):
        projection.feed(nid, event)
    whole = {name: b.table for name, b in projection.batches({}).items()}
    monkeypatch.setattr(fold, "ROWS_PER_CHUNK", 3)
    chunked = {name: b.table for name, b in projection.batches({}).items()}
    for name, table in whole.items():
        assert chunked[name].num_rows == table.num_rows > 0, name
        assert chunked[name].equals(table), name
