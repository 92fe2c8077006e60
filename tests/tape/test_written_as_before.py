"""What the store holds does not depend on how fast it was written.

``data/twelve-orders.tape.gz`` is a session recorded against the simulator (twelve limit
orders, each filled in two parts, with repeated statuses and commission reports: 208 incoming
messages). ``data/twelve-orders.events.sqlite.gz`` is the store the code before the replay's
CPU work (docs/adr/0085-writing-events-in-one-pass.md) wrote when it replayed that tape: its
events, their chain links and the log's checkpoint. The code of today must write the very same
rows from the same tape, and must go on appending to that store without breaking its chain.
"""

from __future__ import annotations

import gzip
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.verify import verify_store
from ordertrail.adapters.tape import Replayer
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import StatusReport
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

DATA = Path(__file__).parent / "data"
TAPE = DATA / "twelve-orders.tape.gz"
WRITTEN_BEFORE = DATA / "twelve-orders.events.sqlite.gz"
EVENTS = 120


def rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            "FROM stored_events ORDER BY rowid"
        ).fetchall()


def checkpoint(path: Path) -> tuple[object, ...]:
    with sqlite3.connect(path) as conn:
        row: tuple[object, ...] = conn.execute("SELECT * FROM ordertrail_chain_head").fetchone()
        return row


@pytest.fixture
def before(tmp_path: Path) -> StoreConfig:
    config = StoreConfig.resolve(tmp_path / "before")
    config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    config.sqlite_path.write_bytes(gzip.decompress(WRITTEN_BEFORE.read_bytes()))
    return config


def test_replay_writes_the_rows_the_earlier_code_wrote(tmp_path: Path, before: StoreConfig) -> None:
    now = StoreConfig.resolve(tmp_path / "now")
    replayer = Replayer(now)
    report = replayer.replay(TAPE)
    replayer.close()
    assert report.ok, report.as_dict()
    assert report.events == EVENTS
    written = rows(now.sqlite_path)
    assert len(written) == EVENTS
    assert written == rows(before.sqlite_path)  # ids, versions, topics and bytes (chain links)
    assert checkpoint(now.sqlite_path) == checkpoint(before.sqlite_path)


def test_a_store_written_before_verifies_and_takes_new_events(before: StoreConfig) -> None:
    assert verify_store(before).intact
    trail = OrderTrail(before)
    try:
        with trail.batch():  # an order written before, appended to in a batch
            ref = rows(before.sqlite_path)[0][1]
            oid = next(o for o in trail.states() if o.hex == ref)
            trail.record(FactKey(order=oid), StatusReport(raw_status="Cancelled"))
        spec = OrderSpec(OrderAction.BUY, Decimal(5), OrderType.LIMIT, limit_price=Decimal(1))
        new = trail.place(client_order_id="OT-after-1", contract=ContractRef(1, "X"), spec=spec)
        trail.submit(new, client_id=7, order_id=1)
        assert trail.recorder.placeholders_completed == 0  # type: ignore[attr-defined]
    finally:
        trail.close()
    report = verify_store(before)
    assert report.intact, report.findings
    # Cancelled after Filled: the status and its anomaly; then the new order's two events.
    assert report.events == EVENTS + 4
