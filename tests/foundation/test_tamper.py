"""The tamper suite: each way of altering the stored log behind ordertrail's back is named by
``ordertrail verify`` with its order and position, on SQLite and PostgreSQL; ``rebuild``
refuses an altered log unless told ``--ignore-tamper``."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.store import chain
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.facts import SessionError
from tests.conftest import Clock
from tests.foundation.tamper_kit import COIDS, RawStore, fill_store

runner = CliRunner()
FILL = "ordertrail.domain.events:ExecutionRecorded"


@pytest.fixture
def orders(store: StoreConfig, clock: Clock) -> dict[str, UUID]:
    return fill_store(store, clock)


def args(store: StoreConfig) -> list[str]:
    out = ["--data", str(store.data_dir)]
    return [*out, "--store", store.store_url] if store.store_url else out


def verify(store: StoreConfig) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["verify", *args(store)])
    return result.exit_code, result.stdout.splitlines()


def named(lines: list[str], oid: UUID, position: int, kind: str) -> bool:
    return any(line.startswith(f"order {oid} position {position}: {kind}:") for line in lines)


def fill_of(raw: RawStore, oid: UUID) -> int:
    return next(r.version for r in raw.rows(oid) if r.topic == FILL)


def test_an_untouched_store_is_intact(store: StoreConfig, orders: dict[str, UUID]) -> None:
    result = runner.invoke(app, ["verify", *args(store)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    events = sum(len(RawStore(store).rows(oid)) for oid in orders.values())
    assert f"intact: {events} events of {len(orders)} orders" in result.stderr


def test_an_edited_fill_price_is_named(store: StoreConfig, orders: dict[str, UUID]) -> None:
    raw, oid = RawStore(store), orders[COIDS[0]]
    version = fill_of(raw, oid)
    state = next(r.state for r in raw.rows(oid) if r.version == version)
    assert b'"price":"50.20"' in state
    raw.set_state(oid, version, state.replace(b'"price":"50.20"', b'"price":"49.20"'))
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, version, "edited"), lines
    assert len(lines) == 1, lines  # the events after it still link: one edit, one finding


def test_an_event_deleted_from_the_middle_of_an_order_is_named(
    store: StoreConfig, orders: dict[str, UUID]
) -> None:
    raw, oid = RawStore(store), orders[COIDS[0]]
    raw.delete(oid, 3)
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, 3, "deleted"), lines
    assert not any(f"order {oid} position 4" in line for line in lines), lines


def test_a_deleted_tail_is_named_from_the_checkpoint(
    store: StoreConfig, orders: dict[str, UUID]
) -> None:
    raw = RawStore(store)
    oid, version = raw.last()
    raw.delete(oid, version)
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, version, "deleted"), lines
    assert "cut from the end of the log" in lines[0]


def test_a_forged_event_without_a_chain_is_named(
    store: StoreConfig, orders: dict[str, UUID]
) -> None:
    raw, oid = RawStore(store), orders[COIDS[1]]
    rows = raw.rows(oid)
    fill = next(r for r in rows if r.topic == FILL)
    forged = chain.unseal(fill.state)
    assert forged is not None
    state = forged.body.rstrip(b",").replace(b".01.01", b".09.01") + b"}"
    raw.insert(oid, rows[-1].version + 1, FILL, state)
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, rows[-1].version + 1, "inserted"), lines


def test_a_forged_event_with_a_correct_chain_is_named_from_the_checkpoint(
    store: StoreConfig, orders: dict[str, UUID]
) -> None:
    """Someone who knows the scheme extends an order's chain correctly (a hash without a key
    is no signature): the checkpoint still ends before the forged event."""
    raw, oid = RawStore(store), orders[COIDS[0]]
    rows = raw.rows(oid)
    last = chain.unseal(rows[-1].state)
    fill = chain.unseal(next(r for r in rows if r.topic == FILL).state)
    assert last is not None
    assert last.digest is not None
    assert fill is not None
    version = rows[-1].version + 1
    body = fill.body.replace(b".01.01", b".09.01")
    digest = chain.link_hash(last.digest, oid, version, FILL, body)
    raw.insert(oid, version, FILL, chain.seal(body, version, digest))
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, version, "inserted"), lines
    assert "after the checkpointed head" in lines[0]


def test_two_reordered_events_are_named(store: StoreConfig, orders: dict[str, UUID]) -> None:
    raw, oid = RawStore(store), orders[COIDS[1]]
    by_version = {r.version: r for r in raw.rows(oid)}
    two, three = by_version[2], by_version[3]
    raw.set_state(oid, 2, three.state)
    raw.set_topic(oid, 2, three.topic)
    raw.set_state(oid, 3, two.state)
    raw.set_topic(oid, 3, two.topic)
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, 2, "reordered"), lines
    assert named(lines, oid, 3, "reordered"), lines
    assert len(lines) == 2, lines


def test_a_changed_topic_is_named(store: StoreConfig, orders: dict[str, UUID]) -> None:
    raw, oid = RawStore(store), orders[COIDS[0]]
    version = fill_of(raw, oid)
    raw.set_topic(oid, version, "ordertrail.domain.events:ExecutionCorrected")
    code, lines = verify(store)
    assert code == 1
    assert named(lines, oid, version, "edited"), lines


def test_rebuild_refuses_a_tampered_log_unless_told(
    store: StoreConfig, orders: dict[str, UUID]
) -> None:
    raw, oid = RawStore(store), orders[COIDS[0]]
    raw.delete(oid, 2)
    refused = runner.invoke(app, ["rebuild", *args(store)])
    assert refused.exit_code == 1
    assert re.search(r"fails its tamper check .*--ignore-tamper", refused.stderr), refused.stderr
    assert not store.delta_dir.exists() or not any(store.delta_dir.iterdir())
    forced = runner.invoke(app, ["rebuild", *args(store), "--ignore-tamper"])
    assert forced.exit_code == 0, forced.output
    assert "rebuilding anyway" in forced.stderr
    assert "rebuilt" in forced.stderr


def test_verify_names_a_missing_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert f"no event store at {tmp_path / 'nothing' / 'events.sqlite'}" in result.stderr
    assert not (tmp_path / "nothing").exists()  # verifying creates nothing


def test_a_session_log_is_named_as_one(store: StoreConfig, orders: dict[str, UUID]) -> None:
    trail = OrderTrail(store)
    try:
        lost = SessionError(1100, "Connectivity between IB and TWS has been lost.", -1, 1)
        assert trail.record(None, lost)
    finally:
        trail.close()
    raw = RawStore(store)
    log_id, version = raw.last()
    result = runner.invoke(app, ["verify", *args(store)])
    assert result.exit_code == 0, result.output
    assert f"of {len(orders)} orders and 1 session logs" in result.stderr
    (first,) = [r for r in raw.rows(log_id) if r.version == version]
    raw.set_state(log_id, version, first.state.replace(b"has been lost", b"was restored"))
    code, lines = verify(store)
    assert code == 1
    assert lines == [
        f"session log {log_id} position {version}: edited: its stored state or topic changed "
        "after it was written"
    ]
